import EngineIO
import OrderedJSON
import SocketIO
import Testing

/// An endpoint served over TLS (the app sets `isSecure` when it serves HTTPS itself)
/// reports it in the Socket.IO handshake, on both transports.
@Suite("Over the wire: endpoints behind TLS")
struct SecureEndpointTests {
    static func server(secure: Bool) async throws -> TestServer {
        try await TestServer.start(
            secure: secure,
            setUp: { io in
                io.sockets.onConnection { socket in
                    socket.on("secure?") { event in event.ack?.send([.bool(event.socket.handshake.secure)]) }
                }
            })
    }

    @Test("handshake.secure follows the endpoint, over polling and WebSocket", arguments: [true, false])
    func secureFlag(secure: Bool) async throws {
        let server = try await Self.server(secure: secure)
        defer { Task { await server.stop() } }
        let sid = try await server.handshake()
        let url = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"
        _ = try await server.post(url, "40")
        _ = try await server.get(url)
        _ = try await server.post(url, #"421["secure?"]"#)
        #expect(try await server.get(url).text == "431[\(secure)]")

        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        _ = try await socket.nextText()
        try await socket.send("40")
        _ = try await socket.nextText()
        try await socket.send(#"427["secure?"]"#)
        #expect(try await socket.nextText() == "437[\(secure)]")
        await socket.close()
    }
}
