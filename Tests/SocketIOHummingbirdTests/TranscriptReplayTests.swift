import EngineTestSupport
import Foundation
import NIOCore
import OrderedJSON
import SocketIO
import Synchronization
import Testing

/// Replays the client side of the recordings made against the Flask backend
/// (`Fixtures/flask-reference/socketio/`) and compares the Engine.IO / Socket.IO
/// framing the server sends back: open packets, upgrade replies, namespace CONNECT,
/// close. Chat events (`42…`) carry the old application's payloads and are left to the
/// gateway's own tests; so are the GETs that only carried such events.
@Suite("Replaying the Flask backend's recorded clients")
struct TranscriptReplayTests {
    static let scenarios: [String] = {
        let folder = fixturesFolder.appendingPathComponent("flask-reference/socketio")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted()
    }()

    @Test("the scenario files are there")
    func fixturesPresent() {
        #expect(Self.scenarios.count == 14)
    }

    @Test("server framing matches the recording, per client and direction", arguments: scenarios)
    func replay(_ file: String) async throws {
        let url = Self.fixturesFolder.appendingPathComponent("flask-reference/socketio/\(file)")
        let scenario = try Scenario(parsing: Data(contentsOf: url))
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }

        let replayer = Replayer(server: server)
        for step in scenario.steps { try await replayer.run(step) }
        await replayer.finish()

        for client in scenario.clients {
            // POST answers and GET/WebSocket traffic are separate streams: compare each in order.
            let expected = scenario.expectedFraming(for: client)
            let actual = await replayer.framing(for: client)
            let isPost = { (packet: String) in packet.hasPrefix("POST ") }
            #expect(actual.filter(isPost) == expected.filter(isPost), "POST answers, client \(client) in \(file)")
            #expect(actual.filter { !isPost($0) } == expected.filter { !isPost($0) }, "client \(client) in \(file)")
        }
    }

    static var fixturesFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
    }
}

/// What a recording's client did, in the order it did it.
struct Scenario {
    enum Step {
        case http(client: String, method: String, target: String, body: String, status: Int, response: String)
        case clientFrame(client: String, opcode: String, payload: String)
        case serverFrame(client: String, opcode: String, payload: String)
    }

    var steps: [Step] = []
    var clients: [String] = []

    init(parsing data: Data) throws {
        let json = try JSONValue(parsing: Array(data))
        for exchange in json["exchanges"]?.arrayValue ?? [] {
            let client = exchange["client"]?.stringValue ?? "?"
            if !clients.contains(client) { clients.append(client) }
            switch exchange["kind"]?.stringValue {
            case "http":
                steps.append(
                    .http(
                        client: client,
                        method: exchange["method"]?.stringValue ?? "GET",
                        target: exchange["target"]?.stringValue ?? "/",
                        body: exchange["request_body"]?.stringValue ?? "",
                        status: Int(exchange["status"]?.integerValue ?? 0),
                        response: exchange["response_body"]?.stringValue ?? ""
                    )
                )
            default:
                let opcode = exchange["opcode"]?.stringValue ?? "text"
                let payload = exchange["payload"]?.stringValue ?? (exchange["payload"]?.jsonString ?? "")
                if exchange["dir"]?.stringValue == "client->server" {
                    steps.append(.clientFrame(client: client, opcode: opcode, payload: payload))
                } else {
                    steps.append(.serverFrame(client: client, opcode: opcode, payload: payload))
                }
            }
        }
    }

    /// The framing packets the server sent this client, placeholders normalised.
    func expectedFraming(for client: String) -> [String] {
        var packets: [String] = []
        for step in steps {
            switch step {
            case .http(let who, let method, let target, _, let status, let response) where who == client:
                if method == "POST" {
                    packets.append("POST \(status)")
                } else if target.contains("transport=websocket") {
                    packets.append("upgrade \(status)")
                } else {
                    packets += response.split(separator: "\u{1e}").map(String.init).filter(Framing.isFraming)
                }
            case .serverFrame(let who, let opcode, let payload) where who == client:
                if opcode == "close" {
                    packets.append("close")
                } else if opcode == "text", Framing.isFraming(payload), payload != "6" {
                    // python-engineio sends a stray noop over the new WebSocket after "5";
                    // the reference does not, and clients ignore it.
                    packets.append(payload)
                }
            default:
                break
            }
        }
        return packets.map(Framing.normalised)
    }
}

enum Framing {
    /// Engine.IO / Socket.IO control traffic, as opposed to application events.
    static func isFraming(_ packet: String) -> Bool {
        !packet.isEmpty && !packet.hasPrefix("42") && packet != "6"
    }

    /// Session ids become `<SID>`, namespace socket ids `<NSP_SID>`.
    static func normalised(_ packet: String) -> String {
        var text = packet
        text = text.replacing(/"sid":"[A-Za-z0-9_<>-]+"/, with: #""sid":"<SID>""#)
        return text
    }
}

/// Plays a scenario's client steps against a live server.
actor Replayer {
    let server: TestServer
    private var sids: [String: String] = [:]
    private var pendingGets: [String: Task<WireResponse, any Error>] = [:]
    private var sockets: [String: WireWebSocket] = [:]
    private var readers: [String: Task<Void, Never>] = [:]
    private var framing: [String: [String]] = [:]
    private let received = EventLogStore()

    init(server: TestServer) { self.server = server }

    func run(_ step: Scenario.Step) async throws {
        switch step {
        case .http(let client, let method, let recordedTarget, let body, _, let recordedResponse):
            let target = substitute(recordedTarget, client: client)
            if method == "POST" {
                let response = try await server.post(target, body)
                record(client, "POST \(response.status)")
            } else if target.contains("transport=websocket") {
                await awaitPendingGet(client)
                let socket = try await server.webSocket(target)
                record(client, "upgrade \(socket.handshake.status)")
                sockets[client] = socket
                let log = received.log(for: client)
                readers[client] = Task {
                    while let frame = try? await socket.next() {
                        log.record(frame)
                        if case .close = frame { break }
                    }
                }
            } else if !target.contains("sid=") {
                let response = try await server.get(target)
                let open = response.text
                if let range = open.firstMatch(of: /"sid":"([A-Za-z0-9_-]{20})"/) {
                    sids[client] = String(range.1)
                }
                recordPayload(client, open)
            } else {
                await awaitPendingGet(client)
                // A GET that only brought chat events in the recording has nothing to wait for here.
                let carriesFraming = recordedResponse.split(separator: "\u{1e}").map(String.init).contains(
                    where: Framing.isFraming)
                guard carriesFraming else { return }
                let server = self.server
                pendingGets[client] = Task { try await server.get(target) }
            }
        case .clientFrame(let client, let opcode, let payload):
            guard let socket = sockets[client] else { return }
            if opcode == "close" {
                try? await socket.sendClose()
            } else {
                try await socket.send(payload)
            }
        case .serverFrame(let client, let opcode, let payload):
            // Wait for the frames the recording says came back, framing ones only.
            guard opcode == "close" || (opcode == "text" && Framing.isFraming(payload) && payload != "6") else {
                return
            }
            let log = received.log(for: client)
            while let frame = await log.next() {
                switch frame {
                case .text(let text) where Framing.isFraming(text):
                    record(client, text)
                    return
                case .close:
                    record(client, "close")
                    return
                default:
                    continue
                }
            }
            record(client, "missing \(payload)")
        }
    }

    func finish() async {
        for client in Array(pendingGets.keys) { await awaitPendingGet(client) }
        for socket in sockets.values { await socket.close() }
        for reader in readers.values { await reader.value }
    }

    func framing(for client: String) -> [String] { (framing[client] ?? []).map(Framing.normalised) }

    private func awaitPendingGet(_ client: String) async {
        guard let pending = pendingGets.removeValue(forKey: client) else { return }
        if let response = try? await pending.value { recordPayload(client, response.text) }
    }

    private func record(_ client: String, _ packet: String) { framing[client, default: []].append(packet) }

    private func recordPayload(_ client: String, _ body: String) {
        for packet in body.split(separator: "\u{1e}").map(String.init) where Framing.isFraming(packet) {
            record(client, packet)
        }
    }

    private func substitute(_ target: String, client: String) -> String {
        var result = target.replacingOccurrences(of: "<T>", with: "1")
        for (name, sid) in sids { result = result.replacingOccurrences(of: "<SID_\(name)>", with: sid) }
        return result
    }
}

/// One frame log per client, created on first use.
final class EventLogStore: Sendable {
    private let logs = Mutex<[String: EventLog<WireWebSocket.Frame>]>([:])

    func log(for client: String) -> EventLog<WireWebSocket.Frame> {
        logs.withLock { logs in
            if let log = logs[client] { return log }
            let log = EventLog<WireWebSocket.Frame>()
            logs[client] = log
            return log
        }
    }
}
