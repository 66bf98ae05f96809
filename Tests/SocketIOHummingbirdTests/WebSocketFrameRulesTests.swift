import EngineIO
import NIOCore
import Testing

@testable import SocketIOHummingbird

@Suite("Client frames held to RFC 6455")
struct WebSocketFrameRulesTests {
    /// A server whose main namespace accepts everyone; a WebSocket client connected to it.
    static func connected(_ server: TestServer) async throws -> WireWebSocket {
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        #expect(socket.handshake.status == 101)
        #expect(try await socket.nextText()?.hasPrefix("0{") == true)
        return socket
    }

    @Test("an unmasked client frame closes that socket with 1002; other sockets carry on")
    func unmaskedFrame() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let bystander = try await Self.connected(server)
        let socket = try await Self.connected(server)
        try await socket.send(opcode: 0x1, payload: Array("40".utf8), masked: false)
        #expect(try await socket.closeCode() == 1002)
        try await bystander.send("40")
        #expect(try await bystander.nextText()?.hasPrefix("40{\"sid\":") == true)
        await socket.close()
        await bystander.close()
    }

    @Test("invalid UTF-8 in a text message closes with 1007, also when split across fragments")
    func invalidUTF8() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let whole = try await Self.connected(server)
        try await whole.send(opcode: 0x1, payload: Array("40".utf8) + [0xC3, 0x28])
        #expect(try await whole.closeCode() == 1007)
        await whole.close()

        // A lead byte that ends the message with its scalar unfinished.
        let truncated = try await Self.connected(server)
        try await truncated.send(opcode: 0x1, payload: Array("4".utf8), fin: false)
        try await truncated.send(opcode: 0x0, payload: [0xE2, 0x82])
        #expect(try await truncated.closeCode() == 1007)
        await truncated.close()
    }

    @Test("a text message split inside a scalar is accepted")
    func scalarSplitAcrossFragments() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = try await Self.connected(server)
        let bytes = Array(#"40{"name":"é€😀"}"#.utf8)
        // Cut after the first byte of "é", in the middle of "€" and of the emoji.
        let cuts = [11, 14, 18, bytes.count]
        var start = 0
        for (index, cut) in cuts.enumerated() {
            try await socket.send(
                opcode: index == 0 ? 0x1 : 0x0, payload: Array(bytes[start..<cut]), fin: cut == bytes.count)
            start = cut
        }
        #expect(try await socket.nextText()?.hasPrefix("40{\"sid\":") == true)
        await socket.close()
    }

    @Test("a fragmented message over maxPayload closes with 1009, as a single frame over it does")
    func fragmentedMessageTooLarge() async throws {
        let server = try await TestServer.start { $0.maxPayload = 1000 }
        defer { Task { await server.stop() } }
        let socket = try await Self.connected(server)
        try await socket.send(opcode: 0x1, payload: Array(("4" + String(repeating: "x", count: 399)).utf8), fin: false)
        try await socket.send(opcode: 0x0, payload: Array(repeating: UInt8(ascii: "x"), count: 400), fin: false)
        try await socket.send(opcode: 0x0, payload: Array(repeating: UInt8(ascii: "x"), count: 400))
        #expect(try await socket.closeCode() == 1009)
        await socket.close()
    }

    @Test(
        "a message in more than the allowed number of fragments closes with 1009, empty ones included",
        .timeLimit(.minutes(1))
    )
    func tooManyFragments() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = try await Self.connected(server)
        try await socket.send(opcode: 0x1, payload: Array("4".utf8), fin: false)
        for _ in 0..<WebSocketFrameRules.maxFragments {
            try await socket.send(opcode: 0x0, payload: [], fin: false)
        }
        #expect(try await socket.closeCode() == 1009)
        await socket.close()
    }

    @Test(
        "reserved bits and opcodes that were not negotiated close with 1002",
        arguments: [
            (opcode: UInt8(0x1), rsv1: true), (opcode: UInt8(0x3), rsv1: false), (opcode: UInt8(0xB), rsv1: false),
        ]
    )
    func reservedBitsAndOpcodes(frame: (opcode: UInt8, rsv1: Bool)) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = try await Self.connected(server)
        try await socket.send(opcode: frame.opcode, payload: Array("40".utf8), rsv1: frame.rsv1)
        #expect(try await socket.closeCode() == 1002)
        await socket.close()
    }

    @Test("a client that neither answers the server's close frame nor closes is cut off", .timeLimit(.minutes(1)))
    func silentClientIsCutOff() async throws {
        let server = try await TestServer.start {
            $0.pingInterval = .milliseconds(200)
            $0.pingTimeout = .milliseconds(200)
        }
        defer { Task { await server.stop() } }
        let socket = try await Self.connected(server)
        // No pong: the session ends and the server sends its close frame, which this
        // client neither answers nor follows by closing its side.
        #expect(try await socket.closeCode() != nil)
        #expect(try await socket.nextRawFrame() == nil, "the server ended the connection")
        await socket.close()
    }

    @Test("fragments out of order close with 1002")
    func fragmentsOutOfOrder() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let orphan = try await Self.connected(server)
        try await orphan.send(opcode: 0x0, payload: Array("40".utf8))
        #expect(try await orphan.closeCode() == 1002)
        await orphan.close()

        let interleaved = try await Self.connected(server)
        try await interleaved.send(opcode: 0x1, payload: Array("4".utf8), fin: false)
        try await interleaved.send(opcode: 0x1, payload: Array("40".utf8))
        #expect(try await interleaved.closeCode() == 1002)
        await interleaved.close()
    }

    @Test(
        "the UTF-8 validator accepts what Swift's decoder accepts, fed in any two pieces",
        arguments: [
            [0x24], [0xC2, 0xA2], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xED, 0x9F, 0xBF],
            [0xEE, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xE2, 0x82], [0xE2, 0x28, 0xA1],
        ] as [[UInt8]]
    )
    func validatorMatchesSwift(bytes: [UInt8]) {
        let expected = String(validating: bytes, as: UTF8.self) != nil
        for cut in 0...bytes.count {
            var validator = UTF8StreamValidator()
            let first = bytes[..<cut].withUnsafeBytes { validator.consume($0) }
            let second = first && bytes[cut...].withUnsafeBytes { validator.consume($0) }
            #expect((second && validator.isAtBoundary) == expected, "\(bytes) cut at \(cut)")
        }
    }
}
