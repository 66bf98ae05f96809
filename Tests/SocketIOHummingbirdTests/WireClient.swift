import NIOCore
import NIOPosix
import Testing

/// One TCP connection to the test server, read and written as raw bytes, so the tests
/// see exactly what goes over the wire.
///
/// The channel is used inside `executeThenClose`, run by `lifetime` until `close()`;
/// reads and writes are handed to it one by one. Bytes are read only when a test asks
/// for them, so a test that stops reading leaves them in the kernel and the server
/// feels the backpressure.
actor WireConnection {
    /// A read or write waiting for its turn, and who to tell how it went.
    private struct PendingRead: Sendable {
        let done: CheckedContinuation<ByteBuffer?, any Error>
    }
    private struct PendingWrite: Sendable {
        let bytes: ByteBuffer
        let done: CheckedContinuation<Void, any Error>
    }

    private let channel: any Channel
    private let reads: AsyncStream<PendingRead>.Continuation
    private let writes: AsyncStream<PendingWrite>.Continuation
    private let lifetime: Task<Void, Never>
    private var buffer = ByteBuffer()
    private(set) var atEOF = false

    init(port: Int) async throws {
        let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let (pendingReads, reads) = AsyncStream.makeStream(of: PendingRead.self)
        let (pendingWrites, writes) = AsyncStream.makeStream(of: PendingWrite.self)
        channel = connection.channel
        self.reads = reads
        self.writes = writes
        lifetime = Task {
            try? await connection.executeThenClose { inbound, outbound in
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        var received = inbound.makeAsyncIterator()
                        for await read in pendingReads {
                            do {
                                read.done.resume(returning: try await received.next())
                            } catch {
                                read.done.resume(throwing: error)
                            }
                        }
                    }
                    for await write in pendingWrites {
                        do {
                            try await outbound.write(write.bytes)
                            write.done.resume()
                        } catch {
                            write.done.resume(throwing: error)
                        }
                    }
                }
            }
        }
    }

    func write(_ bytes: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            if case .terminated = writes.yield(PendingWrite(bytes: bytes, done: done)) {
                done.resume(throwing: ChannelError.ioOnClosedChannel)
            }
        }
    }

    func write(_ string: String) async throws {
        try await write(ByteBuffer(string: string))
    }

    /// Reads more bytes; false at end of stream.
    private func fill() async throws -> Bool {
        guard !atEOF else { return false }
        let next = try await withCheckedThrowingContinuation { (done: CheckedContinuation<ByteBuffer?, any Error>) in
            if case .terminated = reads.yield(PendingRead(done: done)) {
                done.resume(returning: nil)
            }
        }
        if var more = next {
            buffer.writeBuffer(&more)
            return true
        }
        atEOF = true
        return false
    }

    func read(exactly count: Int) async throws -> ByteBuffer? {
        while buffer.readableBytes < count {
            guard try await fill() else { return nil }
        }
        return buffer.readSlice(length: count)
    }

    /// Bytes up to and including `delimiter`.
    func read(through delimiter: String) async throws -> String? {
        let needle = Array(delimiter.utf8)
        while true {
            let view = buffer.readableBytesView
            if let range = view.firstRange(of: needle) {
                let length = view.distance(from: view.startIndex, to: range.upperBound)
                return buffer.readString(length: length)
            }
            guard try await fill() else { return nil }
        }
    }

    func readToEnd() async throws -> ByteBuffer {
        while try await fill() {}
        let rest = buffer
        buffer.clear()
        return rest
    }

    func close() async {
        reads.finish()
        writes.finish()
        // A read under way waits for bytes that may never come: closing the channel ends it.
        try? await channel.close()
        await lifetime.value
    }

    deinit {
        // A test that forgot close() still ends cleanly.
        reads.finish()
        writes.finish()
        channel.close(promise: nil)
    }
}

struct WireResponse {
    var status: Int
    var headers: [(String, String)]
    var body: ByteBuffer

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(buffer: body) }
}

/// HTTP/1.1 over a fresh connection per request (`Connection: close`), so several
/// requests can be in flight at once, as long-polling needs.
enum WireHTTP {
    static func request(
        port: Int,
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil
    ) async throws -> WireResponse {
        let connection = try await WireConnection(port: port)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.readableBytes)\r\n" }
        head += "\r\n"
        var bytes = ByteBuffer(string: head)
        if var body { bytes.writeBuffer(&body) }
        try await connection.write(bytes)
        let response = try await readResponse(connection)
        await connection.close()
        return response
    }

    static func readResponse(_ connection: WireConnection) async throws -> WireResponse {
        let head = try #require(try await connection.read(through: "\r\n\r\n"), "no response head")
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)
        let statusLine = lines.removeFirst()
        let status = Int(statusLine.split(separator: " ")[1]) ?? 0
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].drop(while: { $0 == " " })))
        }
        var response = WireResponse(status: status, headers: headers, body: ByteBuffer())
        if let length = response.header("Content-Length").flatMap(Int.init) {
            response.body = try await connection.read(exactly: length) ?? ByteBuffer()
        } else if status != 101 {
            response.body = try await connection.readToEnd()
        }
        return response
    }
}

/// A WebSocket client over a raw connection: frames masked as RFC 6455 requires.
actor WireWebSocket {
    enum Frame: Equatable, Sendable {
        case text(String)
        case binary([UInt8])
        case close(code: UInt16?)
        case pong
    }

    let connection: WireConnection
    let handshake: WireResponse

    /// Performs the upgrade; `handshake.status` is 101 when the server accepted.
    init(port: Int, target: String, headers: [(String, String)] = []) async throws {
        connection = try await WireConnection(port: port)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try await connection.write(head)
        handshake = try await WireHTTP.readResponse(connection)
    }

    func send(_ text: String) async throws { try await send(opcode: 0x1, payload: Array(text.utf8)) }
    func send(binary: [UInt8]) async throws { try await send(opcode: 0x2, payload: binary) }
    func sendClose() async throws { try await send(opcode: 0x8, payload: [0x03, 0xE8]) }

    /// Sends one frame, final unless `fin` is false; `rsv1` marks it compressed
    /// (permessage-deflate); `masked: false` breaks RFC 6455 as a client.
    func send(opcode: UInt8, payload: [UInt8], rsv1: Bool = false, fin: Bool = true, masked: Bool = true) async throws {
        var frame = ByteBuffer()
        frame.writeInteger((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            frame.writeInteger(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame.writeInteger(maskBit | 126)
            frame.writeInteger(UInt16(payload.count))
        } else {
            frame.writeInteger(maskBit | 127)
            frame.writeInteger(UInt64(payload.count))
        }
        if masked {
            let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
            frame.writeBytes(mask)
            frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        } else {
            frame.writeBytes(payload)
        }
        try await connection.write(frame)
    }

    /// Reads until the server's close frame and returns its code (nil: the connection
    /// ended without one).
    func closeCode() async throws -> UInt16? {
        while let frame = try await next() {
            if case .close(let code) = frame { return code }
        }
        return nil
    }

    /// One frame as it came over the wire, with its header bits.
    struct RawFrame: Sendable {
        var fin: Bool
        /// Set on the first frame of a compressed message (RFC 7692).
        var rsv1: Bool
        var opcode: UInt8
        var payload: [UInt8]
    }

    /// The next frame exactly as sent, nil when the connection ends.
    func nextRawFrame() async throws -> RawFrame? {
        guard var header = try await connection.read(exactly: 2) else { return nil }
        let first: UInt8 = header.readInteger()!
        let second: UInt8 = header.readInteger()!
        var length = Int(second & 0x7F)
        if length == 126 {
            guard var extended = try await connection.read(exactly: 2) else { return nil }
            length = Int(extended.readInteger(as: UInt16.self)!)
        } else if length == 127 {
            guard var extended = try await connection.read(exactly: 8) else { return nil }
            length = Int(extended.readInteger(as: UInt64.self)!)
        }
        guard let payload = try await connection.read(exactly: length) else { return nil }
        return RawFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, opcode: first & 0x0F,
            payload: Array(payload.readableBytesView)
        )
    }

    /// The next complete frame (continuations joined), nil when the connection ends.
    func next() async throws -> Frame? {
        var message: [UInt8] = []
        var messageOpcode: UInt8 = 0
        while let frame = try await nextRawFrame() {
            let bytes = frame.payload
            switch frame.opcode {
            case 0x8:
                let code = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : nil
                return .close(code: code)
            case 0x9:
                // Answered at once, as RFC 6455 clients do; the server's writes wait for it.
                // The server may have closed the connection behind the ping: what follows
                // (its close frame, or the end) is still read.
                try? await send(opcode: 0xA, payload: bytes)
                continue
            case 0xA: return .pong
            case 0x0: message += bytes
            default:
                messageOpcode = frame.opcode
                message = bytes
            }
            if frame.fin {
                return messageOpcode == 0x1 ? .text(String(decoding: message, as: UTF8.self)) : .binary(message)
            }
        }
        return nil
    }

    /// The next text frame, answering Engine.IO pings on the way.
    func nextText() async throws -> String? {
        while let frame = try await next() {
            switch frame {
            case .text("2"): try await send("3")
            case .text(let text): return text
            case .close: return nil
            default: continue
            }
        }
        return nil
    }

    func close() async { await connection.close() }
}
