import EngineTestSupport
import HTTPTypes
import NIOCore
import Testing

@testable import EngineIO

/// Engine.IO v3 clients (`EIO=3`), accepted only with `allowEIO3`.
@Suite("Engine.IO v3 clients")
struct EngineV3Tests {
    /// With `b64`, polling answers use text framing, which these tests read as strings.
    private func v3Query(sid: String? = nil, transport: String = "polling", base64: Bool = true) -> [String: String] {
        var query = ["EIO": "3", "transport": transport]
        if base64 { query["b64"] = "1" }
        if let sid { query["sid"] = sid }
        return query
    }

    /// A polling GET's raw body and Content-Type.
    private func rawGet(_ harness: EngineHarness, _ query: [String: String]) async -> ([UInt8], String?) {
        let request = EngineRequest(
            method: .get, path: "/engine.io/", query: query, headers: [:], host: "127.0.0.1:5000")
        let response = await harness.server.handlePolling(request)
        return (Array(response.body.readableBytesView), response.headers[.contentType])
    }

    private func v3Handshake(_ harness: EngineHarness) async throws -> String {
        let response = await harness.request(.get, v3Query())
        let opening = try #require(response.body.split(separator: ":", maxSplits: 1).last)
        try #require(opening.hasPrefix(#"0{"sid":""#), "handshake: \(response.body)")
        let sid = String(opening.dropFirst(#"0{"sid":""#.count).prefix(20))
        #expect(response.body.hasPrefix("\(opening.utf16.count):"))
        return sid
    }

    @Test("refused with Unsupported protocol version unless allowEIO3 is on")
    func refusedByDefault() async throws {
        let harness = EngineHarness()
        let response = await harness.request(.get, v3Query())
        #expect(response.status == .badRequest)
        #expect(response.body == #"{"code":5,"message":"Unsupported protocol version"}"#)
        let request = EngineRequest(
            method: .get, path: "/engine.io/", query: v3Query(transport: "websocket"), headers: [:])
        guard case .refused(.unsupportedProtocolVersion) = harness.server.admitWebSocket(request) else {
            Issue.record("a v3 WebSocket was admitted")
            return
        }
    }

    @Test("polling: <length>:<packet> framing both ways, the binary framing of POSTs, base64 binary as b4")
    func pollingFraming() async throws {
        let harness = EngineHarness { $0.allowEIO3 = true }
        let sid = try await v3Handshake(harness)
        // Text framing (socket.io-client 2.x), lengths in UTF-16 code units.
        let text = "4héllo 😀"
        var response = await harness.request(
            .post, v3Query(sid: sid), body: .bytes(ByteBuffer(string: "\(text.utf16.count):\(text)2:4x")))
        #expect(response.body == "ok")
        let events = harness.events(sid)
        #expect(await events.next() == .message(.text("héllo 😀")))
        #expect(await events.next() == .message(.text("x")))
        #expect(await harness.request(.get, v3Query(sid: sid)).body == "\(text.utf16.count):\(text)2:4x")

        // Binary framing (python-engineio 3.x): lengths in bytes, a binary record carries its type byte.
        let packet = Array("4é".utf8)
        var body: [UInt8] = [0, UInt8(packet.count), 0xFF] + packet
        body += [1, 4, 0xFF, 4, 1, 2, 3]
        response = await harness.request(.post, v3Query(sid: sid), body: .bytes(ByteBuffer(bytes: body)))
        #expect(response.body == "ok")
        #expect(await events.next() == .message(.text("é")))
        #expect(await events.next() == .message(.binary(ByteBuffer(bytes: [1, 2, 3]))))
        #expect(await harness.request(.get, v3Query(sid: sid)).body == "2:4é6:b4AQID")
    }

    @Test("without b64, polling answers use the binary framing: byte lengths, raw binary with its type byte")
    func binaryFramedAnswers() async throws {
        let harness = EngineHarness { $0.allowEIO3 = true }
        let (opening, type) = await rawGet(harness, v3Query(base64: false))
        #expect(type == "application/octet-stream")
        let separator = try #require(opening.firstIndex(of: 0xFF))
        #expect(opening.first == 0)
        let length = opening[1..<separator].reduce(0) { $0 * 10 + Int($1) }
        #expect(length == opening.count - separator - 1)
        let open = String(decoding: opening[(separator + 1)...], as: UTF8.self)
        let sid = String(open.dropFirst(#"0{"sid":""#.count).prefix(20))
        let text = Array("4😀".utf8)
        let body: [UInt8] = [0, UInt8(text.count), 0xFF] + text + [1, 3, 0xFF, 4, 7, 8]
        _ = await harness.request(.post, v3Query(sid: sid), body: .bytes(ByteBuffer(bytes: body)))
        let (answer, _) = await rawGet(harness, v3Query(sid: sid, base64: false))
        #expect(answer == [0, 5, 0xFF] + text + [1, 3, 0xFF, 4, 7, 8])
    }

    @Test("a malformed v3 payload closes that session", arguments: ["5:4abc", "x:4", "2:b1AA", "4"])
    func malformedPayload(_ body: String) async throws {
        let harness = EngineHarness { $0.allowEIO3 = true }
        let sid = try await v3Handshake(harness)
        let response = await harness.request(.post, v3Query(sid: sid), body: .bytes(ByteBuffer(string: body)))
        #expect(response.status == .badRequest)
        #expect(await harness.events(sid).next() == .closed(.parseError))
    }

    @Test("the client pings and the server answers; a client that stops pinging is closed")
    func clientDrivenHeartbeat() async throws {
        let harness = EngineHarness {
            $0.allowEIO3 = true
            // Silence for pingInterval + pingTimeout closes the session: long enough for a
            // loaded machine to carry the requests below, each of which is a client ping.
            $0.pingInterval = .seconds(1)
            $0.pingTimeout = .seconds(1)
        }
        let sid = try await v3Handshake(harness)
        _ = await harness.request(.post, v3Query(sid: sid), body: .bytes(ByteBuffer(string: "1:2")))
        #expect(await harness.request(.get, v3Query(sid: sid)).body == "1:3")
        _ = await harness.request(.post, v3Query(sid: sid), body: .bytes(ByteBuffer(string: "6:2probe")))
        #expect(await harness.request(.get, v3Query(sid: sid)).body == "6:3probe")
        // The server never pings a v3 client: once it stops, it is closed for silence.
        #expect(await harness.events(sid).next() == .closed(.pingTimeout))
    }

    @Test("WebSocket: binary frames carry the type byte both ways")
    func webSocketBinary() async throws {
        let harness = EngineHarness { $0.allowEIO3 = true }
        let socket = FakeWebSocket()
        let request = EngineRequest(
            method: .get, path: "/engine.io/", query: v3Query(transport: "websocket"), headers: [:])
        let admission = harness.server.admitWebSocket(request)
        let server = harness.server
        let serving = Task { await server.serveWebSocket(admission, inbound: socket.inbound, writer: socket) }
        let open = try #require(await socket.nextText())
        #expect(open.hasPrefix(#"0{"sid":""#))
        socket.send("2")
        #expect(await socket.nextText() == "3")
        socket.send(binary: [4, 9, 8])
        #expect(await socket.written.next() == .binary(ByteBuffer(bytes: [4, 9, 8])))
        socket.send(binary: [7, 1])
        #expect(await socket.closedLog.next() == true)
        await serving.value
    }
}
