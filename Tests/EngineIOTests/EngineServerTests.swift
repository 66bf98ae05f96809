import EngineTestSupport
import HTTPTypes
import NIOCore
import Testing

@testable import EngineIO

@Suite("Engine.IO server: handshake, polling, errors, close")
struct EngineServerTests {
    @Test("the polling handshake is the reference's open packet")
    func handshakeOpenPacket() async throws {
        let harness = EngineHarness()
        let response = await harness.request(.get, EngineHarness.query())
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/plain; charset=UTF-8")
        let pattern =
            /0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000\}/
        #expect(try pattern.wholeMatch(in: response.body) != nil)
    }

    @Test("no upgrade is offered when upgrades are off or WebSocket is not allowed")
    func handshakeWithoutUpgrades() async throws {
        for configure in [
            { (c: inout EngineConfiguration) in c.allowUpgrades = false }, { $0.transports = [.polling] },
        ] {
            let harness = EngineHarness(configure: configure)
            let response = await harness.request(.get, EngineHarness.query())
            #expect(response.body.contains(#""upgrades":[]"#))
        }
    }

    @Test(
        "protocol errors answer 400 with the reference's code and message",
        arguments: [
            (HTTPRequest.Method.get, ["transport": "polling"], #"{"code":5,"message":"Unsupported protocol version"}"#),
            (.get, ["EIO": "abc", "transport": "polling"], #"{"code":5,"message":"Unsupported protocol version"}"#),
            (.get, ["EIO": "3", "transport": "polling"], #"{"code":5,"message":"Unsupported protocol version"}"#),
            (.get, ["EIO": "4"], #"{"code":0,"message":"Transport unknown"}"#),
            (.get, ["EIO": "4", "transport": "abc"], #"{"code":0,"message":"Transport unknown"}"#),
            (.get, ["EIO": "4", "transport": "websocket"], #"{"code":0,"message":"Transport unknown"}"#),
            (.post, ["EIO": "4", "transport": "polling"], #"{"code":2,"message":"Bad handshake method"}"#),
            (.put, ["EIO": "4", "transport": "polling"], #"{"code":2,"message":"Bad handshake method"}"#),
            (.get, ["EIO": "4", "transport": "polling", "sid": "nope"], #"{"code":1,"message":"Session ID unknown"}"#),
        ])
    func protocolErrors(_ method: HTTPRequest.Method, _ query: [String: String], _ body: String) async {
        let harness = EngineHarness()
        let response = await harness.request(method, query)
        #expect(response.status == .badRequest)
        #expect(response.body == body)
        #expect(response.headers[.contentType] == "application/json")
    }

    @Test("a POST answers ok and its messages reach the delegate in order")
    func postDeliversMessages() async throws {
        let harness = EngineHarness(echo: false)
        let sid = try await harness.handshake()
        let response = await harness.post(sid, "4first\u{1e}4second\u{1e}bAQID")
        #expect(response.status == .ok)
        #expect(response.body == "ok")
        let events = harness.events(sid)
        #expect(await events.next() == .message(.text("first")))
        #expect(await events.next() == .message(.text("second")))
        #expect(await events.next() == .message(.binary(ByteBuffer(bytes: [1, 2, 3]))))
    }

    @Test("a GET with nothing queued waits for the next packet")
    func getWaitsForData() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        async let poll = harness.get(sid)
        // The echo delegate answers this message on the pending GET.
        _ = await harness.post(sid, "4ping-me")
        let result = await poll
        #expect(result.status == .ok)
        #expect(result.body == "4ping-me")
    }

    @Test("a polling response carries at most maxPacketsPerPoll packets; the rest wait")
    func pollBatchLimit() async throws {
        let harness = EngineHarness { $0.maxPacketsPerPoll = 16 }
        let sid = try await harness.handshake()
        let body = (1...20).map { "4m\($0)" }.joined(separator: "\u{1e}")
        _ = await harness.post(sid, body)
        let first = await harness.get(sid)
        #expect(first.body.split(separator: "\u{1e}").count == 16)
        let second = await harness.get(sid)
        #expect(second.body == (17...20).map { "4m\($0)" }.joined(separator: "\u{1e}"))
    }

    @Test("a second concurrent GET closes the session: the first gets a close packet, the second 400")
    func duplicateGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        async let first = harness.get(sid)
        // Wait until the first GET is really pending before sending the second.
        try await waitUntil { harness.server.session(id: sid)?.isPolling == true }
        let second = await harness.get(sid)
        #expect(second.status == .badRequest)
        #expect(await first.body == "1")
        #expect(await harness.events(sid).next() == .closed(.transportError))
        #expect(await harness.get(sid).status == .badRequest)
    }

    @Test("a client close packet releases the pending GET with a noop")
    func clientCloseWithPendingGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        async let poll = harness.get(sid)
        try await waitUntil { harness.server.session(id: sid)?.isPolling == true }
        #expect(await harness.post(sid, "1").status == .ok)
        #expect(await poll.body == "6")
        #expect(await harness.events(sid).next() == .closed(.transportClose))
        #expect(await harness.get(sid).body == #"{"code":1,"message":"Session ID unknown"}"#)
    }

    @Test("a GET that arrives just after the client's close gets a noop, then the session is unknown")
    func clientCloseBeforeGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        _ = await harness.post(sid, "1")
        #expect(await harness.events(sid).next() == .closed(.transportClose))
        let late = await harness.get(sid)
        #expect(late.status == .ok)
        #expect(late.body == "6")
        #expect(await harness.get(sid).status == .badRequest)
    }

    @Test("a GET that found the session just before the client's close POST landed gets a noop, not an error")
    func clientCloseRacingGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        // The GET has passed the session lookup when the POST's close is handled.
        let session = try #require(harness.server.session(id: sid))
        _ = await harness.post(sid, "1")
        guard case .payload(let packets) = await session.poll() else {
            Issue.record("the racing GET was refused")
            return
        }
        #expect(packets == [.noop])
        #expect(harness.server.session(id: sid) == nil, "answered: the session is gone")
    }

    @Test("a session the client closed frees its client's place at once, while it waits for the last GET")
    func clientCloseFreesAddressSlot() async throws {
        let harness = EngineHarness { $0.maxSessionsPerAddress = 1 }
        let sid = try await harness.handshake()
        #expect(await harness.request(.get, EngineHarness.query()).status == .forbidden)
        _ = await harness.post(sid, "1")
        _ = try await harness.handshake()
        #expect(await harness.get(sid).body == "6", "the closed session still answers its last GET")
    }

    @Test("shutting down ends at once a session the client closed that still waits for its last GET")
    func shutdownEndsClientClosedSession() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        _ = await harness.post(sid, "1")
        #expect(harness.server.session(id: sid) != nil, "kept for its racing GET")
        session.close(reason: .serverShutdown)
        #expect(harness.server.session(id: sid) == nil, "nothing left to wait for at shutdown")
    }

    @Test("a server close hands queued packets and a close packet to the pending GET")
    func serverCloseWithPendingGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        async let poll = harness.get(sid)
        try await waitUntil { session.isPolling }
        session.close()
        #expect(await poll.body == "1")
        #expect(await harness.events(sid).next() == .closed(.forcedClose))
    }

    @Test("a server close with no GET pending keeps the packets for the next GET, then forgets the session")
    func serverCloseWithoutPendingGet() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        session.send(.message(text: "bye"))
        session.close()
        #expect(!session.send(.message(text: "too late")))
        let last = await harness.get(sid)
        #expect(last.body == "4bye\u{1e}1")
        #expect(await harness.events(sid).next() == .closed(.forcedClose))
        #expect(await harness.get(sid).status == .badRequest)
    }

    @Test("shutdown answers pending GETs with a close packet, refuses new sessions, and gives up after the grace")
    func shutdown() async throws {
        let harness = EngineHarness()
        let polling = try await harness.handshake()
        let idle = try await harness.handshake()
        let session = try #require(harness.server.session(id: polling))
        async let pending = harness.get(polling)
        try await waitUntil { session.isPolling }
        let clock = ContinuousClock()
        let start = clock.now
        await harness.server.shutdown(grace: .milliseconds(200))
        // The idle session never came back for its close packet: dropped at the deadline.
        #expect(clock.now - start >= .milliseconds(200))
        #expect(await pending.body == "1")
        #expect(harness.server.sessionCount == 0)
        #expect(await harness.events(idle).next() == .closed(.serverShutdown))
        #expect(await harness.request(.get, EngineHarness.query()).status == .forbidden)
    }

    @Test("an invalid payload answers 400 and closes only that session")
    func invalidPayload() async throws {
        let harness = EngineHarness()
        let bad = try await harness.handshake()
        let good = try await harness.handshake()
        let response = await harness.post(bad, "abc")
        #expect(response.status == .badRequest)
        #expect(await harness.events(bad).next() == .closed(.parseError))
        #expect(await harness.get(bad).status == .badRequest)
        _ = await harness.post(good, "4still here")
        #expect(await harness.get(good).body == "4still here")
    }

    @Test("an oversized POST answers 413 and ends the session")
    func oversizedPost() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let response = await harness.request(.post, EngineHarness.query(sid: sid), body: .tooLarge)
        #expect(response.status == .contentTooLarge)
        #expect(await harness.events(sid).next() == .closed(.transportError))
    }

    @Test("a client that lets packets pile up past the limit is disconnected")
    func bufferOverflow() async throws {
        let harness = EngineHarness { $0.maxBufferedPackets = 10 }
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        for index in 0..<10 { #expect(session.send(.message(text: "\(index)"))) }
        #expect(!session.send(.message(text: "one too many")))
        #expect(await harness.events(sid).next() == .closed(.bufferOverflow))
    }

    @Test("sendIfWritable drops packets unless a GET is waiting")
    func sendIfWritable() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        #expect(!session.sendIfWritable([.message(text: "dropped")]))
        async let poll = harness.get(sid)
        try await waitUntil { session.isPolling }
        #expect(session.sendIfWritable([.message(text: "delivered")]))
        #expect(await poll.body == "4delivered")
    }

    @Test("CORS: any origin gets *, listed origins are echoed with credentials, others are refused")
    func cors() async throws {
        let open = EngineHarness()
        let any = await open.request(.get, EngineHarness.query(), headers: [.origin: "http://elsewhere.test"])
        #expect(any.headers[.accessControlAllowOrigin] == "*")
        #expect(any.headers[.accessControlAllowCredentials] == nil)

        let listed = EngineHarness { $0.cors = .origins(["http://chat.test"]) }
        let allowed = await listed.request(.get, EngineHarness.query(), headers: [.origin: "http://chat.test"])
        #expect(allowed.status == .ok)
        #expect(allowed.headers[.accessControlAllowOrigin] == "http://chat.test")
        #expect(allowed.headers[.accessControlAllowCredentials] == "true")
        let refused = await listed.request(.get, EngineHarness.query(), headers: [.origin: "http://evil.test"])
        #expect(refused.status == .forbidden)
        #expect(refused.body == #"{"code":4,"message":"Forbidden"}"#)
        let sameOrigin = await listed.request(
            .get, EngineHarness.query(), headers: [.origin: "http://127.0.0.1:5000"], host: "127.0.0.1:5000"
        )
        #expect(sameOrigin.status == .ok)

        let preflight = await listed.request(
            .options, EngineHarness.query(),
            headers: [.origin: "http://chat.test", .accessControlRequestHeaders: "content-type"]
        )
        #expect(preflight.status == .noContent)
        #expect(preflight.headers[.accessControlAllowMethods] == "GET, POST")
        #expect(preflight.headers[.accessControlAllowHeaders] == "content-type")
    }
}

@Suite("Engine.IO heartbeat")
struct EngineHeartbeatTests {
    @Test("the server pings every pingInterval and a pong keeps the session")
    func pingPong() async throws {
        // The server pings again only once the pong is in, so a pong it ignored would leave
        // the next GET without a ping. The pingTimeout is far longer than any scheduling
        // delay of a loaded machine: whether a slow pong is late is not this test's subject.
        let harness = EngineHarness {
            $0.pingInterval = .milliseconds(50)
            $0.pingTimeout = .seconds(20)
        }
        let sid = try await harness.handshake()
        for _ in 0..<3 {
            #expect(await harness.get(sid).body == "2")
            #expect(await harness.post(sid, "3").status == .ok)
        }
        #expect(harness.server.session(id: sid)?.isOpen == true)
    }

    @Test("no pong: the session closes at pingInterval + pingTimeout, with nobody polling")
    func pingTimeout() async throws {
        let harness = EngineHarness {
            $0.pingInterval = .milliseconds(1_000)
            $0.pingTimeout = .milliseconds(200)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let sid = try await harness.handshake()
        #expect(await harness.events(sid).next() == .closed(.pingTimeout))
        let elapsed = clock.now - start
        // Nobody polls, so only the timer can have closed it; the bound below is a floor,
        // which a loaded machine cannot break.
        #expect(elapsed >= .milliseconds(1_200))
        #expect(await harness.get(sid).status == .badRequest)
    }
}

/// Polls a condition that has no event to wait on (a GET becoming pending inside the engine).
func waitUntil(_ condition: () -> Bool, timeout: Duration = .seconds(5)) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        guard clock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            throw CancellationError()
        }
        await Task.yield()
    }
}
