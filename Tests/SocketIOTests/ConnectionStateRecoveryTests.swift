import EngineIO
import EngineTestSupport
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Synchronization
import Testing

/// A clock the test moves by hand, for the recovery window.
final class ManualClock: Sendable {
    private let now = Mutex(ContinuousClock.now)
    var read: @Sendable () -> ContinuousClock.Instant { { [self] in now.withLock { $0 } } }
    func advance(_ duration: Duration) { now.withLock { $0 += duration } }
}

/// What the server told one raw client when it connected with recovery on.
struct RecoveryHandshake {
    let sid: String
    let pid: String
}

extension RawClient {
    /// Sends CONNECT (with `auth`) and reads the answer's `sid` and `pid`.
    func connectForRecovery(auth: String = "") async throws -> RecoveryHandshake {
        send("0" + auth)
        let reply = try #require(await next())
        try #require(reply.hasPrefix("0"), "got \(reply)")
        let answer = try JSONValue(parsing: String(reply.dropFirst()))
        let sid = try #require(answer["sid"]?.stringValue)
        let pid = try #require(answer["pid"]?.stringValue, "no pid in \(reply)")
        return RecoveryHandshake(sid: sid, pid: pid)
    }

    /// The next packet as an event: its arguments, with the offset (the last one) apart.
    func nextStampedEvent() async throws -> (args: [JSONValue], offset: String) {
        let text = try #require(await next())
        try #require(text.hasPrefix("2"), "got \(text)")
        var items = try #require(try JSONValue(parsing: String(text.dropFirst())).arrayValue)
        let offset = try #require(items.popLast()?.stringValue, "no offset in \(text)")
        return (items, offset)
    }
}

/// A server with recovery on whose sockets join `room` and report when they leave.
private func recoveringServer(
    clock: ManualClock = ManualClock(), skipMiddlewares: Bool = true, window: Duration = .seconds(60)
) -> (SocketIOServer, EventLog<String>) {
    let io = makeServer {
        $0.connectionStateRecovery = ConnectionStateRecovery(
            maxDisconnectionDuration: window, skipMiddlewares: skipMiddlewares, clock: clock.read
        )
    }
    let left = EventLog<String>()
    io.sockets.onConnection { socket in
        if !socket.recovered { socket.join("room") }
        socket.onDisconnect { socket, _, _ in left.record(socket.id) }
        socket.on("recovered?") { event in event.ack?(.bool(event.socket.recovered)) }
    }
    return (io, left)
}

@Suite("Socket.IO connection state recovery")
struct ConnectionStateRecoveryTests {
    @Test("off by default: CONNECT carries only the sid and broadcasts carry no offset")
    func offByDefault() async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in socket.join("room") }
        let client = try await RawClient(io)
        client.send("0")
        let reply = try #require(await client.next())
        #expect(reply.hasPrefix(#"0{"sid":""#) && !reply.contains("pid"))
        io.sockets.to("room").emit("news", "one")
        #expect(await client.next() == #"2["news","one"]"#)
    }

    @Test("on: CONNECT carries a pid; broadcasts end with an offset, direct emits and acks do not")
    func offsetsOnBroadcastsOnly() async throws {
        let (io, _) = recoveringServer()
        let client = try await RawClient(io)
        let handshake = try await client.connectForRecovery()
        #expect(handshake.pid.count == 20 && handshake.pid != handshake.sid)
        io.sockets.to("room").emit("news", "one")
        io.sockets.to("room").emit("news", "two")
        let first = try await client.nextStampedEvent()
        let second = try await client.nextStampedEvent()
        #expect(first.args == ["news", "one"] && second.args == ["news", "two"])
        #expect(first.offset != second.offset)
        io.sockets.socket(id: handshake.sid)?.emit("direct", "x")
        #expect(await client.next() == #"2["direct","x"]"#)
        io.sockets.volatile.to("room").emit("news", "volatile")
        client.send(#"21["recovered?"]"#)
        let next = await client.next()
        // A volatile broadcast is never kept, so it carries no offset either.
        #expect(next == #"2["news","volatile"]"# || next == "31[false]")
    }

    @Test("a client whose transport dropped gets its id, rooms and the missed broadcasts back, once")
    func recoversAfterTransportClose() async throws {
        let (io, left) = recoveringServer()
        _ = io.of("/elsewhere")
        let first = try await RawClient(io)
        let handshake = try await first.connectForRecovery()
        io.sockets.to("room").emit("news", "before")
        let seen = try await first.nextStampedEvent()
        await first.disconnect()
        #expect(await left.next() == handshake.sid)

        io.sockets.to("room").emit("news", "missed 1")
        io.sockets.to("other room").emit("news", "not for it")
        io.sockets.except("room").emit("news", "not for it either")
        io.sockets.emit("news", "missed 2")

        let second = try await RawClient(io)
        let auth = #"{"pid":"\#(handshake.pid)","offset":"\#(seen.offset)"}"#
        let resumed = try await second.connectForRecovery(auth: auth)
        #expect(resumed.sid == handshake.sid && resumed.pid == handshake.pid)
        #expect(try await second.nextStampedEvent().args == ["news", "missed 1"])
        #expect(try await second.nextStampedEvent().args == ["news", "missed 2"])
        second.send(#"21["recovered?"]"#)
        #expect(await second.next() == "31[true]")
        #expect(io.sockets.socket(id: handshake.sid)?.rooms == [handshake.sid, "room"])
        io.sockets.to("room").emit("news", "live")
        #expect(try await second.nextStampedEvent().args == ["news", "live"])

        // The session was taken: the same pid and offset do not recover a second time.
        let third = try await RawClient(io)
        let again = try await third.connectForRecovery(auth: auth)
        #expect(again.sid != handshake.sid)
    }

    @Test("after the window, or with an unknown pid or offset, the client gets a new socket")
    func expiredOrUnknownSessions() async throws {
        let clock = ManualClock()
        let (io, left) = recoveringServer(clock: clock, window: .seconds(30))
        let first = try await RawClient(io)
        let handshake = try await first.connectForRecovery()
        io.sockets.to("room").emit("news", "before")
        let seen = try await first.nextStampedEvent()
        await first.disconnect()
        _ = await left.next()

        let unknownPid = try await RawClient(io)
        let fresh = try await unknownPid.connectForRecovery(auth: #"{"pid":"nobody","offset":"\#(seen.offset)"}"#)
        #expect(fresh.sid != handshake.sid)
        let unknownOffset = try await RawClient(io)
        let alsoFresh = try await unknownOffset.connectForRecovery(auth: #"{"pid":"\#(handshake.pid)","offset":"x"}"#)
        #expect(alsoFresh.sid != handshake.sid)

        clock.advance(.seconds(31))
        let late = try await RawClient(io)
        let expired = try await late.connectForRecovery(
            auth: #"{"pid":"\#(handshake.pid)","offset":"\#(seen.offset)"}"#)
        #expect(expired.sid != handshake.sid && expired.pid != handshake.pid)
        late.send(#"21["recovered?"]"#)
        #expect(await late.next() == "31[false]")
    }

    @Test("a client that disconnected on purpose cannot be recovered")
    func deliberateDisconnectIsNotKept() async throws {
        let (io, left) = recoveringServer()
        let first = try await RawClient(io)
        let handshake = try await first.connectForRecovery()
        io.sockets.to("room").emit("news", "before")
        let seen = try await first.nextStampedEvent()
        first.send("1")
        _ = await left.next()
        let second = try await RawClient(io)
        let fresh = try await second.connectForRecovery(
            auth: #"{"pid":"\#(handshake.pid)","offset":"\#(seen.offset)"}"#)
        #expect(fresh.sid != handshake.sid)
    }

    @Test("socketsLeave while the client is away keeps it out of that room and its broadcasts")
    func leaveWhileAway() async throws {
        let (io, left) = recoveringServer()
        let first = try await RawClient(io)
        let handshake = try await first.connectForRecovery()
        io.sockets.socket(id: handshake.sid)?.join("tag")
        io.sockets.to("room").emit("news", "before")
        let seen = try await first.nextStampedEvent()
        await first.disconnect()
        _ = await left.next()

        await io.sockets.to("tag").socketsLeave(["room"])
        io.sockets.to("room").emit("news", "after the kick")
        io.sockets.to("tag").emit("news", "still tagged")

        let second = try await RawClient(io)
        let resumed = try await second.connectForRecovery(
            auth: #"{"pid":"\#(handshake.pid)","offset":"\#(seen.offset)"}"#)
        #expect(resumed.sid == handshake.sid)
        #expect(try await second.nextStampedEvent().args == ["news", "still tagged"])
        #expect(io.sockets.socket(id: handshake.sid)?.rooms == [handshake.sid, "tag"])
    }

    @Test("middlewares are skipped for a recovered socket only when skipMiddlewares is set")
    func middlewaresOnRecovery() async throws {
        for skip in [true, false] {
            let (io, left) = recoveringServer(skipMiddlewares: skip)
            let runs = EventLog<Bool>()
            io.sockets.use { socket in runs.record(socket.recovered) }
            let first = try await RawClient(io)
            let handshake = try await first.connectForRecovery()
            #expect(await runs.next() == false)
            io.sockets.to("room").emit("news", "before")
            let seen = try await first.nextStampedEvent()
            await first.disconnect()
            _ = await left.next()
            let second = try await RawClient(io)
            _ = try await second.connectForRecovery(auth: #"{"pid":"\#(handshake.pid)","offset":"\#(seen.offset)"}"#)
            second.send(#"21["recovered?"]"#)
            #expect(await second.next() == "31[true]")
            #expect(runs.pending == (skip ? [] : [true]))
        }
    }

    @Test("an offset from a cluster log replaces the adapter's own; such a broadcast is not kept here")
    func offsetFromClusterLog() async throws {
        let (io, left) = recoveringServer()
        let adapter = try #require(io.sockets.adapter as? InMemoryAdapter)
        let client = try await RawClient(io)
        let handshake = try await client.connectForRecovery()
        let room = BroadcastOptions(rooms: ["room"])
        adapter.broadcast(.event("news", ["logged"]), options: room, offset: "1700000000000-0")
        #expect(await client.next() == #"2["news","logged","1700000000000-0"]"#)
        adapter.broadcast(.event("news", ["unlogged"]), options: room, offset: nil)
        #expect(await client.next() == #"2["news","unlogged"]"#)
        var volatile = room
        volatile.volatile = true
        adapter.broadcast(.event("news", ["volatile"]), options: volatile, offset: "1700000000000-1")
        #expect(await client.next() == #"2["news","volatile"]"#)
        await client.disconnect()
        #expect(await left.next() == handshake.sid)
        #expect(adapter.restoreSession(pid: handshake.pid, offset: "1700000000000-0") == nil)
    }
}
