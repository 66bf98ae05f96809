import EngineIO
import EngineTestSupport
import HTTPTypes
import NIOCore
import OrderedJSON
import SocketIOTestSupport
import Synchronization
import Testing

@testable import SocketIO

/// A value several concurrent handlers write and the test reads.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func update(_ change: (inout Value) -> Void) { value.withLock { change(&$0) } }
    var current: Value { value.withLock { $0 } }
}

@Suite("Socket.IO server: namespaces and connect")
struct SocketIOConnectTests {
    @Test("CONNECT answers with the socket id; the handler sees the auth payload and the handshake")
    func connectWithAuth() async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in
            socket.emit("hello", socket.handshake.auth, .string(socket.handshake.query["room"] ?? "-"))
        }
        let client = try await RawClient(io, query: ["room": "lobby"])
        let sid = try await client.connect(auth: #"{"token":"123"}"#)
        #expect(sid.count == 20)
        #expect(sid != client.engineSessionID)
        #expect(await client.next() == #"2["hello",{"token":"123"},"lobby"]"#)
    }

    @Test("a custom namespace is addressed by its name; an unknown one is refused")
    func namespaces() async throws {
        let io = makeServer()
        io.of("/custom").onConnection { socket in socket.emit("where", .string(socket.namespace.name)) }
        let client = try await RawClient(io)
        _ = try await client.connect("/custom")
        #expect(await client.next() == #"2/custom,["where","/custom"]"#)
        client.send("0/random,")
        #expect(await client.next() == #"4/random,{"message":"Invalid namespace"}"#)
    }

    @Test("a middleware can refuse with a message and data; the client may try again")
    func middlewareRefusal() async throws {
        let io = makeServer()
        let attempts = Box(0)
        io.sockets.use { socket in
            attempts.update { $0 += 1 }
            guard socket.handshake.auth["token"] == "good" else {
                throw ConnectRefusal("not authorized", data: ["hint": "log in"])
            }
        }
        let client = try await RawClient(io)
        client.send(#"0{"token":"bad"}"#)
        #expect(await client.next() == #"4{"message":"not authorized","data":{"hint":"log in"}}"#)
        _ = try await client.connect(auth: #"{"token":"good"}"#)
        #expect(attempts.current == 2)
    }

    @Test("a middleware failing with any other error refuses without telling the client what failed")
    func middlewareFailureIsNotShown() async throws {
        struct DatabaseDown: Error, CustomStringConvertible {
            var description: String { "connection to mongodb://admin:secret@10.0.0.5 refused" }
        }
        let io = makeServer()
        io.sockets.use { _ in throw DatabaseDown() }
        let client = try await RawClient(io)
        client.send("0")
        #expect(await client.next() == #"4{"message":"Internal server error"}"#)
    }

    @Test("events sent right after CONNECT wait for the middleware and are handled after it")
    func eventsQueueBehindMiddleware() async throws {
        let io = makeServer()
        let gate = EventLog<Bool>()
        io.sockets.use { _ in _ = await gate.next() }
        io.sockets.onConnection { socket in
            socket.on("ping") { event in event.ack?("pong") }
        }
        let client = try await RawClient(io)
        client.send("0")
        client.send(#"21["ping"]"#)
        gate.record(true)
        #expect(await client.next()?.hasPrefix(#"0{"sid":"#) == true)
        #expect(await client.next() == #"31["pong"]"#)
    }

    @Test("a connection that joins no namespace is closed after connectTimeout")
    func connectTimeout() async throws {
        let io = makeServer { $0.connectTimeout = .milliseconds(100) }
        let client = try await RawClient(io)
        #expect(await client.waitForClose())
    }

    @Test("one connection may not join more namespaces than allowed")
    func namespaceLimit() async throws {
        let io = makeServer { $0.maxNamespacesPerConnection = 1 }
        _ = io.of("/second")
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send("0/second,")
        #expect(await client.next() == #"4/second,{"message":"Too many namespaces on one connection"}"#)
    }
}

@Suite("Socket.IO server: events and acks")
struct SocketIOEventTests {
    @Test("events reach their handler in the order sent; acks carry the handler's answer")
    func orderedEventsAndAcks() async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in
            socket.on("count") { event in
                // Later events must not overtake a slow one.
                if event.args.first == 1 { try? await Task.sleep(for: .milliseconds(20)) }
                event.ack?.send(event.args)
            }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        for index in 1...5 { client.send(#"2\#(index)["count",\#(index)]"#) }
        for index in 1...5 { #expect(await client.next() == "3\(index)[\(index)]") }
    }

    @Test("an event without a handler gets no ack; onAny sees it")
    func unknownEvent() async throws {
        let io = makeServer()
        let seen = EventLog<String>()
        io.sockets.onConnection { socket in
            socket.onAny { event in seen.record(event.name) }
            socket.on("known") { event in event.ack?("ok") }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"21["unknown"]"#)
        client.send(#"22["known"]"#)
        #expect(await seen.next() == "unknown")
        #expect(await client.next() == #"32["ok"]"#)
    }

    @Test("the server asks the client for an ack and gets the answer")
    func serverToClientAck() async throws {
        let io = makeServer()
        let answers = EventLog<[JSONValue]>()
        io.sockets.onConnection { socket in
            if let answer = try? await socket.emitWithAck("question", args: ["how many?"], timeout: .seconds(5)) {
                answers.record(answer)
            }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        #expect(await client.next() == #"21["question","how many?"]"#)
        client.send("31[42]")
        #expect(await answers.next() == [42])
    }

    @Test("an ack that never comes fails with a timeout; a disconnect fails pending acks")
    func ackTimeoutAndDisconnect() async throws {
        let io = makeServer()
        let errors = EventLog<AckError>()
        io.sockets.onConnection { socket in
            socket.on("ask") { event in
                let timeout: Duration = event.args.first == "short" ? .milliseconds(50) : .seconds(30)
                do {
                    _ = try await event.socket.emitWithAck("question", args: [], timeout: timeout)
                } catch let error as AckError {
                    errors.record(error)
                } catch {}
            }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"2["ask","short"]"#)
        #expect(await errors.next() == .timeout)
        client.send(#"2["ask","long"]"#)
        _ = await client.next()
        _ = await client.next()
        client.send("1")
        #expect(await errors.next() == .disconnected)
    }

    @Test("binary arguments arrive as binary and go back out as attachments")
    func binaryRoundTrip() async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in
            socket.on("upload") { event in event.socket.emit("echo", args: event.args) }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"51-["upload",{"file":{"_placeholder":true,"num":0}}]"#)
        client.send(binary: [9, 8, 7])
        #expect(await client.next() == #"51-["echo",{"file":{"_placeholder":true,"num":0}}]"#)
        #expect(await client.next() == "binary:9,8,7")
    }

    @Test("a malformed packet closes that connection only")
    func malformedPacketClosesOnlyThatConnection() async throws {
        try await expectOnlySenderClosed(by: "2{}", connectFirst: true)
    }

    @Test("a CONNECT whose auth has more keys than the JSON limit closes that connection only")
    func connectWithTooManyKeysClosesOnlyThatConnection() async throws {
        let keys = (0...JSONValue.maximumKeysPerObject).map { #""k\#($0)":0"# }
        try await expectOnlySenderClosed(by: "0{" + keys.joined(separator: ",") + "}", connectFirst: false)
    }

    /// One client sends `packet` (after its CONNECT when `connectFirst`): its connection is
    /// closed, and another client of the same server still gets its ack.
    func expectOnlySenderClosed(by packet: String, connectFirst: Bool) async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in socket.on("echo") { event in event.ack?.send(event.args) } }
        let bad = try await RawClient(io)
        let good = try await RawClient(io)
        if connectFirst { _ = try await bad.connect() }
        _ = try await good.connect()
        bad.send(packet)
        #expect(await bad.waitForClose())
        good.send(#"21["echo","fine"]"#)
        #expect(await good.next() == #"31["fine"]"#)
    }

    @Test("an event for a namespace the client never joined closes the connection")
    func eventForUnjoinedNamespace() async throws {
        let io = makeServer()
        _ = io.of("/other")
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"2/other,["hi"]"#)
        #expect(await client.waitForClose())
    }
}

@Suite("Socket.IO server: rooms, broadcasts and disconnects")
struct SocketIORoomTests {
    /// Three clients on `/`; `a` and `b` in room "r1", `c` in "r2".
    func threeClients() async throws -> (SocketIOServer, RawClient, RawClient, RawClient, [String]) {
        let io = makeServer()
        io.sockets.onConnection { socket in
            socket.on("join") { event in
                if let room = event.args.first?.stringValue { event.socket.join(room) }
                event.ack?("joined")
            }
            socket.on("to-room") { event in
                guard let room = event.args.first?.stringValue else { return }
                event.socket.to(room).emit("room", .string(event.socket.id))
            }
            socket.on("to-room-all") { event in
                guard let room = event.args.first?.stringValue else { return }
                event.socket.namespace.to(room).emit("room-all")
            }
            socket.on("broadcast") { event in event.socket.broadcast.emit("everyone-else") }
            socket.on("except") { event in
                event.socket.namespace.except("r2").emit("not-r2")
            }
        }
        var ids: [String] = []
        var clients: [RawClient] = []
        for room in ["r1", "r1", "r2"] {
            let client = try await RawClient(io)
            ids.append(try await client.connect())
            client.send(#"29["join","\#(room)"]"#)
            #expect(await client.next() == #"39["joined"]"#)
            clients.append(client)
        }
        return (io, clients[0], clients[1], clients[2], ids)
    }

    @Test("to(room) from a socket reaches the others in the room, not the sender")
    func toRoomExcludesSender() async throws {
        let (_, a, b, c, ids) = try await threeClients()
        a.send(#"2["to-room","r1"]"#)
        #expect(await b.next() == #"2["room","\#(ids[0])"]"#)
        // Nothing for a or c: the next thing each sees is a later, unrelated broadcast.
        b.send(#"2["broadcast"]"#)
        #expect(await a.next() == #"2["everyone-else"]"#)
        #expect(await c.next() == #"2["everyone-else"]"#)
    }

    @Test("namespace.to(room) includes the sender; except leaves a room out")
    func namespaceToRoomAndExcept() async throws {
        let (_, a, b, c, _) = try await threeClients()
        a.send(#"2["to-room-all","r1"]"#)
        #expect(await a.next() == #"2["room-all"]"#)
        #expect(await b.next() == #"2["room-all"]"#)
        c.send(#"2["except"]"#)
        #expect(await a.next() == #"2["not-r2"]"#)
        #expect(await b.next() == #"2["not-r2"]"#)
        c.send(#"2["to-room-all","r2"]"#)
        #expect(await c.next() == #"2["room-all"]"#)
    }

    @Test("every socket is in the room named by its id")
    func ownRoom() async throws {
        let (io, a, _, _, ids) = try await threeClients()
        io.sockets.to(ids[0]).emit("private")
        #expect(await a.next() == #"2["private"]"#)
        let socket = try #require(io.sockets.socket(id: ids[0]))
        #expect(socket.rooms == [ids[0], "r1"])
    }

    @Test("fetchSockets, socketsJoin and disconnectSockets act on the selected sockets")
    func serverSideQueries() async throws {
        let (io, a, b, c, ids) = try await threeClients()
        let inR1 = await io.sockets.to("r1").fetchSockets()
        #expect(Set(inR1.map(\.id)) == [ids[0], ids[1]])
        await io.sockets.to("r2").socketsJoin(["vip"])
        io.sockets.to("vip").emit("vip")
        #expect(await c.next() == #"2["vip"]"#)
        await io.sockets.to("r1").disconnectSockets()
        #expect(await a.next() == "1")
        #expect(await b.next() == "1")
        #expect(io.sockets.localSocketCount == 1)
    }

    @Test("a client's namespace disconnect runs the disconnect handler with its rooms and frees them")
    func clientDisconnect() async throws {
        let io = makeServer()
        let disconnects = EventLog<(String, Set<String>)>()
        io.sockets.onConnection { socket in
            socket.join("lobby")
            socket.onDisconnect { _, reason, rooms in disconnects.record((reason.rawValue, rooms)) }
        }
        let client = try await RawClient(io)
        let sid = try await client.connect()
        client.send("1")
        let (reason, rooms) = try #require(await disconnects.next())
        #expect(reason == "client namespace disconnect")
        #expect(rooms == [sid, "lobby"])
        #expect(io.sockets.adapter.localRooms.isEmpty)
        // The Engine.IO connection stays: the client can join again.
        _ = try await client.connect()
    }

    @Test("server-side disconnect tells the client; with close the connection ends too")
    func serverDisconnect() async throws {
        let io = makeServer()
        let reasons = EventLog<String>()
        io.sockets.onConnection { socket in
            socket.onDisconnect { _, reason, _ in reasons.record(reason.rawValue) }
            socket.on("kick") { event in event.socket.disconnect(close: event.args.first == true) }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"2["kick",false]"#)
        #expect(await client.next() == "1")
        #expect(await reasons.next() == "server namespace disconnect")
        _ = try await client.connect()
        client.send(#"2["kick",true]"#)
        #expect(await client.next() == "1")
        #expect(await client.waitForClose())
    }

    @Test("the transport closing disconnects every namespace of the connection")
    func transportClose() async throws {
        let io = makeServer()
        let reasons = EventLog<String>()
        for name in ["/", "/chat"] {
            io.of(name).onConnection { socket in
                socket.onDisconnect { socket, reason, _ in reasons.record(socket.namespace.name + " " + reason.rawValue)
                }
            }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        _ = try await client.connect("/chat")
        await client.disconnect()
        let seen: Set = [await reasons.next(), await reasons.next()]
        #expect(seen == ["/ transport close", "/chat transport close"])
    }

    @Test("a volatile emit reaches a client whose transport is ready")
    func volatileDropped() async throws {
        let io = makeServer()
        let socket = EventLog<Socket>()
        io.sockets.onConnection { socket.record($0) }
        let client = try await RawClient(io)
        _ = try await client.connect()
        let server = try #require(await socket.next())
        // Over WebSocket with an idle writer the packet goes through.
        io.sockets.volatile.emit("tick")
        #expect(await client.next() == #"2["tick"]"#)
        #expect(server.isConnected)
    }
}

@Suite("Socket.IO server: a namespace's event handlers")
struct NamespaceEventHandlerTests {
    @Test("a namespace's handler serves every socket, each event after the socket's connection handler")
    func sharedHandlerWaitsForConnectionHandler() async throws {
        let io = makeServer()
        let gate = EventLog<Bool>()
        io.sockets.onConnection { socket in
            _ = await gate.next()
            socket.data = .string("ready")
        }
        io.sockets.onEvent("state") { event in event.ack?(event.socket.data) }
        for _ in 1...2 {
            let client = try await RawClient(io)
            _ = try await client.connect()
            client.send(#"27["state"]"#)
            gate.record(true)
            #expect(await client.next() == #"37["ready"]"#)
        }
    }

    @Test("a socket's own handler takes the namespace's place; onAny sees only events neither handles")
    func socketHandlerFirst() async throws {
        let io = makeServer()
        let seen = EventLog<String>()
        io.sockets.onEvent("shared") { event in event.ack?("namespace") }
        io.sockets.onEvent("mine") { event in event.ack?("namespace") }
        io.sockets.onConnection { socket in
            socket.on("mine") { event in event.ack?("socket") }
            socket.onAny { event in seen.record(event.name) }
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"21["mine"]"#)
        #expect(await client.next() == #"31["socket"]"#)
        client.send(#"22["shared"]"#)
        #expect(await client.next() == #"32["namespace"]"#)
        client.send(#"23["other"]"#)
        #expect(await seen.next() == "other")
    }

    @Test("events queued behind a middleware run no handler when the polling session starts closing meanwhile")
    func noHandlerWhenSessionClosesDuringMiddleware() async throws {
        let io = makeServer()
        let other = io.of("/other")
        let gate = EventLog<Bool>()
        let waiting = EventLog<Socket>()
        let seen = EventLog<String>()
        io.sockets.use { socket in
            waiting.record(socket)
            _ = await gate.next()
        }
        io.sockets.onEvent("state") { _ in seen.record("event") }
        let otherSockets = EventLog<Socket>()
        other.onConnection { otherSockets.record($0) }

        func poll(_ method: HTTPRequest.Method, _ query: [String: String], _ body: String? = nil) async -> String {
            let request = EngineRequest(
                method: method, path: "/socket.io/", query: query, headers: [:], host: "127.0.0.1:5000")
            let response = await io.engine.handlePolling(request, body: body.map { .bytes(ByteBuffer(string: $0)) })
            return String(buffer: response.body)
        }
        let open = await poll(.get, ["EIO": "4", "transport": "polling"])
        let sid = String(open.dropFirst(#"0{"sid":""#.count).prefix(20))
        let query = ["EIO": "4", "transport": "polling", "sid": sid]
        _ = await poll(.post, query, "40/other,")
        let otherSocket = try #require(await otherSockets.next())
        // CONNECT to "/" and an event in one payload: the event waits behind the middleware.
        _ = await poll(.post, query, "40\u{1e}42[\"state\"]")
        let socket = try #require(await waiting.next())
        // The server closes the session while no GET is pending to carry the close.
        otherSocket.disconnect(close: true)
        let done = EventLog<Bool>()
        socket.lane.enqueue { done.record(true) }
        gate.record(true)
        #expect(await done.next() == true, "the lane got past the middleware and the event")
        #expect(seen.pending.isEmpty, "no handler runs for a socket whose connection handler never ran")
    }

    @Test("a socket that leaves in its connection handler runs none of the namespace's handlers")
    func noHandlerAfterLeaving() async throws {
        let io = makeServer()
        _ = io.of("/other")
        let gate = EventLog<Bool>()
        let seen = EventLog<String>()
        io.sockets.onEvent("state") { _ in seen.record("event") }
        io.sockets.onConnection { socket in
            socket.onDisconnect { _, _, _ in seen.record("disconnect") }
            _ = await gate.next()
            socket.disconnect()
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        client.send(#"2["state"]"#)
        // Answered once the event above was read: the event waits behind the connection handler.
        _ = try await client.connect("/other")
        gate.record(true)
        // Disconnect handlers run after the events queued before them.
        #expect(await seen.next() == "disconnect")
    }
}

@Suite("Socket.IO server: values kept on a socket")
struct SocketStorageTests {
    enum Name: SocketStorageKey { typealias Value = String }
    enum Count: SocketStorageKey { typealias Value = Int }
    enum Unused: SocketStorageKey { typealias Value = Int }

    @Test("each key keeps its own value; setting replaces it, nil removes it")
    func keysAreSeparate() async throws {
        let io = makeServer()
        io.sockets.onConnection { socket in
            socket[Name.self] = "first"
            socket[Count.self] = 1
            socket[Name.self] = "second"
            socket[Count.self] = nil
            socket[Unused.self] = nil
            socket[Count.self] = 3
            socket.emit(
                "kept", .string(socket[Name.self] ?? "-"), .integer(Int64(socket[Count.self] ?? 0)),
                .bool(socket[Unused.self] == nil))
        }
        let client = try await RawClient(io)
        _ = try await client.connect()
        #expect(await client.next() == #"2["kept","second",3,true]"#)
    }
}
