import EngineIO
import EngineTestSupport
import NIOCore
import Testing

@testable import SocketIOHummingbird

/// Records, for each message, whether it was handed over on the session's event loop.
private final class LoopRecordingDelegate: EngineSessionDelegate {
    let onLoop = EventLog<(message: EngineMessage, onSessionLoop: Bool)>()

    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        onLoop.record((message, session.eventLoop.inEventLoop))
    }

    func session(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {}
}

@Suite("WebSockets run on their channel's event loop")
struct EventLoopWebSocketTests {
    @Test("a WebSocket's messages reach the session on its event loop, and the socket stays open for replies")
    func messagesArriveOnTheSessionLoop() async throws {
        let delegate = LoopRecordingDelegate()
        let sessions = EventLog<EngineSession>()
        let server = try await TestServer.start(setUp: { io in
            io.engine.onConnection { session in
                sessions.record(session)
                return delegate
            }
        })
        defer { Task { await server.stop() } }
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        #expect(socket.handshake.status == 101)
        #expect(try await socket.nextText()?.hasPrefix("0{") == true)
        let session = try #require(await sessions.next())

        try await socket.send("4first")
        try await socket.send(binary: [1, 2, 3])
        let first = try #require(await delegate.onLoop.next())
        #expect(first.message == .text("first"))
        #expect(first.onSessionLoop, "handled on the channel's loop, which the session runs on")
        let second = try #require(await delegate.onLoop.next())
        #expect(second.message == .binary(ByteBuffer(bytes: [1, 2, 3])))
        #expect(second.onSessionLoop)

        // Long after the upgrade's handler returned, the connection still carries both ways.
        session.send(.message(text: "reply"))
        #expect(try await socket.nextText() == "4reply")
        session.close()
        #expect(try await socket.closeCode() == 1000)
        await socket.close()
    }
}
