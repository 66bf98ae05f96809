// The benchmark's ceiling: the simplest room fan-out server over plain WebSocket on
// SwiftNIO, with no Engine.IO / Socket.IO framing, no JSON, no auth. It shows how much
// of chatify's cost per delivery is the protocol layers and how much the transport.
//
//   RawFanoutServer --port 5304 [--threads N]     (PORT from the env works too)
//
// Protocol (text frames, what `LoadGenerator --mode raw` speaks):
//   client → `join:<room>`          server → `joined`
//   client → `msg:<room>:<text>`    server → `<text>` to every member of <room>, sender included
//
// Each event loop keeps its own room table, touched only on that loop, so the hot path
// takes no lock: a broadcast encodes the whole frame (header + payload) once, then hops
// once to each event loop, which writes that buffer to its members and flushes each.
// NIOWebSocket decodes the client frames; the server's frames skip its encoder.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Members of each room whose channels live on one event loop. Only that loop reads or
/// writes it (checked by `assertInEventLoop`), which is why it may be shared unlocked.
final class LoopRoomTable: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Each member's raw writer context: writing through it (not the channel) skips the
    /// frame encoder, so the pre-encoded frame goes to the socket as it is.
    private var members: [String: [ObjectIdentifier: ChannelHandlerContext]] = [:]

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func join(_ room: String, _ member: ChannelHandlerContext) {
        eventLoop.assertInEventLoop()
        members[room, default: [:]][ObjectIdentifier(member)] = member
    }

    func leave(_ rooms: Set<String>, _ member: ChannelHandlerContext) {
        eventLoop.assertInEventLoop()
        for room in rooms {
            members[room]?[ObjectIdentifier(member)] = nil
            if members[room]?.isEmpty == true { members[room] = nil }
        }
    }

    /// Writes the already encoded frame to every member on this loop, one flush each
    /// (like a server that answers each recipient as soon as it can).
    func deliver(_ frame: ByteBuffer, to room: String) {
        eventLoop.assertInEventLoop()
        guard let recipients = members[room] else { return }
        for member in recipients.values {
            member.writeAndFlush(NIOAny(frame), promise: nil)
        }
    }
}

/// One room table per event loop of the group, fixed at start.
struct RoomDirectory: Sendable {
    let tables: [ObjectIdentifier: LoopRoomTable]

    init(group: MultiThreadedEventLoopGroup) {
        var tables: [ObjectIdentifier: LoopRoomTable] = [:]
        for loop in group.makeIterator() { tables[ObjectIdentifier(loop)] = LoopRoomTable(eventLoop: loop) }
        self.tables = tables
    }

    func table(of loop: any EventLoop) -> LoopRoomTable? { tables[ObjectIdentifier(loop)] }

    func broadcast(_ frame: ByteBuffer, to room: String, from loop: any EventLoop) {
        for table in tables.values {
            if table.eventLoop === loop {
                table.deliver(frame, to: room)
            } else {
                table.eventLoop.execute { table.deliver(frame, to: room) }
            }
        }
    }
}

/// A server-to-client text frame (FIN, unmasked), header and payload in one buffer.
func encodeTextFrame<Bytes: Collection>(_ payload: Bytes, allocator: ByteBufferAllocator) -> ByteBuffer where Bytes.Element == UInt8 {
    var frame = allocator.buffer(capacity: payload.count + 10)
    frame.writeInteger(UInt8(0x81))
    if payload.count < 126 {
        frame.writeInteger(UInt8(payload.count))
    } else if payload.count <= 0xFFFF {
        frame.writeInteger(UInt8(126))
        frame.writeInteger(UInt16(payload.count))
    } else {
        frame.writeInteger(UInt8(127))
        frame.writeInteger(UInt64(payload.count))
    }
    frame.writeBytes(payload)
    return frame
}

/// A no-op handler placed between the socket and the `WebSocketFrameEncoder`: bytes written
/// through its context reach the socket without passing the encoder.
final class RawSocketWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
}

/// Reads decoded client frames (it sits after the frame decoder) and writes pre-encoded
/// frames through the raw writer's context.
final class RawFanoutHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer

    private let directory: RoomDirectory
    private let writer: ChannelHandlerContext
    private var rooms: Set<String> = []
    private static let joinPrefix = Array("join:".utf8)
    private static let messagePrefix = Array("msg:".utf8)
    private static let colon = UInt8(ascii: ":")

    init(directory: RoomDirectory, writer: ChannelHandlerContext) { self.directory = directory; self.writer = writer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            handleText(context: context, text: frame.unmaskedData)
        case .ping:
            var pong = context.channel.allocator.buffer(capacity: 2 + frame.length)
            pong.writeInteger(UInt8(0x8A))
            var data = frame.unmaskedData
            pong.writeInteger(UInt8(min(data.readableBytes, 125)))
            pong.writeBuffer(&data)
            writer.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    private func handleText(context: ChannelHandlerContext, text: ByteBuffer) {
        let bytes = text.readableBytesView
        if bytes.starts(with: Self.joinPrefix) {
            let room = String(decoding: bytes.dropFirst(Self.joinPrefix.count), as: UTF8.self)
            rooms.insert(room)
            directory.table(of: context.eventLoop)?.join(room, writer)
            let reply = encodeTextFrame("joined".utf8, allocator: context.channel.allocator)
            writer.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        } else if bytes.starts(with: Self.messagePrefix) {
            let rest = bytes.dropFirst(Self.messagePrefix.count)
            guard let separator = rest.firstIndex(of: Self.colon) else { return }
            let room = String(decoding: rest[rest.startIndex..<separator], as: UTF8.self)
            let payload = rest[rest.index(after: separator)...]
            let frame = encodeTextFrame(payload, allocator: context.channel.allocator)
            directory.broadcast(frame, to: room, from: context.eventLoop)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        directory.table(of: context.eventLoop)?.leave(rooms, writer)
        rooms.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Answers a plain HTTP request (no upgrade) with 426 and closes.
final class UpgradeRequiredHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .upgradeRequired, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

// MARK: start

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count else { return nil }
    return args[i + 1]
}

let port = argument("port").flatMap(Int.init) ?? ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 5304
let threads = argument("threads").flatMap(Int.init) ?? System.coreCount
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let directory = RoomDirectory(group: group)

let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        let upgrader = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let encoder = try pipeline.handler(type: WebSocketFrameEncoder.self)
                    let writer = RawSocketWriter()
                    try pipeline.addHandler(writer, position: .before(encoder))
                    try pipeline.addHandler(RawFanoutHandler(directory: directory, writer: try pipeline.context(handler: writer)))
                }
            })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                    if let fallback = try? context.pipeline.syncOperations.handler(type: UpgradeRequiredHandler.self) {
                        context.pipeline.syncOperations.removeHandler(fallback, promise: nil)
                    }
                }))
            try channel.pipeline.syncOperations.addHandler(UpgradeRequiredHandler())
        }
    }

do {
    let server = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
    FileHandle.standardError.write(Data("RawFanoutServer listening on 127.0.0.1:\(port) with \(threads) event loops\n".utf8))
    try server.closeFuture.wait()
} catch {
    FileHandle.standardError.write(Data("RawFanoutServer: \(error)\n".utf8))
    exit(1)
}
