import EngineTestSupport
import HTTPTypes
import NIOCore
import Synchronization
import Testing

@testable import EngineIO

/// What a session's delegate saw.
enum SessionEvent: Equatable, Sendable {
    case message(EngineMessage)
    case closed(EngineCloseReason)
}

final class RecordingDelegate: EngineSessionDelegate {
    let events = EventLog<SessionEvent>()
    let echo: Bool

    init(echo: Bool) { self.echo = echo }

    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        events.record(.message(message))
        guard echo else { return }
        switch message {
        case .text(let text): session.send(.message(text: text))
        case .binary(let bytes): session.send(.message(binary: bytes))
        }
    }

    func session(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
        events.record(.closed(reason))
    }
}

struct PollResult {
    var status: HTTPResponse.Status
    var body: String
    var headers: HTTPFields
}

/// Drives an `EngineServer` through its framework-neutral API, as an HTTP binding would.
final class EngineHarness: Sendable {
    let server: EngineServer
    private let delegates = Mutex<[String: RecordingDelegate]>([:])

    init(echo: Bool = true, configure: (inout EngineConfiguration) -> Void = { _ in }) {
        var configuration = EngineConfiguration()
        configure(&configuration)
        server = EngineServer(configuration: configuration)
        server.onConnection { [weak self] session in
            let delegate = RecordingDelegate(echo: echo)
            self?.delegates.withLock { $0[session.id] = delegate }
            return delegate
        }
    }

    func events(_ sid: String) -> EventLog<SessionEvent> {
        delegates.withLock { $0[sid]! }.events
    }

    func request(
        _ method: HTTPRequest.Method,
        _ query: [String: String],
        headers: HTTPFields = [:],
        host: String? = "127.0.0.1:5000",
        body: PollingBody? = nil
    ) async -> PollResult {
        let request = EngineRequest(method: method, path: "/engine.io/", query: query, headers: headers, host: host)
        let response = await server.handlePolling(request, body: body)
        return PollResult(status: response.status, body: String(buffer: response.body), headers: response.headers)
    }

    static func query(sid: String? = nil, transport: String = "polling") -> [String: String] {
        var query = ["EIO": "4", "transport": transport]
        if let sid { query["sid"] = sid }
        return query
    }

    /// Opens a polling session and returns its id.
    func handshake() async throws -> String {
        let response = await request(.get, Self.query())
        #expect(response.status == .ok)
        let prefix = #"0{"sid":""#
        try #require(response.body.hasPrefix(prefix))
        return String(response.body.dropFirst(prefix.count).prefix(20))
    }

    func get(_ sid: String) async -> PollResult {
        await request(.get, Self.query(sid: sid))
    }

    func post(_ sid: String, _ body: String) async -> PollResult {
        await request(.post, Self.query(sid: sid), body: .bytes(ByteBuffer(string: body)))
    }
}

extension EngineHarness {
    /// Starts serving a WebSocket request in the background; returns when admitted.
    @discardableResult
    func openWebSocket(_ socket: FakeWebSocket, sid: String? = nil) -> Task<Void, Never> {
        let request = EngineRequest(
            method: .get,
            path: "/engine.io/",
            query: Self.query(sid: sid, transport: "websocket"),
            headers: [:],
            host: "127.0.0.1:5000"
        )
        let admission = server.admitWebSocket(request)
        let server = self.server
        return Task { await server.serveWebSocket(admission, inbound: socket.inbound, writer: socket) }
    }
}
