import NIOCore
import Testing

@testable import SocketIOHummingbird

/// What slow clients may hold; the timeouts themselves are exercised against the real
/// server in Compat/gateway/test_connection_limits.py.
@Suite("Connection limits")
struct ConnectionLimitsTests {
    @Test("the per-address count admits up to the limit, frees a place on release, and forgets an address at zero")
    func perAddress() {
        let open = ConnectionsPerAddress(limit: 2)
        #expect(open.admit("10.0.0.1") && open.admit("10.0.0.1"))
        #expect(!open.admit("10.0.0.1"))
        #expect(open.admit("10.0.0.2"))
        open.release("10.0.0.1")
        #expect(open.admit("10.0.0.1"))
        open.release("10.0.0.1")
        open.release("10.0.0.1")
        open.release("10.0.0.2")
        #expect(open.addresses == 0)
    }

    @Test("a frame sent in the same write as the upgrade request reaches the WebSocket")
    func frameWithTheUpgradeRequest() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await WireConnection(port: server.port)
        var bytes = ByteBuffer(
            string: "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        // "40": connect to the main namespace, masked as a client must.
        let mask: [UInt8] = [1, 2, 3, 4]
        bytes.writeBytes([0x81, 0x80 | 2] + mask + Array("40".utf8).enumerated().map { $0.element ^ mask[$0.offset] })
        try await connection.write(bytes)
        let handshake = try await WireHTTP.readResponse(connection)
        #expect(handshake.status == 101)
        #expect(try await Self.shortTextFrame(connection)?.hasPrefix("0{") == true)
        #expect(try await Self.shortTextFrame(connection)?.hasPrefix("40{") == true)
        await connection.close()
    }

    /// One unmasked server text frame shorter than 126 bytes.
    static func shortTextFrame(_ connection: WireConnection) async throws -> String? {
        guard let header = try await connection.read(exactly: 2) else { return nil }
        let bytes = Array(header.readableBytesView)
        guard bytes[0] == 0x81, bytes[1] < 126 else { return nil }
        guard let payload = try await connection.read(exactly: Int(bytes[1])) else { return nil }
        return String(buffer: payload)
    }
}
