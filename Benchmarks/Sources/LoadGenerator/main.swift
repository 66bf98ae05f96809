// Load generator: thousands of Engine.IO v4 / Socket.IO v5 clients over WebSocket or
// long-polling in one process, speaking the protocol itself (no client library). One
// scenario per run; one JSON record on stdout. Latency comes from a monotonic timestamp carried in the message
// text and is recorded in an HdrHistogram (microseconds).
//
//   LoadGenerator --scenario fanout --targets 127.0.0.1:5000 --cookie TOKEN --rooms-file keys.txt \
//       --rooms 10 --members 20 --senders 1 --rates 100,200,400 --server-pid 1234
//
// Scenarios: connect (storm), idle, fanout (rooms x members, stepped rate), bigroom.
// --mode sio (default) speaks Engine.IO/Socket.IO; --mode raw speaks plain WebSocket
// text frames `join:<room>` / `msg:<room>:<text>` (RawFanoutServer).
// --transport websocket (default) or polling (sio mode only: Engine.IO long-polling, two
// HTTP connections per client; the record's scenario becomes e.g. `fanout-polling`).

import Dispatch
import Foundation
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

// MARK: options

struct Options {
    var values: [String: String] = [:]
    init(_ args: [String]) {
        var i = 0
        while i < args.count {
            let key = args[i]
            guard key.hasPrefix("--") else { i += 1; continue }
            let name = String(key.dropFirst(2))
            if i + 1 < args.count, !args[i + 1].hasPrefix("--") {
                values[name] = args[i + 1]
                i += 2
            } else {
                values[name] = "true"
                i += 1
            }
        }
    }
    func string(_ k: String, _ d: String) -> String { values[k] ?? d }
    func int(_ k: String, _ d: Int) -> Int { values[k].flatMap { Int($0) } ?? d }
    func double(_ k: String, _ d: Double) -> Double { values[k].flatMap { Double($0) } ?? d }
    func list(_ k: String, _ d: String) -> [String] {
        string(k, d).split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))

@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

// MARK: process statistics (/proc)

struct ProcSample {
    var cpuSeconds: Double
    var rssKB: Int
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    static func read(pid: String) -> ProcSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state is field 3; utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        var rss = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
                rss = Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
        }
        return ProcSample(cpuSeconds: (utime + stime) / ticks, rssKB: rss)
    }
}

// MARK: shared statistics

final class Stats: @unchecked Sendable {
    let lock = NIOLock()
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    var received = 0
    var late = 0
    var sent = 0
    var expected = 0
    var recording = false
    var lateMicros: UInt64 = 1_000_000

    func record(sentAt: UInt64) {
        let now = nowNanos()
        let micros = now > sentAt ? (now - sentAt) / 1000 : 0
        lock.withLock {
            guard recording else { return }
            received += 1
            _ = histogram.record(max(micros, 1))
            if micros > lateMicros { late += 1 }
        }
    }
    func reset() {
        lock.withLock {
            histogram.reset(); received = 0; late = 0; sent = 0; expected = 0
        }
    }
}

let stats = Stats()

// MARK: the Socket.IO client steps, shared by both transports

/// Records the delivery latency of a message whose text carries `t:<monotonic ns>`.
/// A plain scan over contiguous bytes: the generic `firstRange(of:)` on a
/// `ByteBufferView` costs so much that the generator, not the server, set the last good
/// rate for the servers whose messages are long.
@inline(__always) func recordTimestamp(in bytes: ByteBufferView) {
    let sentAt = bytes.withContiguousStorageIfAvailable(timestamp(in:)) ?? nil
    if let sentAt { stats.record(sentAt: sentAt) }
}

/// The digits after the first `t:`, or nil when there is no `t:`.
func timestamp(in bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
    var index = 0
    while index + 1 < bytes.count {
        if bytes[index] == UInt8(ascii: "t"), bytes[index + 1] == UInt8(ascii: ":") {
            var value: UInt64 = 0
            index += 2
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value &* 10 &+ UInt64(bytes[index] &- UInt8(ascii: "0"))
                index += 1
            }
            return value
        }
        index += 1
    }
    return nil
}

/// One client's Engine.IO open → Socket.IO connect → `join` → joined steps, then the
/// delivered messages; the transport only carries the packets (one text each).
final class SocketIOSession {
    enum Phase { case opening, connecting, joining, joined, closed }
    enum Reaction { case none, reply(String), joined, failed(String) }

    let room: String
    private(set) var phase = Phase.opening
    /// Heartbeats as a stock client judges them: the server's pings, and the longest
    /// wait for one since the open packet (a client gives up after pingInterval +
    /// pingTimeout).
    private(set) var pings = 0
    private(set) var lastHeartbeatNanos: UInt64 = 0
    private(set) var longestHeartbeatGapNanos: UInt64 = 0

    init(room: String) { self.room = room }

    func heartbeat(at now: UInt64) -> Heartbeat {
        let sinceLast = lastHeartbeatNanos > 0 && now > lastHeartbeatNanos ? now - lastHeartbeatNanos : 0
        return Heartbeat(pings: pings, longestGapNanos: max(longestHeartbeatGapNanos, sinceLast))
    }

    private func noteHeartbeat() {
        let now = nowNanos()
        if lastHeartbeatNanos > 0, now > lastHeartbeatNanos {
            longestHeartbeatGapNanos = max(longestHeartbeatGapNanos, now - lastHeartbeatNanos)
        }
        lastHeartbeatNanos = now
    }

    static func messagePacket(room: String, text: String) -> String {
        #"42["message",{"room":"\#(room)","message":"\#(text)"}]"#
    }

    func react(to bytes: ByteBufferView) -> Reaction {
        guard let first = bytes.first else { return .none }
        switch first {
        case UInt8(ascii: "2"):  // ping → pong
            pings += 1; noteHeartbeat()
            return .reply("3")
        case UInt8(ascii: "0") where phase == .opening:
            noteHeartbeat()
            phase = .connecting; return .reply("40")
        case UInt8(ascii: "4"):
            let second = bytes.dropFirst().first
            if second == UInt8(ascii: "0"), phase == .connecting {
                phase = .joining
                return .reply(#"42["join",{"room":"\#(room)"}]"#)
            } else if second == UInt8(ascii: "4") {
                phase = .closed
                return .failed("connect error: \(String(decoding: bytes, as: UTF8.self).prefix(80))")
            } else if second == UInt8(ascii: "2") {
                if phase == .joining {
                    // Our own "has joined" notice (or a chat_error) ends the join.
                    if bytes.firstRange(of: Array("chat_error".utf8)) != nil {
                        phase = .closed
                        return .failed("join refused: \(String(decoding: bytes, as: UTF8.self).prefix(120))")
                    }
                    phase = .joined; return .joined
                }
                recordTimestamp(in: bytes)
            }
            return .none
        default: return .none
        }
    }
}

// MARK: the client connection (HTTP upgrade + WebSocket framing + EIO/SIO, one handler)

enum Mode { case sio, raw }

final class ClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // `open`: upgraded, the Socket.IO session (sio mode) runs its own steps up to joined.
    enum State { case upgrading, open, joining, joined, closed }

    let host: String
    let path: String
    let cookie: String
    let room: String
    let mode: Mode
    let onJoined: @Sendable () -> Void
    let onFailed: @Sendable (String) -> Void
    var state = State.upgrading
    var buffer: ByteBuffer?
    var context: ChannelHandlerContext?
    var fragments: [UInt8] = []
    lazy var session = SocketIOSession(room: room)

    init(host: String, path: String, cookie: String, room: String, mode: Mode,
         onJoined: @escaping @Sendable () -> Void, onFailed: @escaping @Sendable (String) -> Void) {
        self.host = host; self.path = path; self.cookie = cookie; self.room = room; self.mode = mode
        self.onJoined = onJoined; self.onFailed = onFailed
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if !cookie.isEmpty { request += "Cookie: access_token_cookie=\(cookie)\r\n" }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state != .joined && state != .closed { onFailed("closed in \(state)") }
        state = .closed
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if state != .joined { onFailed("\(error)") }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        if state == .upgrading {
            guard let view = buffer!.readableBytesView.firstRange(of: [13, 10, 13, 10]) else { return }
            let headEnd = view.upperBound - buffer!.readerIndex
            let head = buffer!.readString(length: headEnd) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                onFailed("upgrade refused: \(head.prefix(40))"); state = .closed; context.close(promise: nil); return
            }
            if mode == .sio { state = .open } else { state = .joining; sendText("join:\(room)") }
        }
        parseFrames(context: context)
        if buffer!.readableBytes == 0 { buffer!.clear() } else { buffer!.discardReadBytes() }
    }

    private func parseFrames(context: ChannelHandlerContext) {
        while var b = buffer, b.readableBytes >= 2 {
            let start = b.readerIndex
            let b0 = b.readInteger(as: UInt8.self)!, b1 = b.readInteger(as: UInt8.self)!
            var length = Int(b1 & 0x7f)
            if length == 126 {
                guard let l = b.readInteger(as: UInt16.self) else { return }
                length = Int(l)
            } else if length == 127 {
                guard let l = b.readInteger(as: UInt64.self) else { return }
                length = Int(l)
            }
            guard b.readableBytes >= length else { return }
            let payload = b.readSlice(length: length)!
            buffer!.moveReaderIndex(forwardBy: b.readerIndex - start)
            let opcode = b0 & 0x0f, fin = b0 & 0x80 != 0
            switch opcode {
            case 0x1, 0x0:
                if fin && fragments.isEmpty {
                    handleText(payload)
                } else {
                    fragments.append(contentsOf: payload.readableBytesView)
                    if fin { handleText(ByteBuffer(bytes: fragments)); fragments.removeAll() }
                }
            case 0x8: state = .closed; context.close(promise: nil); return
            case 0x9: sendFrame(opcode: 0xA, payload: Array(payload.readableBytesView))
            default: break
            }
        }
    }

    private func handleText(_ payload: ByteBuffer) {
        let bytes = payload.readableBytesView
        switch mode {
        case .raw:
            if state == .joining, bytes.starts(with: Array("joined".utf8)) { state = .joined; onJoined(); return }
            recordTimestamp(in: bytes)
        case .sio:
            switch session.react(to: bytes) {
            case .reply(let text): sendText(text)
            case .joined: state = .joined; onJoined()
            case .failed(let why): onFailed(why); state = .closed; context?.close(promise: nil)
            case .none: break
            }
        }
    }

    func sendMessage(text: String) {
        switch mode {
        case .sio: sendText(SocketIOSession.messagePacket(room: room, text: text))
        case .raw: sendText("msg:\(room):\(text)")
        }
    }

    func sendText(_ text: String) { sendFrame(opcode: 0x1, payload: Array(text.utf8)) }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) {
        guard let context, state != .closed else { return }
        var out = context.channel.allocator.buffer(capacity: payload.count + 14)
        out.writeInteger(0x80 | opcode)
        if payload.count < 126 {
            out.writeInteger(UInt8(0x80 | payload.count))
        } else if payload.count <= 0xffff {
            out.writeInteger(UInt8(0x80 | 126)); out.writeInteger(UInt16(payload.count))
        } else {
            out.writeInteger(UInt8(0x80 | 127)); out.writeInteger(UInt64(payload.count))
        }
        // A zero masking key: legal, and the payload goes out unchanged.
        out.writeInteger(UInt32(0))
        out.writeBytes(payload)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }
}

// MARK: the long-polling transport (Engine.IO v4 over HTTP/1.1 keep-alive)

/// One complete HTTP/1.1 response read from `buffer` (Content-Length or chunked body),
/// or nil while more bytes are needed. The bytes it used are consumed.
struct HTTPResponse {
    var status: Int
    var body: ByteBuffer
    var closes: Bool

    static func read(from buffer: inout ByteBuffer) -> HTTPResponse? {
        let view = buffer.readableBytesView
        guard let headEnd = view.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let head = String(decoding: view[view.startIndex..<headEnd.lowerBound], as: UTF8.self).lowercased()
        let lines = head.split(separator: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        var length: Int?, chunked = false, closes = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon], value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length": length = Int(value)
            case "transfer-encoding": chunked = value.contains("chunked")
            case "connection": closes = value.contains("close")
            default: break
            }
        }
        var rest = buffer
        rest.moveReaderIndex(forwardBy: headEnd.upperBound - view.startIndex)
        var body = ByteBuffer()
        if chunked {
            while true {
                let chunkView = rest.readableBytesView
                guard let lineEnd = chunkView.firstRange(of: [13, 10]) else { return nil }
                let sizeText = String(decoding: chunkView[chunkView.startIndex..<lineEnd.lowerBound], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
                guard rest.readableBytes >= lineEnd.upperBound - chunkView.startIndex + size + 2 else { return nil }
                rest.moveReaderIndex(forwardBy: lineEnd.upperBound - chunkView.startIndex)
                if size == 0 { rest.moveReaderIndex(forwardBy: 2); break }  // no trailers expected
                var chunk = rest.readSlice(length: size)!
                body.writeBuffer(&chunk)
                rest.moveReaderIndex(forwardBy: 2)
            }
        } else {
            let size = length ?? 0
            guard rest.readableBytes >= size else { return nil }
            body = rest.readSlice(length: size)!
        }
        buffer = rest
        return HTTPResponse(status: status, body: body, closes: closes)
    }
}

struct ExchangeFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// One keep-alive HTTP connection carrying one request at a time.
final class HTTPExchangeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var context: ChannelHandlerContext?
    private var buffer = ByteBuffer()
    private var pending: ((Result<HTTPResponse, ExchangeFailure>) -> Void)?
    private(set) var usable = true

    private var unsent: ByteBuffer?

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        // The connect future completes before the channel is active: a first request may wait here.
        if let request = unsent {
            unsent = nil
            context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        }
        context.fireChannelActive()
    }

    func send(_ request: ByteBuffer, completion: @escaping (Result<HTTPResponse, ExchangeFailure>) -> Void) {
        guard usable else { completion(.failure(ExchangeFailure("connection gone"))); return }
        pending = completion
        if let context { context.writeAndFlush(wrapOutboundOut(request), promise: nil) } else { unsent = request }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        guard let response = HTTPResponse.read(from: &buffer) else { return }
        if response.closes { usable = false }
        buffer.discardReadBytes()
        let completion = pending
        pending = nil
        completion?(.success(response))
    }

    func channelInactive(context: ChannelHandlerContext) {
        usable = false
        self.context = nil
        let completion = pending
        pending = nil
        completion?(.failure(ExchangeFailure("connection closed")))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// A TCP connection (TCP_NODELAY, from `source` when given) with `handler` as its pipeline.
func openConnection(on group: any EventLoopGroup, host: String, port: Int, source: SocketAddress?,
                    handler: any ChannelHandler & Sendable) -> EventLoopFuture<any Channel> {
    var bootstrap = ClientBootstrap(group: group)
        .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(.seconds(20))
        .channelInitializer { channel in channel.pipeline.addHandler(handler) }
    if let source { bootstrap = bootstrap.bind(to: source) }
    return bootstrap.connect(host: host, port: port)
}

/// A request lane of one polling client (its GET loop, or its POSTs): a keep-alive
/// connection, opened again when the server closed the previous one.
final class HTTPLane: @unchecked Sendable {
    let eventLoop: any EventLoop
    let host: String
    let port: Int
    let source: SocketAddress?
    private var handler: HTTPExchangeHandler?
    private var channel: (any Channel)?

    init(eventLoop: any EventLoop, host: String, port: Int, source: SocketAddress?) {
        self.eventLoop = eventLoop; self.host = host; self.port = port; self.source = source
    }

    func request(_ text: String, completion: @escaping (Result<HTTPResponse, ExchangeFailure>) -> Void) {
        eventLoop.assertInEventLoop()
        if let handler, handler.usable {
            handler.send(ByteBuffer(string: text), completion: completion)
            return
        }
        let handler = HTTPExchangeHandler()
        self.handler = handler
        openConnection(on: eventLoop, host: host, port: port, source: source, handler: handler).whenComplete { result in
            switch result {
            case .success(let channel):
                self.channel = channel
                handler.send(ByteBuffer(string: text), completion: completion)
            case .failure(let error):
                completion(.failure(ExchangeFailure("connect: \(error)")))
            }
        }
    }

    func close() -> EventLoopFuture<Void> {
        guard let channel else { return eventLoop.makeSucceededVoidFuture() }
        return channel.close().recover { _ in }
    }
}

/// An Engine.IO v4 client on long-polling only: a handshake GET, then a GET loop that
/// reads packets (joined with the record separator 0x1E) and one POST in flight at a
/// time carrying every packet queued meanwhile. Both lanes send the auth cookie.
final class PollingClient: LoadClient, @unchecked Sendable {
    let eventLoop: any EventLoop
    let session: SocketIOSession
    var room: String { session.room }
    var isJoined: Bool { session.phase == .joined }
    func heartbeat(at now: UInt64) -> Heartbeat {
        var beat = session.heartbeat(at: now)
        beat.open = !closed && session.phase == .joined
        return beat
    }
    private let hostHeader: String
    private let path: String
    private let cookieHeader: String
    private let getLane: HTTPLane
    private let postLane: HTTPLane
    private let onJoined: @Sendable () -> Void
    private let onFailed: @Sendable (String) -> Void
    private var sid: String?
    private var outbox: [String] = []
    private var posting = false
    private var closed = false
    private var requestNumber = 0

    init(eventLoop: any EventLoop, host: String, port: Int, source: SocketAddress?, path: String, cookie: String, room: String,
         onJoined: @escaping @Sendable () -> Void, onFailed: @escaping @Sendable (String) -> Void) {
        self.eventLoop = eventLoop
        self.session = SocketIOSession(room: room)
        self.hostHeader = "\(host):\(port)"
        self.path = path
        self.cookieHeader = cookie.isEmpty ? "" : "Cookie: access_token_cookie=\(cookie)\r\n"
        self.getLane = HTTPLane(eventLoop: eventLoop, host: host, port: port, source: source)
        self.postLane = HTTPLane(eventLoop: eventLoop, host: host, port: port, source: source)
        self.onJoined = onJoined; self.onFailed = onFailed
    }

    func start() { eventLoop.execute { self.poll() } }

    private func target() -> String {
        requestNumber += 1
        return path + (sid.map { "&sid=\($0)" } ?? "") + "&t=\(requestNumber)"
    }

    private func poll() {
        guard !closed else { return }
        let request = "GET \(target()) HTTP/1.1\r\nHost: \(hostHeader)\r\n\(cookieHeader)\r\n"
        getLane.request(request) { result in
            switch result {
            case .success(let response) where response.status == 200:
                self.receive(response.body)
                self.poll()
            case .success(let response):
                self.fail("poll: HTTP \(response.status) \(String(buffer: response.body).prefix(60))")
            case .failure(let why):
                self.fail("poll: \(why.reason)")
            }
        }
    }

    private func receive(_ body: ByteBuffer) {
        let view = body.readableBytesView
        for packet in view.split(separator: 0x1E, omittingEmptySubsequences: true) {
            let bytes = ByteBuffer(bytes: packet).readableBytesView
            if sid == nil, bytes.first == UInt8(ascii: "0") { sid = Self.sessionID(in: bytes) }
            if bytes.first == UInt8(ascii: "1") { fail("closed by server"); return }
            switch session.react(to: bytes) {
            case .reply(let text): enqueue(text)
            case .joined: onJoined()
            case .failed(let why): fail(why); return
            case .none: break
            }
        }
    }

    private static func sessionID(in open: ByteBufferView) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(open.dropFirst())) as? [String: Any] else { return nil }
        return object["sid"] as? String
    }

    private func enqueue(_ packet: String) {
        outbox.append(packet)
        flushOutbox()
    }

    private func flushOutbox() {
        guard !posting, !closed, sid != nil, !outbox.isEmpty else { return }
        posting = true
        let body = outbox.joined(separator: "\u{1E}")
        outbox.removeAll(keepingCapacity: true)
        let request = "POST \(target()) HTTP/1.1\r\nHost: \(hostHeader)\r\n\(cookieHeader)"
            + "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        postLane.request(request) { result in
            self.posting = false
            switch result {
            case .success(let response) where response.status == 200: self.flushOutbox()
            case .success(let response): self.fail("post: HTTP \(response.status)")
            case .failure(let why): self.fail("post: \(why.reason)")
            }
        }
    }

    private func fail(_ why: String) {
        guard !closed else { return }
        closed = true
        if session.phase != .joined { onFailed(why) }
        _ = getLane.close(); _ = postLane.close()
    }

    func sendMessage(text: String) { enqueue(SocketIOSession.messagePacket(room: room, text: text)) }

    func close() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.closed = true
            return self.getLane.close().and(self.postLane.close()).map { _ in }
        }
    }
}

// MARK: connecting many clients

let mode: Mode = options.string("mode", "sio") == "raw" ? .raw : .sio
let targets = options.list("targets", "127.0.0.1:5000").map { t -> (String, Int) in
    let parts = t.split(separator: ":")
    return (String(parts[0]), Int(parts[1]) ?? 5000)
}
let sources = options.list("sources", "")  // source addresses in 127.0.0.0/8
let cookie = options.string("cookie", "")
let path = options.string("path", mode == .raw ? "/ws" : "/socket.io/?EIO=4&transport=\(options.string("transport", "websocket"))")
let threads = options.int("threads", 1)
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let serverPids = options.list("server-pid", "")

func serverSample() -> ProcSample {
    var total = ProcSample(cpuSeconds: 0, rssKB: 0)
    for pid in serverPids {
        if let s = ProcSample.read(pid: pid) { total.cpuSeconds += s.cpuSeconds; total.rssKB += s.rssKB }
    }
    return total
}
func selfSample() -> ProcSample { ProcSample.read(pid: "self") ?? ProcSample(cpuSeconds: 0, rssKB: 0) }

enum Transport: String { case websocket, polling }
let transport: Transport = options.string("transport", "websocket") == "polling" ? .polling : .websocket

/// A connected client of either transport, as the scenarios drive it.
/// One client's heartbeats, read on its event loop.
struct Heartbeat {
    var pings: Int
    var longestGapNanos: UInt64
    var open = true
}

protocol LoadClient: AnyObject, Sendable {
    var room: String { get }
    var isJoined: Bool { get }
    var eventLoop: any EventLoop { get }
    /// Its heartbeats so far; call on `eventLoop`.
    func heartbeat(at now: UInt64) -> Heartbeat
    /// Sends one chat message; call on `eventLoop`.
    func sendMessage(text: String)
    func close() -> EventLoopFuture<Void>
}

final class WebSocketClient: LoadClient, @unchecked Sendable {
    let handler: ClientHandler
    let channel: any Channel
    init(handler: ClientHandler, channel: any Channel) { self.handler = handler; self.channel = channel }
    var room: String { handler.room }
    var isJoined: Bool { handler.state == .joined }
    var eventLoop: any EventLoop { channel.eventLoop }
    func heartbeat(at now: UInt64) -> Heartbeat {
        var beat = handler.session.heartbeat(at: now)
        beat.open = handler.state == .joined
        return beat
    }
    func sendMessage(text: String) { handler.sendMessage(text: text) }
    func close() -> EventLoopFuture<Void> { channel.close() }
}

final class Counter: @unchecked Sendable {
    let lock = NIOLock()
    var joined = 0
    var failed = 0
    var failures: [String: Int] = [:]
}

/// Connects `rooms.count` clients (client i joins rooms[i]) with at most `concurrency`
/// handshakes in flight; returns the clients that joined, and the connect-to-joined
/// latency histogram.
func connectAll(rooms: [String], concurrency: Int) -> (clients: [any LoadClient], failed: Int, seconds: Double, latency: Histogram<UInt64>, failures: [String: Int]) {
    let counter = Counter()
    let latency = NIOLockedValueBox(
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    )
    var clients: [(any LoadClient)?] = Array(repeating: nil, count: rooms.count)
    let clientsLock = NIOLock()
    let semaphore = DispatchSemaphore(value: concurrency)
    let done = DispatchGroup()
    let start = nowNanos()
    // A server that stops accepting (eventlet's pool of 1,024) would otherwise cost one
    // join timeout per remaining client; past this many failures the rest are not tried.
    let maxFailures = options.int("max-failures", 200)
    var attempted = 0
    for (i, room) in rooms.enumerated() {
        semaphore.wait()
        if counter.lock.withLock({ counter.failed >= maxFailures }) { semaphore.signal(); break }
        attempted += 1
        done.enter()
        let (host, port) = targets[i % targets.count]
        let began = nowNanos()
        let finished = NIOLockedValueBox(false)
        let finish: @Sendable (Bool, String) -> Void = { ok, why in
            let first = finished.withLockedValue { f -> Bool in if f { return false }; f = true; return true }
            guard first else { return }
            counter.lock.withLock {
                if ok { counter.joined += 1 } else { counter.failed += 1; counter.failures[String(why.prefix(60)), default: 0] += 1 }
            }
            if ok { latency.withLockedValue { _ = $0.record(max((nowNanos() - began) / 1000, 1)) } }
            semaphore.signal()
            done.leave()
        }
        let source = sources.isEmpty ? nil : try? SocketAddress(ipAddress: sources[i % sources.count], port: 0)
        let index = i
        // A handshake that never finishes must not hold its concurrency slot for ever.
        group.next().scheduleTask(in: .seconds(Int64(options.int("join-timeout", 30)))) { finish(false, "timeout") }
        switch transport {
        case .polling:
            let client = PollingClient(eventLoop: group.next(), host: host, port: port, source: source, path: path, cookie: cookie,
                                       room: room, onJoined: { finish(true, "") }, onFailed: { finish(false, $0) })
            clientsLock.withLock { clients[index] = client }
            client.start()
        case .websocket:
            let handler = ClientHandler(host: "\(host):\(port)", path: path, cookie: cookie, room: room, mode: mode,
                                        onJoined: { finish(true, "") }, onFailed: { finish(false, $0) })
            openConnection(on: group, host: host, port: port, source: source, handler: handler).whenComplete { result in
                switch result {
                case .success(let channel):
                    clientsLock.withLock { clients[index] = WebSocketClient(handler: handler, channel: channel) }
                case .failure(let error):
                    finish(false, "connect: \(error)")
                }
            }
        }
    }
    if done.wait(timeout: .now() + 120) == .timedOut { FileHandle.standardError.write("connect: timed out waiting\n".data(using: .utf8)!) }
    let seconds = Double(nowNanos() - start) / 1e9
    let joinedClients = clientsLock.withLock { clients.compactMap { $0 }.filter { $0.isJoined } }
    let notTried = rooms.count - attempted
    var (failed, failures) = counter.lock.withLock { (counter.failed, counter.failures) }
    if notTried > 0 {
        failed += notTried
        failures["not tried (server stopped accepting)"] = notTried
    }
    return (joinedClients, failed, seconds, latency.withLockedValue { $0 }, failures)
}

func closeAll(_ clients: [any LoadClient]) {
    let futures = clients.map { $0.close() }
    _ = try? EventLoopFuture.andAllComplete(futures, on: group.next()).wait()
}

func ms(_ micros: UInt64) -> Double { (Double(micros) / 1000 * 1000).rounded() / 1000 }

func emit(_ record: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(stdout)
}

func roomKeys(count: Int) -> [String] {
    if let file = options.values["rooms-file"], let text = try? String(contentsOfFile: file, encoding: .utf8) {
        let keys = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        precondition(keys.count >= count, "rooms-file has \(keys.count) keys, \(count) needed")
        return Array(keys.prefix(count))
    }
    return (0..<count).map { "room\($0)" }
}

// MARK: scenarios

let scenario = options.string("scenario", "fanout")
let label = options.string("server", "server")
// A polling run is its own scenario in the results (fanout-polling), not a second fanout.
var base: [String: Any] = ["server": label, "scenario": transport == .polling ? "\(scenario)-polling" : scenario,
                           "transport": transport.rawValue, "mode": "\(mode)"]
let generatorStart = selfSample()

switch scenario {
case "connect":
    // Connect storm: handshake + namespace connect + join, as fast as the server takes them.
    let n = options.int("clients", 2000)
    let keys = roomKeys(count: options.int("rooms", 100))
    let rooms = (0..<n).map { keys[$0 % keys.count] }
    let before = serverSample()
    let result = connectAll(rooms: rooms, concurrency: options.int("concurrency", 200))
    let after = serverSample()
    base["clients"] = n
    base["joined"] = result.clients.count
    base["failed"] = result.failed
    base["failures"] = result.failures
    base["seconds"] = result.seconds
    base["connects_per_s"] = Double(result.clients.count) / result.seconds
    base["p50_ms"] = ms(result.latency.valueAtPercentile(50))
    base["p99_ms"] = ms(result.latency.valueAtPercentile(99))
    base["p999_ms"] = ms(result.latency.valueAtPercentile(99.9))
    base["max_ms"] = ms(result.latency.max)
    base["server_cpu_s"] = after.cpuSeconds - before.cpuSeconds
    base["server_cpu_us_per_connect"] = (after.cpuSeconds - before.cpuSeconds) * 1e6 / Double(max(result.clients.count, 1))
    closeAll(result.clients)

case "idle":
    let n = options.int("clients", 10000)
    let members = options.int("members", 10)
    let keys = roomKeys(count: max(1, n / members))
    let rooms = (0..<n).map { keys[$0 % keys.count] }
    let before = serverSample()
    let result = connectAll(rooms: rooms, concurrency: options.int("concurrency", 200))
    Thread.sleep(forTimeInterval: options.double("settle", 3))
    let after = serverSample()
    let cpuBefore = serverSample().cpuSeconds
    let hold = options.double("hold", 5)
    Thread.sleep(forTimeInterval: hold)
    let cpuAfter = serverSample().cpuSeconds
    if mode == .sio {
        // Read on each client's loop: the state is the loop's.
        let now = nowNanos()
        let beats = result.clients.map { client in client.eventLoop.submit { client.heartbeat(at: now) } }
        let heartbeats = beats.compactMap { try? $0.wait() }
        let deadline = UInt64(options.double("heartbeat-deadline", 45) * 1e9)
        base["heartbeat_deadline_s"] = Double(deadline) / 1e9
        base["heartbeat_pings"] = heartbeats.reduce(0) { $0 + $1.pings }
        base["heartbeat_late_clients"] = heartbeats.filter { $0.longestGapNanos > deadline }.count
        base["heartbeat_closed_clients"] = heartbeats.filter { !$0.open }.count
        base["heartbeat_longest_gap_s"] = Double(heartbeats.map(\.longestGapNanos).max() ?? 0) / 1e9
        base["heartbeat_min_pings"] = heartbeats.map(\.pings).min() ?? 0
    }
    base["clients"] = n
    base["joined"] = result.clients.count
    base["failed"] = result.failed
    base["failures"] = result.failures
    base["server_rss_before_kb"] = before.rssKB
    base["server_rss_after_kb"] = after.rssKB
    base["rss_per_conn_kb"] = Double(after.rssKB - before.rssKB) / Double(max(result.clients.count, 1))
    base["idle_server_cpu_pct"] = (cpuAfter - cpuBefore) / hold * 100
    base["generator_rss_kb"] = selfSample().rssKB
    closeAll(result.clients)

case "fanout", "bigroom":
    // R rooms x M members; S senders per room; offered message rate stepped until
    // p99 > the limit or loss. bigroom is fanout with one room.
    let roomsCount = scenario == "bigroom" ? 1 : options.int("rooms", 10)
    let members = options.int("members", scenario == "bigroom" ? 5000 : 20)
    let sendersPerRoom = options.int("senders", 1)
    let keys = roomKeys(count: roomsCount)
    let rooms = (0..<(roomsCount * members)).map { keys[$0 % roomsCount] }
    let result = connectAll(rooms: rooms, concurrency: options.int("concurrency", 200))
    var perRoom: [String: [any LoadClient]] = [:]
    for c in result.clients { perRoom[c.room, default: []].append(c) }
    let senders = perRoom.values.flatMap { $0.prefix(sendersPerRoom) }
    if senders.isEmpty {
        FileHandle.standardError.write("no client joined: \(result.failures)\n".data(using: .utf8)!)
        base["error"] = "no client joined"; base["failures"] = result.failures; emit(base); exit(1)
    }
    let fanout = result.clients.count / max(perRoom.count, 1)
    let rates = options.list("rates", "100,200,400,800").compactMap(Double.init)
    let stepSeconds = options.double("step", 5)
    let p99Limit = options.double("p99-limit-ms", 50)
    let maxLoss = options.double("max-loss", 0.001)
    Thread.sleep(forTimeInterval: 1)  // let the join notices drain
    var steps: [[String: Any]] = []
    var lastGood: [String: Any]? = nil
    for rate in rates {
        stats.reset()
        stats.lock.withLock { stats.recording = true }
        let s0 = serverSample(), g0 = selfSample()
        let start = nowNanos()
        let interval = 1.0 / rate
        var sent = 0
        var next = 0
        // Paced by a sleeping loop on this thread; each send hops to the client's loop.
        while true {
            let elapsed = Double(nowNanos() - start) / 1e9
            if elapsed >= stepSeconds { break }
            let due = Int(elapsed / interval) + 1
            while sent < due {
                let c = senders[next % senders.count]; next += 1
                let text = "t:\(nowNanos()):\(next)"
                c.eventLoop.execute { c.sendMessage(text: text) }
                sent += 1
            }
            usleep(500)
        }
        let sendSeconds = Double(nowNanos() - start) / 1e9
        Thread.sleep(forTimeInterval: options.double("drain", 2))
        let s1 = serverSample(), g1 = selfSample()
        let (received, late, h) = stats.lock.withLock { () -> (Int, Int, Histogram<UInt64>) in
            stats.recording = false
            return (stats.received, stats.late, stats.histogram)
        }
        let expected = sent * fanout
        let lost = max(expected - received, 0)
        let serverCPU = s1.cpuSeconds - s0.cpuSeconds
        var step: [String: Any] = [
            "offered_msgs_per_s": rate, "sent": sent, "expected": expected, "delivered": received,
            "delivered_per_s": Double(received) / sendSeconds, "lost": lost, "late": late,
            "p50_ms": ms(h.valueAtPercentile(50)), "p99_ms": ms(h.valueAtPercentile(99)),
            "p999_ms": ms(h.valueAtPercentile(99.9)), "max_ms": ms(h.max),
            "server_cpu_s": serverCPU, "server_rss_kb": s1.rssKB,
            "server_cpu_us_per_delivery": received > 0 ? serverCPU * 1e6 / Double(received) : 0,
            "generator_cpu_s": g1.cpuSeconds - g0.cpuSeconds,
        ]
        let good = received > 0 && Double(lost) <= maxLoss * Double(expected) && ms(h.valueAtPercentile(99)) <= p99Limit
        step["good"] = good
        steps.append(step)
        FileHandle.standardError.write("[\(label) \(base["scenario"] ?? scenario)] rate \(rate): delivered/s \(Int(Double(received) / sendSeconds)) p99 \(ms(h.valueAtPercentile(99))) ms lost \(lost) \(good ? "ok" : "STOP")\n".data(using: .utf8)!)
        if good { lastGood = step } else { break }
    }
    base["rooms"] = roomsCount
    base["members"] = members
    base["senders_per_room"] = sendersPerRoom
    base["joined"] = result.clients.count
    base["failed"] = result.failed
    base["failures"] = result.failures
    base["fanout"] = fanout
    base["steps"] = steps
    base["last_good"] = lastGood ?? NSNull()
    closeAll(result.clients)

default:
    FileHandle.standardError.write("unknown scenario \(scenario)\n".data(using: .utf8)!)
    exit(2)
}

let generatorEnd = selfSample()
base["generator_cpu_s"] = generatorEnd.cpuSeconds - generatorStart.cpuSeconds
base["generator_rss_kb"] = generatorEnd.rssKB
emit(base)
try? group.syncShutdownGracefully()
