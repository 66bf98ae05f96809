import EngineIO
import EngineTestSupport
import NIOCore
import OrderedJSON
import SocketIO
import Testing

/// The whole stack over real TCP connections: Hummingbird, the binding, Engine.IO, Socket.IO.
@Suite("Over the wire: Hummingbird binding")
struct OverTheWireTests {
    @Test("polling handshake, errors and ordinary routes share one port")
    func handshakeAndRoutes() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let handshake = try await server.get("/socket.io/?EIO=4&transport=polling")
        #expect(handshake.status == 200)
        #expect(handshake.header("Content-Type") == "text/plain; charset=UTF-8")
        #expect(
            handshake.text.contains(
                #""upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}"#))
        // Without the trailing slash too.
        #expect(try await server.get("/socket.io?EIO=4&transport=polling").status == 200)
        let unknownSid = try await server.get("/socket.io/?EIO=4&transport=polling&sid=xyz")
        #expect(unknownSid.status == 400)
        #expect(unknownSid.text == #"{"code":1,"message":"Session ID unknown"}"#)
        let badMethod = try await WireHTTP.request(port: server.port, "PUT", "/socket.io/?EIO=4&transport=polling")
        #expect(badMethod.text == #"{"code":2,"message":"Bad handshake method"}"#)
        #expect(try await server.get("/hello").text == "hello")
        #expect(try await server.get("/nowhere").status == 404)
    }

    @Test("the Engine.IO path is configurable")
    func customPath() async throws {
        let server = try await TestServer.start(path: "/realtime")
        defer { Task { await server.stop() } }
        #expect(try await server.get("/realtime/?EIO=4&transport=polling").status == 200)
        #expect(try await server.get("/socket.io/?EIO=4&transport=polling").status == 404)
    }

    @Test("a long-poll waits while POSTs go through on other connections")
    func longPollWithConcurrentPost() async throws {
        let server = try await TestServer.start(setUp: { io in
            io.sockets.onConnection { socket in
                socket.on("echo") { event in event.socket.emit("echoed", args: event.args) }
            }
        })
        defer { Task { await server.stop() } }
        let sid = try await server.handshake()
        #expect(try await server.post("/socket.io/?EIO=4&transport=polling&sid=\(sid)", "40").text == "ok")
        let connected = try await server.get("/socket.io/?EIO=4&transport=polling&sid=\(sid)")
        #expect(connected.text.hasPrefix(#"40{"sid":""#))
        async let poll = server.get("/socket.io/?EIO=4&transport=polling&sid=\(sid)")
        try await waitForPendingPoll(server, sid)
        _ = try await server.post("/socket.io/?EIO=4&transport=polling&sid=\(sid)", #"42["echo","é",{"n":1}]"#)
        #expect(try await poll.text == #"42["echoed","é",{"n":1}]"#)
    }

    @Test("binary over polling is base64 both ways")
    func binaryOverPolling() async throws {
        let server = try await TestServer.start(setUp: { io in
            io.sockets.onConnection { socket in socket.on("bin") { event in event.socket.emit("bin", args: event.args) }
            }
        })
        defer { Task { await server.stop() } }
        let sid = try await server.handshake()
        let url = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"
        _ = try await server.post(url, "40")
        _ = try await server.get(url)
        _ = try await server.post(url, "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID")
        let reply = try await server.get(url)
        #expect(reply.text == "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID")
    }

    @Test("a POST over maxPayload gets 413 and the session ends; a WebSocket frame over it closes the socket")
    func maxPayload() async throws {
        let server = try await TestServer.start { $0.maxPayload = 1000 }
        defer { Task { await server.stop() } }
        let sid = try await server.handshake()
        let big = "4" + String(repeating: "x", count: 1000)
        let response = try await server.post("/socket.io/?EIO=4&transport=polling&sid=\(sid)", big)
        #expect(response.status == 413)
        #expect(try await server.get("/socket.io/?EIO=4&transport=polling&sid=\(sid)").status == 400)

        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        #expect(socket.handshake.status == 101)
        _ = try await socket.nextText()
        try await socket.send(big)
        #expect(try await socket.closeCode() == 1009)
        await socket.close()
    }

    @Test("WebSocket upgrade: probe, noop to the pending GET, then the session runs on the socket")
    func upgradeSequence() async throws {
        let server = try await TestServer.start(setUp: { io in
            io.sockets.onConnection { socket in socket.on("echo") { event in event.ack?.send(event.args) } }
        })
        defer { Task { await server.stop() } }
        let sid = try await server.handshake()
        let url = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"
        _ = try await server.post(url, "40")
        _ = try await server.get(url)
        async let pending = server.get(url)
        try await waitForPendingPoll(server, sid)
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket&sid=\(sid)")
        #expect(socket.handshake.status == 101)
        try await socket.send("2probe")
        #expect(try await socket.nextText() == "3probe")
        #expect(try await pending.text == "6")
        try await socket.send("5")
        try await socket.send(#"421["echo",true]"#)
        #expect(try await socket.nextText() == "431[true]")
        #expect(try await server.get(url).text == #"{"code":3,"message":"Bad request"}"#)
        await socket.close()
    }

    @Test("a WebSocket with an unknown session id is refused; other WebSocket paths too")
    func refusedUpgrades() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        #expect(await (try server.webSocket("/socket.io/?EIO=4&transport=websocket&sid=nope")).handshake.status == 400)
        #expect(await (try server.webSocket("/socket.io/?EIO=3&transport=websocket")).handshake.status == 400)
        #expect(await (try server.webSocket("/elsewhere")).handshake.status == 400)
    }

    @Test("heartbeat over WebSocket: pings on time, and a silent client is dropped at the deadline")
    func heartbeatOverWebSocket() async throws {
        // A close by the timeout timer (1,200 ms after the open packet) stays apart from a
        // close at the first ping (1,000 ms); the order of frames rules out one noticed at
        // a later ping cycle. Only floors are asserted: a loaded machine delays, never hurries.
        let server = try await TestServer.start {
            $0.pingInterval = .seconds(1)
            $0.pingTimeout = .milliseconds(200)
        }
        defer { Task { await server.stop() } }
        let socket = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        _ = try await socket.next()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await socket.next() == .text("2"))
        let pinged = clock.now
        // The timer closes it: nothing else comes first (no next ping cycle notices it).
        guard case .close = try await socket.next() else {
            Issue.record("the frame after an unanswered ping is not the close")
            return
        }
        let elapsed = clock.now - start
        // The deadline runs from the session's start, before the client sees its open packet, so
        // a client slow to read it measures less (a loaded run: 200 ms less); counted from the
        // ping, the timer's close comes pingTimeout (200 ms) after it. A close at the ping
        // itself fails both: about 1,000 ms from the open and nothing after the ping.
        let afterPing = clock.now - pinged
        #expect(
            elapsed >= .milliseconds(1_050) || afterPing >= .milliseconds(150),
            "\(elapsed) from the open, \(afterPing) from the ping")
        await socket.close()
    }

    @Test("Socket.IO over a real WebSocket: namespaces, rooms, acks both ways, binary, disconnect")
    func socketIOOverWebSocket() async throws {
        let server = try await TestServer.start(setUp: { io in
            io.sockets.onConnection { socket in
                socket.on("join") { event in
                    event.socket.join(event.args.first?.stringValue ?? "")
                    event.ack?("ok")
                }
                socket.on("say") { event in
                    event.socket.to("room").emit("said", args: event.args)
                }
                socket.on("ask") { event in
                    let answer = try? await event.socket.emitWithAck("q", args: [], timeout: .seconds(5))
                    event.ack?.send(answer ?? ["none"])
                }
                socket.on("bye") { event in event.socket.disconnect(close: true) }
            }
            io.of("/admin").onConnection { socket in socket.emit("admin-hello") }
        })
        defer { Task { await server.stop() } }
        let a = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        let b = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        for client in [a, b] {
            _ = try await client.nextText()
            try await client.send("40")
            #expect(try await client.nextText()?.hasPrefix(#"40{"sid":"#) == true)
            try await client.send(#"421["join","room"]"#)
            #expect(try await client.nextText() == #"431["ok"]"#)
        }
        try await a.send("40/admin,")
        #expect(try await a.nextText()?.hasPrefix(#"40/admin,{"sid":"#) == true)
        #expect(try await a.nextText() == #"42/admin,["admin-hello"]"#)

        try await a.send(#"451-["say",{"_placeholder":true,"num":0}]"#)
        try await a.send(binary: [0xDE, 0xAD])
        #expect(try await b.nextText() == #"451-["said",{"_placeholder":true,"num":0}]"#)
        #expect(try await b.next() == .binary([0xDE, 0xAD]))

        try await b.send(#"427["ask"]"#)
        #expect(try await b.nextText() == #"421["q"]"#)
        try await b.send(#"431["yes"]"#)
        #expect(try await b.nextText() == #"437["yes"]"#)

        try await b.send(#"42["bye"]"#)
        #expect(try await b.nextText() == "41")
        #expect(try await b.next() == .close(code: 1000))
        await a.close()
        await b.close()
    }

    @Test("thousands of packets sent at once reach a WebSocket client complete and in order, text and binary")
    func burstKeepsOrder() async throws {
        let count = 3_000
        let server = try await TestServer.start(setUp: { io in
            io.sockets.onConnection { socket in
                for index in 0..<count {
                    if index % 500 == 0 {
                        socket.emit("blob", .binary([UInt8(index / 500)]))
                    }
                    socket.emit("n", .integer(Int64(index)))
                }
            }
        })
        defer { Task { await server.stop() } }
        let client = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        _ = try await client.nextText()
        try await client.send("40")
        #expect(try await client.nextText()?.hasPrefix(#"40{"sid":"#) == true)
        for index in 0..<count {
            if index % 500 == 0 {
                #expect(try await client.nextText() == #"451-["blob",{"_placeholder":true,"num":0}]"#)
                #expect(try await client.next() == .binary([UInt8(index / 500)]))
            }
            let text = try await client.nextText()
            guard text == #"42["n",\#(index)]"# else {
                Issue.record("packet \(index): got \(text ?? "the end")")
                break
            }
        }
        await client.close()
    }

    @Test(
        "packets piling up past maxBufferedPackets for a WebSocket client close its session for buffer overflow; others carry on"
    )
    func silentReaderOverflows() async throws {
        let reasons = EventLog<String>()
        let big = String(repeating: "x", count: 16_384)
        let server = try await TestServer.start(
            engine: { $0.maxBufferedPackets = 64 },
            setUp: { io in
                io.sockets.onConnection { socket in
                    socket.onDisconnect { _, reason, _ in reasons.record(reason.rawValue) }
                    socket.on("flood") { event in
                        for _ in 0..<1_000 { event.socket.emit("big", .string(big)) }
                    }
                    socket.on("ping-me") { event in event.ack?("pong") }
                }
            })
        defer { Task { await server.stop() } }
        let silent = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        let other = try await server.webSocket("/socket.io/?EIO=4&transport=websocket")
        for client in [silent, other] {
            _ = try await client.nextText()
            try await client.send("40")
            #expect(try await client.nextText()?.hasPrefix(#"40{"sid":"#) == true)
        }
        try await silent.send(#"42["flood"]"#)
        #expect(await reasons.next(timeout: .seconds(10)) == "buffer overflow")
        try await other.send(#"421["ping-me"]"#)
        #expect(try await other.nextText() == #"431["pong"]"#)
        await silent.close()
        await other.close()
    }

    @Test("CORS headers on polling, and a listed-origins policy refusing other origins")
    func corsOverTheWire() async throws {
        let server = try await TestServer.start { $0.cors = .origins(["http://chat.test"]) }
        defer { Task { await server.stop() } }
        let allowed = try await server.get(
            "/socket.io/?EIO=4&transport=polling", headers: [("Origin", "http://chat.test")])
        #expect(allowed.header("Access-Control-Allow-Origin") == "http://chat.test")
        #expect(allowed.header("Access-Control-Allow-Credentials") == "true")
        let refused = try await server.get(
            "/socket.io/?EIO=4&transport=polling", headers: [("Origin", "http://evil.test")])
        #expect(refused.status == 403)
        let ws = try await server.webSocket(
            "/socket.io/?EIO=4&transport=websocket", headers: [("Origin", "http://evil.test")])
        #expect(ws.handshake.status == 400)
    }
}

/// The GET must be parked in the engine before the test goes on; there is no event
/// for that, so look at the session (bounded by a deadline).
func waitForPendingPoll(_ server: TestServer, _ sid: String) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(5)
    while server.io.engine.session(id: sid)?.isPolling != true {
        guard clock.now < deadline else {
            Issue.record("GET never became pending")
            return
        }
        await Task.yield()
    }
}
