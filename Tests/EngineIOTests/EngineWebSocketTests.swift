import EngineTestSupport
import NIOCore
import Testing

@testable import EngineIO

@Suite("Engine.IO over WebSocket, and the upgrade from polling")
struct EngineWebSocketTests {
    @Test("a direct WebSocket session opens with no upgrades offered and echoes text and binary")
    func directSession() async throws {
        let harness = EngineHarness()
        let socket = FakeWebSocket()
        let serving = harness.openWebSocket(socket)
        let open = try #require(await socket.nextText())
        #expect(open.hasPrefix(#"0{"sid":""#))
        #expect(open.contains(#""upgrades":[]"#))
        socket.send("4hello")
        #expect(await socket.nextText() == "4hello")
        socket.send(binary: [1, 2, 3])
        #expect(await socket.written.next() == .binary(ByteBuffer(bytes: [1, 2, 3])))
        socket.disconnect()
        await serving.value
        #expect(harness.server.sessionCount == 0)
    }

    @Test("an invalid frame closes the socket and the session")
    func invalidFrame() async throws {
        let harness = EngineHarness()
        let socket = FakeWebSocket()
        let serving = harness.openWebSocket(socket)
        let open = try #require(await socket.nextText())
        let sid = String(open.dropFirst(#"0{"sid":""#.count).prefix(20))
        socket.send("abc")
        #expect(await socket.closedLog.next() == true)
        await serving.value
        #expect(await harness.events(sid).next() == .closed(.parseError))
    }

    @Test("a close packet from the client ends the session")
    func clientClose() async throws {
        let harness = EngineHarness()
        let socket = FakeWebSocket()
        let serving = harness.openWebSocket(socket)
        _ = await socket.nextText()
        socket.send("1")
        #expect(await socket.closedLog.next() == true)
        await serving.value
        #expect(harness.server.sessionCount == 0)
    }

    @Test("pings go out over the socket and a missing pong closes it")
    func heartbeat() async throws {
        // The timeout leaves room for a loaded machine to answer the first ping in time;
        // the missing second pong then costs the test that long.
        let harness = EngineHarness {
            $0.pingInterval = .milliseconds(50)
            $0.pingTimeout = .seconds(2)
        }
        let socket = FakeWebSocket()
        let serving = harness.openWebSocket(socket)
        _ = await socket.nextText()
        #expect(await socket.nextText() == "2")
        socket.send("3")
        #expect(await socket.nextText() == "2")
        #expect(await socket.closedLog.next() == true)
        await serving.value
    }

    @Test("upgrade: probe, noop for the pending GET, switch, then polling is refused")
    func upgrade() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        async let pendingGet = harness.get(sid)
        try await waitUntil { session.isPolling }

        let socket = FakeWebSocket()
        let serving = harness.openWebSocket(socket, sid: sid)
        socket.send("2probe")
        #expect(await socket.nextText() == "3probe")
        #expect(await pendingGet.body == "6")
        // Sent while the upgrade is not complete: goes out over the WebSocket once it is.
        session.send(.message(text: "queued"))
        socket.send("5")
        #expect(await socket.nextText() == "4queued")
        #expect(session.transport == .websocket)
        #expect(await harness.get(sid).body == #"{"code":3,"message":"Bad request"}"#)
        socket.send("4after")
        #expect(await socket.nextText() == "4after")

        // A second WebSocket for the same session is accepted and closed at once.
        let intruder = FakeWebSocket()
        let intruding = harness.openWebSocket(intruder, sid: sid)
        #expect(await intruder.closedLog.next() == true)
        await intruding.value
        socket.send("4still mine")
        #expect(await socket.nextText() == "4still mine")

        socket.disconnect()
        await serving.value
    }

    /// A polling session whose WebSocket probe has been answered: the upgrade is under way.
    static func probedSession(
        countsArrivals: Bool = false
    ) async throws -> (EngineHarness, String, FakeWebSocket, Task<Void, Never>) {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let socket = FakeWebSocket(countsArrivals: countsArrivals)
        let serving = harness.openWebSocket(socket, sid: sid)
        socket.send("2probe")
        #expect(await socket.nextText() == "3probe")
        return (harness, sid, socket, serving)
    }

    @Test("a GET that races the upgrade packet is refused once the upgrade completes")
    func getRacingTheUpgradePacket() async throws {
        let (harness, sid, socket, serving) = try await Self.probedSession()
        let session = try #require(harness.server.session(id: sid))
        // Sent after the probe's answer, handled before the upgrade packet.
        async let racing = harness.get(sid)
        try await waitUntil { session.isPolling }
        socket.send("5")
        #expect(await racing.status == .badRequest, "answered as any GET after the upgrade")
        #expect(session.transport == .websocket)
        socket.disconnect()
        await serving.value
    }

    @Test("a GET sent before the upgrade packet, handled after it was read, is refused")
    func getRacingAnUpgradePacketNotHandledYet() async throws {
        let (harness, sid, socket, serving) = try await Self.probedSession(countsArrivals: true)
        let session = try #require(harness.server.session(id: sid))
        // The upgrade packet is off the network but its handling lags behind the GET.
        socket.arrive("5")
        async let racing = harness.get(sid)
        try await waitUntil { session.upgradeChecksDeferred > 0 }
        socket.deliverArrived()
        #expect(await racing.status == .badRequest, "not released with a noop by the upgrade check")
        #expect(session.transport == .websocket)
        socket.disconnect()
        await serving.value
    }

    @Test("a GET waiting when the probe is handled, with the upgrade packet read behind it, is refused")
    func getWaitingWhenProbeAndUpgradeArriveTogether() async throws {
        let harness = EngineHarness()
        let sid = try await harness.handshake()
        let session = try #require(harness.server.session(id: sid))
        async let pendingGet = harness.get(sid)
        try await waitUntil { session.isPolling }
        let socket = FakeWebSocket(countsArrivals: true)
        let serving = harness.openWebSocket(socket, sid: sid)
        socket.arrive("2probe")
        socket.arrive("5")
        socket.deliverArrived()
        #expect(await socket.nextText() == "3probe")
        #expect(await pendingGet.status == .badRequest, "not released with a noop at the probe")
        #expect(session.transport == .websocket)
        socket.disconnect()
        await serving.value
    }

    @Test(
        "a GET during an upgrade whose upgrade packet does not follow is released with a noop",
        arguments: [false, true]
    )
    func getDuringUpgradeIsReleased(countsArrivals: Bool) async throws {
        let (harness, sid, socket, serving) = try await Self.probedSession(countsArrivals: countsArrivals)
        #expect(await harness.get(sid).body == "6")
        socket.disconnect()
        await serving.value
    }

    @Test("a probe socket that goes away leaves the session on polling")
    func abandonedUpgrade() async throws {
        let (harness, sid, socket, serving) = try await Self.probedSession()
        socket.disconnect()
        await serving.value
        #expect(harness.server.session(id: sid)?.transport == .polling)
        _ = await harness.post(sid, "4polling")
        #expect(await harness.get(sid).body == "4polling")
    }
}
