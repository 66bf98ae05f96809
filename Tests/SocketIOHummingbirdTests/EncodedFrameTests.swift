import EngineIO
import NIOCore
import NIOEmbedded
import NIOHTTP1
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

    @Test("a loop turn's broadcasts are framed once each, however the connections' writes interleave them")
    func interleavedPacketsFramedOnce() {
        let broadcasts = (0..<EncodedFrames.remembered).map { EngineOutgoing.message(text: "42[\"m\",\($0)]") }
        var frames = EncodedFrames()
        // Each member's writes in turn: every broadcast once per member.
        let first = broadcasts.map { frames.frame(for: $0) }
        let second = broadcasts.map { frames.frame(for: $0) }
        #expect(second == first)
        for (a, b) in zip(first, second) {
            let shared = a.withUnsafeReadableBytes { a in
                b.withUnsafeReadableBytes { a.baseAddress == $0.baseAddress }
            }
            #expect(shared, "the second member's frame is the first one's, not a new encoding")
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

    @Test("a packet offered while a write is under way leaves after it, in a write of its own")
    func heldBehindWriteUnderWay() throws {
        let (wire, channel, sink) = Self.recordedSink()
        let connect = EngineOutgoing.message(text: "40{\"sid\":\"a\"}")
        let auth = EngineOutgoing.message(text: "42[\"auth\",{}]")
        let later = EngineOutgoing.message(text: "42[\"later\"]")
        // Offered back to back, as a CONNECT answer and the connection handler's first emit are.
        #expect(sink.offer([connect], limit: 10))
        #expect(sink.offer([auth], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed == [[EncodedFrames.encode(connect)]], "the second packet waits for the first write")
        #expect(sink.offer([later], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.count == 1, "still under way: nothing more is written")

        wire.completeWrites()
        channel.embeddedEventLoop.run()
        #expect(
            wire.flushed == [
                [EncodedFrames.encode(connect)], [EncodedFrames.encode(auth), EncodedFrames.encode(later)],
            ],
            "what was held leaves together, in order, once the kernel took the first write")
        wire.completeWrites()
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("before a close, held packets are written behind the write under way")
    func heldPacketsAreReleasedBeforeClose() throws {
        let (wire, channel, sink) = Self.recordedSink()
        #expect(sink.offer([.message(text: "first")], limit: 10))
        #expect(sink.offer([.message(text: "last words")], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.count == 1)
        sink.releaseHeld(regardless: true)
        #expect(wire.flushed.last == [EncodedFrames.encode(.message(text: "last words"))])
        wire.completeWrites()
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("with a frame decoder in the pipeline, what follows a write closely waits for the client's pong")
    func closeSuccessionWaitsForPong() throws {
        let (wire, channel, sink) = Self.recordedSink(readingPongs: true)
        let connect = EngineOutgoing.message(text: "40{}")
        let auth = EngineOutgoing.message(text: "42[\"auth\",{}]")
        let later = EngineOutgoing.message(text: "42[\"later\"]")
        #expect(sink.offer([connect], limit: 10))
        #expect(sink.offer([auth], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed == [[EncodedFrames.encode(connect)]], "a first write goes at once, without a ping")
        wire.completeWrites()
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.ping(1)], "taken by the kernel: now a ping, and the rest waits")
        #expect(sink.offer([later], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.count == 2, "nothing more before the pong")

        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [0, 0, 0, 9]))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.count == 2, "a pong for another ping changes nothing")
        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [0, 0, 0, 1]))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.encode(auth)], "read: what the ping was for leaves alone")
        // Every frame still reaches the handlers above.
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .pong)
        wire.completeWrites()
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.ping(2)], "what came after it waits for the next pong")
        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [0, 0, 0, 2]))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.encode(later)])
        wire.completeWrites()
        channel.embeddedEventLoop.run()

        // Offered right after that write, one after the other: the first waits for a pong
        // and leaves alone, the second waits for the next.
        let first = EngineOutgoing.message(text: "40/custom,{}")
        let second = EngineOutgoing.message(text: "42/custom,[\"auth\"]")
        #expect(sink.offer([first], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(sink.offer([second], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.ping(3)])
        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [0, 0, 0, 3]))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.encode(first)], "the pong releases only what it was asked for")
        wire.completeWrites()
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.ping(4)])
        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [0, 0, 0, 4]))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.encode(second)])
        wire.completeWrites()
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("after the handshake, what follows a write leaves without a pong, and one loop turn's packets in one write")
    func closeSuccessionAfterHandshakeGoesAtOnce() throws {
        let (wire, channel, sink) = Self.recordedSink(readingPongs: true)
        var pings: UInt32 = 0
        // The handshake's writes, one after the other, each pong-waited but the first.
        for index in 0..<ChannelFrameSink.handshakeWrites {
            #expect(sink.offer([.message(text: "42[\"h\",\(index)]")], limit: 10))
            channel.embeddedEventLoop.run()
            if wire.flushed.last == [EncodedFrames.ping(pings + 1)] {
                pings += 1
                let pong = withUnsafeBytes(of: pings.bigEndian) { Array($0) }
                try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: pong))
                channel.embeddedEventLoop.run()
            }
            wire.completeWrites()
            channel.embeddedEventLoop.run()
        }
        #expect(pings == UInt32(ChannelFrameSink.handshakeWrites - 1), "each handshake write but the first waited")

        let first = EngineOutgoing.message(text: "42[\"room\",1]")
        let second = EngineOutgoing.message(text: "42[\"room\",2]")
        let third = EngineOutgoing.message(text: "42[\"room\",3]")
        #expect(sink.offer([first], limit: 10))
        #expect(sink.offer([second], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(
            wire.flushed.last == [EncodedFrames.encode(first), EncodedFrames.encode(second)],
            "offered in one loop turn: one write, no ping before it")
        let written = wire.flushed.count
        #expect(sink.offer([third], limit: 10))
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.count == written, "the kernel has not taken that write yet: held behind it")
        wire.completeWrites()
        channel.embeddedEventLoop.run()
        #expect(wire.flushed.last == [EncodedFrames.encode(third)], "held behind the write under way only")
        wire.completeWrites()
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// A sink on a channel whose socket is a `WireRecorder`; with a frame decoder in the
    /// pipeline when it should read the client's pongs.
    static func recordedSink(readingPongs: Bool = false) -> (WireRecorder, EmbeddedChannel, ChannelFrameSink) {
        let wire = WireRecorder()
        var handlers: [any ChannelHandler] = [wire, WebSocketFrameEncoder()]
        if readingPongs { handlers.append(ByteToMessageHandler(WebSocketFrameDecoder())) }
        let channel = EmbeddedChannel(handlers: handlers)
        let sink = ChannelFrameSink(channel: channel, batcher: EventLoopWriteBatcher(eventLoop: channel.eventLoop))
        if readingPongs {
            try? channel.pipeline.syncOperations.addHandler(InboundTap(arrivals: InboundArrivals(), sink: sink))
        }
        return (wire, channel, sink)
    }

    @Test("the tap counts each client message once as it is decoded, fragmented or not, and no control frame")
    func tapCountsMessages() throws {
        let arrivals = InboundArrivals()
        let channel = EmbeddedChannel(handlers: [ByteToMessageHandler(WebSocketFrameDecoder())])
        #expect(arrivals.count == nil, "not counted before the tap is in place")
        try channel.pipeline.syncOperations.addHandler(InboundTap(arrivals: arrivals, sink: nil))
        #expect(arrivals.count == 0)
        try channel.writeInbound(Self.clientFrame(opcode: 0x1, payload: Array("2probe".utf8)))
        try channel.writeInbound(Self.clientFrame(opcode: 0x9, payload: [1]))
        try channel.writeInbound(Self.clientFrame(opcode: 0xA, payload: [1]))
        #expect(arrivals.count == 1)
        try channel.writeInbound(Self.clientFrame(opcode: 0x1, payload: Array("4a".utf8), fin: false))
        try channel.writeInbound(Self.clientFrame(opcode: 0x0, payload: Array("b".utf8), fin: false))
        #expect(arrivals.count == 1, "a message counts when its last fragment is read")
        try channel.writeInbound(Self.clientFrame(opcode: 0x0, payload: Array("c".utf8)))
        try channel.writeInbound(Self.clientFrame(opcode: 0x2, payload: [7]))
        #expect(arrivals.count == 3)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("once the upgrade is complete the tap goes above the frame decoder, before any frame is read")
    func tapInstalledOnUpgrade() throws {
        let arrivals = InboundArrivals()
        let installer = InboundTapInstaller(tap: InboundTap(arrivals: arrivals, sink: nil))
        let channel = EmbeddedChannel(handlers: [installer, ByteToMessageHandler(WebSocketFrameDecoder())])
        channel.pipeline.fireUserInboundEventTriggered(
            HTTPServerUpgradeEvents.upgradeComplete(
                toProtocol: "websocket",
                upgradeRequest: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            )
        )
        try channel.writeInbound(Self.clientFrame(opcode: 0x1, payload: Array("5".utf8)))
        #expect(arrivals.count == 1)
        #expect(throws: (any Error).self, "the installer has left") {
            try channel.pipeline.syncOperations.handler(type: InboundTapInstaller.self)
        }
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// A masked frame as a client sends it.
    static func clientFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) -> ByteBuffer {
        let mask: [UInt8] = [1, 2, 3, 4]
        var frame = ByteBuffer()
        frame.writeInteger((fin ? 0x80 : 0) | opcode)
        frame.writeInteger(0x80 | UInt8(payload.count))
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        return frame
    }
}

/// Records what reaches the socket, one array per flush, and keeps every write under way
/// (its promise pending) until the test completes it, as a kernel that has not taken it yet.
final class WireRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var flushed: [[ByteBuffer]] = []
    private var batch: [ByteBuffer] = []
    private var underWay: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        batch.append(unwrapOutboundIn(data))
        if let promise { underWay.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {
        guard !batch.isEmpty else { return }
        flushed.append(batch)
        batch = []
    }

    func completeWrites() {
        let promises = underWay
        underWay = []
        for promise in promises { promise.succeed() }
    }
}
