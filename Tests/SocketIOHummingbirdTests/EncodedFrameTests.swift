import EngineIO
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import SocketIOHummingbird

@Suite("WebSocket frames encoded once, written past NIO's encoder")
struct EncodedFrameTests {
    /// What NIO's encoder puts on the wire for the frame, header and payload joined.
    func encodedByNIO(_ frame: WebSocketFrame) throws -> ByteBuffer {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeAndFlush(frame).wait()
        var wire = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        _ = try channel.finish()
        return wire
    }

    @Test("every length class (7-bit, 16-bit, 64-bit) and both opcodes match NIO's frame encoder")
    func headersMatchNIO() throws {
        for length in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            for kind in [EngineOutgoing.Kind.text, .binary] {
                let packet = EngineOutgoing(kind: kind, bytes: ByteBuffer(repeating: 0x34, count: length))
                #expect(EncodedFrames.encode(packet) == (try encodedByNIO(packet.frame)), "length \(length), \(kind)")
            }
        }
    }

    @Test("the sink writes whole frames past the encoder, in order with frames written through it")
    func sinkWritesPastTheEncoder() throws {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        let sink = ChannelFrameSink(channel: channel, batcher: EventLoopWriteBatcher(eventLoop: channel.eventLoop))
        let first = EngineOutgoing.message(text: "hello")
        let second = EngineOutgoing(kind: .binary, bytes: ByteBuffer(bytes: [1, 2, 3]))
        #expect(sink.offer([first, second], limit: 10))
        channel.embeddedEventLoop.run()
        // The handler the sink added sits below the encoder: its frames come out whole.
        #expect(try channel.readOutbound(as: ByteBuffer.self) == EncodedFrames.encode(first))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == EncodedFrames.encode(second))
        // A frame from above (a close, say) still goes through the encoder, after them.
        try channel.writeAndFlush(EngineOutgoing.message(text: "after").frame).wait()
        var wire = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        #expect(wire == EncodedFrames.encode(.message(text: "after")))
        _ = try channel.finish()
    }

    @Test("a pipeline without NIO's encoder gets frames through the channel, as before")
    func noEncoderFallsBack() throws {
        let channel = EmbeddedChannel()
        let sink = ChannelFrameSink(channel: channel, batcher: EventLoopWriteBatcher(eventLoop: channel.eventLoop))
        #expect(sink.offer([.message(text: "x")], limit: 10))
        channel.embeddedEventLoop.run()
        let frame = try channel.readOutbound(as: WebSocketFrame.self)
        #expect(frame?.opcode == .text)
        #expect(frame?.unmaskedData == EngineOutgoing.message(text: "x").bytes)
        _ = try channel.finish()
    }

    @Test("a slow reader is counted until its frames are written")
    func waitingEndsWhenWritten() throws {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        let sink = ChannelFrameSink(channel: channel, batcher: EventLoopWriteBatcher(eventLoop: channel.eventLoop))
        let packets = Array(repeating: EngineOutgoing.message(text: "m"), count: 3)
        #expect(sink.offer(packets, limit: 4))
        #expect(!sink.offer(packets, limit: 4), "3 waiting + 3 more is over the limit of 4")
        channel.embeddedEventLoop.run()
        #expect(sink.offer(packets, limit: 4), "written and flushed: nothing waits any more")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
