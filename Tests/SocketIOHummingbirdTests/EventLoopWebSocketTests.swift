import EngineIO
import EngineTestSupport
import Logging
import NIOCore
import NIOEmbedded
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
    /// A server whose sessions all report to one delegate; each new session is recorded.
    private static func recordingServer() async throws -> (
        TestServer, LoopRecordingDelegate, EventLog<EngineSession>
    ) {
        let delegate = LoopRecordingDelegate()
        let sessions = EventLog<EngineSession>()
        let server = try await TestServer.start(setUp: { io in
            io.engine.onConnection { session in
                sessions.record(session)
                return delegate
            }
        })
        return (server, delegate, sessions)
    }

    @Test("a WebSocket's messages reach the session on its event loop, and the socket stays open for replies")
    func messagesArriveOnTheSessionLoop() async throws {
        let (server, delegate, sessions) = try await Self.recordingServer()
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

    @Test("an upgrade request and messages many times the first read's size arrive whole")
    func readsLargerThanTheFirstBuffer() async throws {
        let (server, delegate, sessions) = try await Self.recordingServer()
        defer { Task { await server.stop() } }
        let cookie = (1...6).map { "cookie\($0)=" + String(repeating: "c", count: 500) }.joined(separator: "; ")
        let socket = try await server.webSocket(
            "/socket.io/?EIO=4&transport=websocket", headers: [("Cookie", cookie)])
        #expect(socket.handshake.status == 101)
        #expect(try await socket.nextText()?.hasPrefix("0{") == true)
        let session = try #require(await sessions.next())
        #expect(session.request.cookies["cookie6"] == String(repeating: "c", count: 500))

        for size in [100, 600, 5_000, 60_000, 7, 300] {
            let text = String(repeating: "m", count: size)
            try await socket.send("4" + text)
            #expect(try #require(await delegate.onLoop.next()).message == .text(text))
        }
        await socket.close()
    }

    @Test("each connection's reads start at 512 bytes, not at NIO's 2 KB")
    func connectionsStartWithSmallReads() throws {
        let channel = EmbeddedChannel()
        // What a TCP channel starts with.
        try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator())
        let upgrade = EngineIOWebSocketUpgrade([
            EngineIOEndpoint(path: "/socket.io", engine: EngineServer(configuration: EngineConfiguration()))
        ])
        let child = EngineIOUpgradeChannel(
            responder: { _, _, _ in }, idleTimeout: nil, maxFrameSize: 1 << 16, upgrade: upgrade)
        _ = try child.setup(channel: channel, logger: Logger(label: "test")).wait()
        let allocator = try channel.syncOptions?.getOption(ChannelOptions.recvAllocator)
        #expect((allocator as? AdaptiveRecvByteBufferAllocator)?.nextBufferSize() == 512)
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}
