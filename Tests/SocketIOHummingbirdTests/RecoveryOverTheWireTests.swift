import EngineIO
import EngineTestSupport
import OrderedJSON
import SocketIO
import Testing

/// Connection state recovery through Hummingbird over real TCP: the client's TCP
/// connection is cut without a WebSocket close, as when a phone loses its signal.
@Suite("Over the wire: connection state recovery")
struct RecoveryOverTheWireTests {
    /// Opens a WebSocket session and connects to `/` with `auth`; returns the socket and
    /// the CONNECT answer.
    private func connect(_ server: TestServer, auth: String = "") async throws -> (WireWebSocket, JSONValue) {
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        #expect(try await socket.nextText()?.hasPrefix("0{") == true)
        try await socket.send("40" + auth)
        let reply = try #require(try await socket.nextText())
        try #require(reply.hasPrefix("40"), "got \(reply)")
        return (socket, try JSONValue(parsing: String(reply.dropFirst(2))))
    }

    private func nextEvent(_ socket: WireWebSocket) async throws -> [JSONValue] {
        let text = try #require(try await socket.nextText())
        try #require(text.hasPrefix("42"), "got \(text)")
        return try #require(try JSONValue(parsing: String(text.dropFirst(2))).arrayValue)
    }

    @Test("a dropped TCP connection is recovered: same sid, every broadcast sent meanwhile, in order")
    func droppedConnectionRecovers() async throws {
        let left = EventLog<String>()
        let server = try await TestServer.start(
            socketIO: { $0.connectionStateRecovery = ConnectionStateRecovery(maxDisconnectionDuration: .seconds(60)) },
            setUp: { io in
                io.sockets.onConnection { socket in
                    if !socket.recovered { socket.join("room") }
                    socket.onDisconnect { _, reason, _ in left.record(reason.rawValue) }
                }
            }
        )
        defer { Task { await server.stop() } }
        let (first, answer) = try await connect(server)
        let sid = try #require(answer["sid"]?.stringValue)
        let pid = try #require(answer["pid"]?.stringValue)
        server.io.sockets.to("room").emit("message", ["n": 0])
        let seen = try await nextEvent(first)
        let offset = try #require(seen.last?.stringValue)
        await first.close()
        #expect(await left.next(timeout: .seconds(20)) == "transport close")

        for n in 1...20 { server.io.sockets.to("room").emit("message", ["n": .integer(Int64(n))]) }
        let (second, resumed) = try await connect(server, auth: #"{"pid":"\#(pid)","offset":"\#(offset)"}"#)
        #expect(resumed["sid"]?.stringValue == sid)
        #expect(resumed["pid"]?.stringValue == pid)
        for n in 1...20 {
            let event = try await nextEvent(second)
            #expect(event.first == "message" && event.dropFirst().first?["n"] == .integer(Int64(n)))
        }
        server.io.sockets.to("room").emit("message", ["n": 21])
        #expect(try await nextEvent(second).dropFirst().first?["n"] == 21)
        await second.close()
    }
}
