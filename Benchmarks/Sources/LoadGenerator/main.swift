// Load generator: thousands of Engine.IO v4 / Socket.IO v5 clients over WebSocket in one
// process, speaking the protocol itself (no client library). One scenario per run; one
// JSON record on stdout. Latency comes from a monotonic timestamp carried in the message
// text and is recorded in an HdrHistogram (microseconds).
//
//   LoadGenerator --scenario fanout --targets 127.0.0.1:5000 --cookie TOKEN --rooms-file keys.txt \
//       --rooms 10 --members 20 --senders 1 --rates 100,200,400 --server-pid 1234
//
// Scenarios: connect (storm), idle, fanout (rooms x members, stepped rate), bigroom.
// --mode sio (default) speaks Engine.IO/Socket.IO; --mode raw speaks plain WebSocket
// text frames `join:<room>` / `msg:<room>:<text>` (RawFanoutServer).

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

// MARK: the client connection (HTTP upgrade + WebSocket framing + EIO/SIO, one handler)

enum Mode { case sio, raw }

final class ClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State { case upgrading, eioOpening, sioConnecting, joining, joined, closed }

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
            if mode == .sio { state = .eioOpening } else { state = .joining; sendText("join:\(room)") }
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

    private static let timestampMarker = Array("t:".utf8)

    private func handleText(_ payload: ByteBuffer) {
        let bytes = payload.readableBytesView
        switch mode {
        case .raw:
            if state == .joining, bytes.starts(with: Array("joined".utf8)) { state = .joined; onJoined(); return }
            recordTimestamp(bytes)
        case .sio:
            guard let first = bytes.first else { return }
            switch first {
            case UInt8(ascii: "2"): sendText("3")  // ping → pong
            case UInt8(ascii: "0") where state == .eioOpening:
                state = .sioConnecting; sendText("40")
            case UInt8(ascii: "4"):
                let second = bytes.dropFirst().first
                if second == UInt8(ascii: "0"), state == .sioConnecting {
                    state = .joining
                    sendText(#"42["join",{"room":"\#(room)"}]"#)
                } else if second == UInt8(ascii: "4") {
                    onFailed("connect error: \(String(decoding: bytes, as: UTF8.self).prefix(80))"); state = .closed
                    context?.close(promise: nil)
                } else if second == UInt8(ascii: "2") {
                    if state == .joining {
                        // Our own "has joined" notice (or a chat_error) ends the join.
                        if bytes.firstRange(of: Array("chat_error".utf8)) != nil {
                            onFailed("join refused: \(String(decoding: bytes, as: UTF8.self).prefix(120))")
                            state = .closed; context?.close(promise: nil); return
                        }
                        state = .joined; onJoined(); return
                    }
                    recordTimestamp(bytes)
                }
            default: break
            }
        }
    }

    @inline(__always) private func recordTimestamp(_ bytes: ByteBufferView) {
        guard let r = bytes.firstRange(of: Self.timestampMarker) else { return }
        var value: UInt64 = 0
        var i = r.upperBound
        while i < bytes.endIndex {
            let d = bytes[i]
            guard d >= 48, d <= 57 else { break }
            value = value &* 10 &+ UInt64(d - 48); i += 1
        }
        stats.record(sentAt: value)
    }

    func sendMessage(text: String) {
        switch mode {
        case .sio: sendText(#"42["message",{"room":"\#(room)","message":"\#(text)"}]"#)
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

// MARK: connecting many clients

let mode: Mode = options.string("mode", "sio") == "raw" ? .raw : .sio
let targets = options.list("targets", "127.0.0.1:5000").map { t -> (String, Int) in
    let parts = t.split(separator: ":")
    return (String(parts[0]), Int(parts[1]) ?? 5000)
}
let sources = options.list("sources", "")  // source addresses in 127.0.0.0/8
let cookie = options.string("cookie", "")
let path = options.string("path", mode == .sio ? "/socket.io/?EIO=4&transport=websocket" : "/ws")
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

final class Client: @unchecked Sendable {
    let handler: ClientHandler
    let channel: any Channel
    init(handler: ClientHandler, channel: any Channel) { self.handler = handler; self.channel = channel }
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
func connectAll(rooms: [String], concurrency: Int) -> (clients: [Client], failed: Int, seconds: Double, latency: Histogram<UInt64>, failures: [String: Int]) {
    let counter = Counter()
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    let latencyLock = NIOLock()
    var clients: [Client?] = Array(repeating: nil, count: rooms.count)
    let clientsLock = NIOLock()
    let semaphore = DispatchSemaphore(value: concurrency)
    let done = DispatchGroup()
    let start = nowNanos()
    for (i, room) in rooms.enumerated() {
        semaphore.wait()
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
            if ok { latencyLock.withLock { _ = latency.record(max((nowNanos() - began) / 1000, 1)) } }
            semaphore.signal()
            done.leave()
        }
        let handler = ClientHandler(host: "\(host):\(port)", path: path, cookie: cookie, room: room, mode: mode,
                                    onJoined: { finish(true, "") }, onFailed: { finish(false, $0) })
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(20))
            .channelInitializer { channel in channel.pipeline.addHandler(handler) }
        if !sources.isEmpty, let address = try? SocketAddress(ipAddress: sources[i % sources.count], port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        let index = i
        // A handshake that never finishes must not hold its concurrency slot for ever.
        group.next().scheduleTask(in: .seconds(Int64(options.int("join-timeout", 30)))) { finish(false, "timeout") }
        bootstrap.connect(host: host, port: port).whenComplete { result in
            switch result {
            case .success(let channel):
                clientsLock.withLock { clients[index] = Client(handler: handler, channel: channel) }
            case .failure(let error):
                finish(false, "connect: \(error)")
            }
        }
    }
    if done.wait(timeout: .now() + 120) == .timedOut { FileHandle.standardError.write("connect: timed out waiting\n".data(using: .utf8)!) }
    let seconds = Double(nowNanos() - start) / 1e9
    let joinedClients = clientsLock.withLock { clients.compactMap { $0 }.filter { $0.handler.state == .joined } }
    return (joinedClients, counter.failed, seconds, latencyLock.withLock { latency }, counter.failures)
}

func closeAll(_ clients: [Client]) {
    let futures = clients.map { $0.channel.close() }
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
var base: [String: Any] = ["server": label, "scenario": scenario, "transport": "websocket", "mode": "\(mode)"]
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
    var perRoom: [String: [Client]] = [:]
    for c in result.clients { perRoom[c.handler.room, default: []].append(c) }
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
                c.channel.eventLoop.execute { c.handler.sendMessage(text: text) }
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
        FileHandle.standardError.write("[\(label) \(scenario)] rate \(rate): delivered/s \(Int(Double(received) / sendSeconds)) p99 \(ms(h.valueAtPercentile(99))) ms lost \(lost) \(good ? "ok" : "STOP")\n".data(using: .utf8)!)
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
