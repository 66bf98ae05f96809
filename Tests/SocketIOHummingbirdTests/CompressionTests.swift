import CompressNIO
import EngineIO
import NIOCore
import SocketIO
import Testing

/// Compression as it appears on the wire: `Content-Encoding` on polling responses and
/// RSV1-marked frames on a WebSocket that negotiated `permessage-deflate`.
@Suite("Over the wire: compression")
struct CompressionTests {
    static let long = String(repeating: "chatify ", count: 300)

    /// A server whose sockets answer `echo` with `echoed` and the same arguments.
    static func echoServer(_ configure: @escaping (inout EngineConfiguration) -> Void = { _ in }) async throws
        -> TestServer
    {
        try await TestServer.start(
            engine: configure,
            setUp: { io in
                io.sockets.onConnection { socket in
                    socket.on("echo") { event in event.socket.emit("echoed", args: event.args) }
                }
            }
        )
    }

    /// A connected Socket.IO session over polling: its polling URL.
    static func connectedPolling(_ server: TestServer) async throws -> String {
        let sid = try await server.handshake()
        let url = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"
        #expect(try await server.post(url, "40").text == "ok")
        #expect(try await server.get(url).text.hasPrefix("40"))
        return url
    }

    /// The poll that carries the echo of `text`, fetched with these request headers.
    static func echoedPoll(_ server: TestServer, _ url: String, _ text: String, headers: [(String, String)])
        async throws
        -> WireResponse
    {
        _ = try await server.post(url, #"42["echo",""# + text + #""]"#)
        return try await server.get(url, headers: headers)
    }

    static func expectedEcho(_ text: String) -> String { #"42["echoed",""# + text + #""]"# }

    @Test("a polling response over the threshold is gzip-encoded for a client that accepts gzip")
    func gzipPolling() async throws {
        let server = try await Self.echoServer()
        defer { Task { await server.stop() } }
        let url = try await Self.connectedPolling(server)
        var response = try await Self.echoedPoll(
            server, url, Self.long, headers: [("Accept-Encoding", "gzip, deflate")])
        #expect(response.status == 200)
        #expect(response.header("Content-Encoding") == "gzip")
        #expect(response.header("Vary") == "Accept-Encoding")
        #expect(response.body.readableBytes < Self.expectedEcho(Self.long).utf8.count / 4)
        let plain = try response.body.decompress(with: .gzip())
        #expect(String(buffer: plain) == Self.expectedEcho(Self.long))
    }

    @Test("deflate (zlib format) when the client's q-values prefer it; nothing when both are refused")
    func deflateByQuality() async throws {
        let server = try await Self.echoServer()
        defer { Task { await server.stop() } }
        let url = try await Self.connectedPolling(server)
        var deflated = try await Self.echoedPoll(
            server, url, Self.long, headers: [("Accept-Encoding", "gzip;q=0.4, deflate;q=0.9")]
        )
        #expect(deflated.header("Content-Encoding") == "deflate")
        #expect(String(buffer: try deflated.body.decompress(with: .zlib())) == Self.expectedEcho(Self.long))

        let refused = try await Self.echoedPoll(
            server, url, Self.long, headers: [("Accept-Encoding", "gzip;q=0, *;q=0")])
        #expect(refused.header("Content-Encoding") == nil)
        #expect(refused.text == Self.expectedEcho(Self.long))
    }

    @Test("no compression without Accept-Encoding, below the threshold, or with httpCompression off")
    func uncompressedCases() async throws {
        let server = try await Self.echoServer()
        defer { Task { await server.stop() } }
        let url = try await Self.connectedPolling(server)
        let notAccepted = try await Self.echoedPoll(server, url, Self.long, headers: [])
        #expect(notAccepted.header("Content-Encoding") == nil)
        #expect(notAccepted.text == Self.expectedEcho(Self.long))

        let small = try await Self.echoedPoll(server, url, "short", headers: [("Accept-Encoding", "gzip")])
        #expect(small.header("Content-Encoding") == nil)
        #expect(small.header("Vary") == nil)
        #expect(small.text == Self.expectedEcho("short"))

        let off = try await Self.echoServer { $0.httpCompression = nil }
        defer { Task { await off.stop() } }
        let offURL = try await Self.connectedPolling(off)
        let uncompressed = try await Self.echoedPoll(off, offURL, Self.long, headers: [("Accept-Encoding", "gzip")])
        #expect(uncompressed.header("Content-Encoding") == nil)
        #expect(uncompressed.text == Self.expectedEcho(Self.long))
    }

    @Test("the threshold is configurable: a lower one compresses short responses")
    func lowerThreshold() async throws {
        let server = try await Self.echoServer { $0.httpCompression = HTTPCompression(threshold: 10) }
        defer { Task { await server.stop() } }
        let url = try await Self.connectedPolling(server)
        var response = try await Self.echoedPoll(
            server, url, "short but over ten", headers: [("Accept-Encoding", "gzip")])
        #expect(response.header("Content-Encoding") == "gzip")
        #expect(String(buffer: try response.body.decompress(with: .gzip())) == Self.expectedEcho("short but over ten"))
    }

    // MARK: - permessage-deflate

    static let offer = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]

    /// Opens a WebSocket session and connects the Socket.IO namespace.
    static func connectedWebSocket(_ server: TestServer, headers: [(String, String)]) async throws -> WireWebSocket {
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket", headers: headers)
        #expect(socket.handshake.status == 101)
        #expect(try await socket.nextText()?.hasPrefix("0{") == true)
        try await socket.send("40")
        #expect(try await socket.nextText()?.hasPrefix("40") == true)
        return socket
    }

    /// The next data frame, answering WebSocket and Engine.IO pings (sent uncompressed:
    /// they are short).
    static func nextDataFrame(_ socket: WireWebSocket) async throws -> WireWebSocket.RawFrame? {
        while let frame = try await socket.nextRawFrame() {
            if frame.opcode == 0x9 {
                try await socket.send(opcode: 0xA, payload: frame.payload)
                continue
            }
            if frame.opcode == 0x1, frame.payload == Array("2".utf8) {
                try await socket.send("3")
                continue
            }
            if frame.opcode == 0x1 || frame.opcode == 0x2 { return frame }
        }
        return nil
    }

    @Test("permessage-deflate, when enabled, is negotiated; large messages travel compressed both ways")
    func perMessageDeflate() async throws {
        let server = try await Self.echoServer { $0.perMessageDeflate = PerMessageDeflate(threshold: 1024) }
        defer { Task { await server.stop() } }
        let socket = try await Self.connectedWebSocket(server, headers: Self.offer)
        let negotiated = socket.handshake.header("Sec-WebSocket-Extensions")
        #expect(negotiated?.hasPrefix("permessage-deflate") == true)

        // The client compresses its message too: the server must inflate it.
        let deflater = try ZlibCompressor(algorithm: .deflate)
        var outgoing = ByteBuffer(string: #"42["echo",""# + Self.long + #""]"#)
        let compressed = try outgoing.compressStream(with: deflater, flush: .sync)
        let payload = Array(compressed.readableBytesView.dropLast(4))  // RFC 7692 7.2.1: without 00 00 ff ff
        try await socket.send(opcode: 0x1, payload: payload, rsv1: true)

        let frame = try #require(try await Self.nextDataFrame(socket))
        #expect(frame.rsv1, "a message over the threshold must go out compressed")
        #expect(frame.payload.count < Self.expectedEcho(Self.long).utf8.count / 4)
        var received = ByteBuffer(bytes: frame.payload + [0, 0, 0xFF, 0xFF])
        let inflater = try ZlibDecompressor(algorithm: .deflate)
        #expect(String(buffer: try received.decompressStream(with: inflater)) == Self.expectedEcho(Self.long))

        // Below the threshold the same socket sends plain frames.
        try await socket.send(#"42["echo","short"]"#)
        let short = try #require(try await Self.nextDataFrame(socket))
        #expect(!short.rsv1)
        #expect(String(decoding: short.payload, as: UTF8.self) == Self.expectedEcho("short"))
        await socket.close()
    }

    /// `attacker` gets a close frame with `code`; `bystander` is still echoed after it.
    static func expectClosed(_ attacker: WireWebSocket, with code: UInt16, while bystander: WireWebSocket) async throws
    {
        let closeCode = try await attacker.closeCode()
        #expect(closeCode == code, "closed with \(String(describing: closeCode))")
        try await bystander.send(#"42["echo","still here"]"#)
        let echoed = try #require(try await Self.nextDataFrame(bystander))
        #expect(String(decoding: echoed.payload, as: UTF8.self) == Self.expectedEcho("still here"))
        await attacker.close()
        await bystander.close()
    }

    @Test("a compressed message that inflates beyond maxPayload closes that socket; others are unaffected")
    func inflationBomb() async throws {
        let server = try await Self.echoServer {
            $0.perMessageDeflate = PerMessageDeflate()
            $0.maxPayload = 10_000
        }
        defer { Task { await server.stop() } }
        let bystander = try await Self.connectedWebSocket(server, headers: Self.offer)
        let attacker = try await Self.connectedWebSocket(server, headers: Self.offer)
        var zeros = ByteBuffer(repeating: UInt8(ascii: "0"), count: 1_000_000)
        let bomb = try zeros.compressStream(with: ZlibCompressor(algorithm: .deflate), flush: .sync)
        #expect(bomb.readableBytes < 2_000)
        try await attacker.send(opcode: 0x1, payload: Array(bomb.readableBytesView.dropLast(4)), rsv1: true)
        try await Self.expectClosed(attacker, with: 1009, while: bystander)
    }

    @Test("invalid UTF-8 in a compressed text message closes that socket with 1007; others are unaffected")
    func compressedInvalidUTF8() async throws {
        let server = try await Self.echoServer { $0.perMessageDeflate = PerMessageDeflate() }
        defer { Task { await server.stop() } }
        let bystander = try await Self.connectedWebSocket(server, headers: Self.offer)
        let attacker = try await Self.connectedWebSocket(server, headers: Self.offer)
        var invalid = ByteBuffer(bytes: Array(#"42["echo",""#.utf8) + [0xC3, 0x28] + Array(#""]"#.utf8))
        let compressed = try invalid.compressStream(with: ZlibCompressor(algorithm: .deflate), flush: .sync)
        try await attacker.send(opcode: 0x1, payload: Array(compressed.readableBytesView.dropLast(4)), rsv1: true)
        try await Self.expectClosed(attacker, with: 1007, while: bystander)
    }

    @Test("permessage-deflate is off by default, as in Node: the offer is ignored, frames stay plain")
    func perMessageDeflateOffByDefault() async throws {
        let server = try await Self.echoServer()
        defer { Task { await server.stop() } }
        let socket = try await Self.connectedWebSocket(server, headers: Self.offer)
        #expect(socket.handshake.header("Sec-WebSocket-Extensions") == nil)
        try await socket.send(#"42["echo",""# + Self.long + #""]"#)
        let frame = try #require(try await Self.nextDataFrame(socket))
        #expect(!frame.rsv1)
        #expect(String(decoding: frame.payload, as: UTF8.self) == Self.expectedEcho(Self.long))
        await socket.close()
    }
}
