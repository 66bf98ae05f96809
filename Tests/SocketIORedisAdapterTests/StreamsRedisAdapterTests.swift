import EngineIO
import EngineTestSupport
import Foundation
import Logging
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Testing

@testable import SocketIORedisAdapter

/// `REDIS_ADAPTER=streams`: nodes on a real redis-server, speaking Node's
/// `@socket.io/redis-streams-adapter` (a stream for broadcasts and room changes, Pub/Sub
/// for requests, sessions under `sio:session:<pid>`).
@Suite("Redis streams adapter across nodes", .serialized)
struct StreamsRedisAdapterTests {
    typealias Node = RedisAdapterClusterTests.Node

    /// A node whose stream is `<key>:stream` (its prefix with `streamCount` above 1),
    /// serving `namespaces`; with `recovery`, its server recovers connections.
    static func makeNode(
        key: String, recovery: Bool = false, configuration: RedisConfiguration? = nil, streamCount: Int = 1,
        shardedPubSub: Bool = false, namespaces: [String] = ["/"]
    ) async throws -> Node {
        var configuration = configuration ?? RedisConfiguration(host: "127.0.0.1", port: 0)
        if configuration.port == 0 { configuration.port = try await RedisTestServer.shared.port() }
        configuration.key = key
        configuration.adapter = .streams
        configuration.stream.name = key + ":stream"
        configuration.stream.count = streamCount
        configuration.stream.shardedPubSub = shardedPubSub
        configuration.requestsTimeout = .seconds(2)
        var quiet = Logger(label: "redis-test")
        quiet.logLevel = .error
        let factory = RedisAdapterFactory(configuration: configuration, logger: quiet)
        var socketIO = SocketIOConfiguration()
        if recovery {
            socketIO.connectionStateRecovery = ConnectionStateRecovery(maxDisconnectionDuration: .seconds(60))
        }
        let io = SocketIOServer(
            engine: EngineServer(configuration: EngineConfiguration()), configuration: socketIO,
            adapter: factory.factory)
        for namespace in namespaces.map({ io.of($0) }) {
            namespace.onConnection { socket in
                socket.on("join") { event in
                    if let room = event.args.first?.stringValue { event.socket.join(room) }
                    event.ack?("joined")
                }
                socket.on("rooms?") { event in event.ack?(.array(event.socket.rooms.sorted().map { .string($0) })) }
                socket.on("recovered?") { event in event.ack?(.bool(event.socket.recovered)) }
            }
            await (try #require(namespace.adapter as? ClusterAdapter)).waitUntilSubscribed()
        }
        return Node(io: io, factory: factory)
    }

    /// Two nodes on one stream and a connection of the test's own, closed together.
    struct Pair {
        let a: Node
        let b: Node
        /// The stream both append to and read.
        let stream: String
        let redis: RedisClientConnection
        func close() {
            a.factory.close()
            b.factory.close()
            redis.close()
        }
    }

    /// With `streamCount` above 1, `stream` is the one Node picks for namespace `/`:
    /// its hash, 47, modulo the count.
    static func makePair(recovery: Bool = false, streamCount: Int = 1) async throws -> Pair {
        let key = RedisAdapterClusterTests.uniqueKey()
        return Pair(
            a: try await makeNode(key: key, recovery: recovery, streamCount: streamCount),
            b: try await makeNode(key: key, recovery: recovery, streamCount: streamCount),
            stream: key + ":stream" + (streamCount > 1 ? "-\(47 % streamCount)" : ""), redis: try await redis())
    }

    static func adapter(of node: Node) throws -> ClusterAdapter {
        try #require(node.io.sockets.adapter as? ClusterAdapter)
    }

    /// A plain connection of the test's own to the shared server.
    static func redis(_ configuration: RedisConfiguration? = nil) async throws -> RedisClientConnection {
        var shared = RedisConfiguration(host: "127.0.0.1", port: 0)
        if configuration == nil { shared.port = try await RedisTestServer.shared.port() }
        return try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration ?? shared))
    }

    /// Every entry of a stream, with its fields in the order Redis returns them.
    static func entries(_ stream: String, on connection: RedisClientConnection) async throws -> [(
        id: String, fields: [(String, String)]
    )] {
        let reply = try await connection.command(["XRANGE", stream, "-", "+"])
        return (reply.elements ?? []).compactMap { item in
            guard let parts = item.elements, parts.count == 2, let id = parts[0].text else { return nil }
            let values = (parts[1].elements ?? []).compactMap(\.text)
            let fields = stride(from: 0, to: values.count - 1, by: 2).map { (values[$0], values[$0 + 1]) }
            return (id, fields)
        }
    }

    /// Waits (10 s at most) until `condition` holds.
    static func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while clock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test("a broadcast and a join are stream entries with Node's fields; the offset clients get is the entry id")
    func streamEntryBytes() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, recovery: true)
        defer { a.factory.close() }
        let uid = try Self.adapter(of: a).uid
        let client = try await RedisAdapterClusterTests.client(on: a, room: "room-1")
        a.io.sockets.to("room-1").except("nobody").emit("news", "hé \"quoted\"")
        let delivered = try #require(await client.next())
        await a.io.sockets.to("room-1").socketsJoin(["room-2"])

        let redis = try await Self.redis()
        defer { redis.close() }
        let stream = key + ":stream"
        let written = try await Self.entries(stream, on: redis)
        try #require(written.count == 2)
        let broadcastData =
            #"{"packet":{"type":2,"data":["news","hé \"quoted\""]},"#
            + #""opts":{"rooms":["room-1"],"except":["nobody"],"flags":{}}}"#
        #expect(written[0].fields.map(\.0) == ["uid", "nsp", "type", "data"])
        #expect(written[0].fields.map(\.1) == [uid, "/", "3", broadcastData])
        #expect(delivered == #"2["news","hé \"quoted\"","\#(written[0].id)"]"#)
        let joinData = #"{"opts":{"rooms":["room-1"],"except":[],"flags":{}},"rooms":["room-2"]}"#
        #expect(written[1].fields.map(\.1) == [uid, "/", "4", joinData])
        // fetchSockets is a request: over Pub/Sub, never in the stream.
        _ = await a.io.sockets.fetchSockets()
        #expect(try await Self.entries(stream, on: redis).count == 2)
    }

    @Test("a broadcast carrying binary is base64 of MessagePack in the data field, and crosses nodes")
    func binaryEntry() async throws {
        let nodes = try await Self.makePair()
        defer { nodes.close() }
        let (a, b) = (nodes.a, nodes.b)
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        a.io.sockets.to("r1").emit("file", .binary([1, 2, 255]))
        #expect(await bob.next() == #"51-["file",{"_placeholder":true,"num":0}]"#)
        #expect(await bob.next() == "binary:1,2,255")

        let redis = try await Self.redis()
        defer { redis.close() }
        let entry = try #require(try await Self.entries(nodes.stream, on: redis).first)
        let data = try #require(entry.fields.last?.1)
        let bytes = try #require(Data(base64Encoded: data))
        // {"packet": {"type": 2, "data": ["file", <bin 1 2 255>]}, "opts": {...}}, by hand.
        let expected: [UInt8] =
            [0x82, 0xa6] + Array("packet".utf8) + [0x82, 0xa4] + Array("type".utf8) + [0x02, 0xa4]
            + Array("data".utf8) + [0x92, 0xa4] + Array("file".utf8) + [0xc4, 0x03, 0x01, 0x02, 0xff, 0xa4]
            + Array("opts".utf8) + [0x83, 0xa5] + Array("rooms".utf8) + [0x91, 0xa2] + Array("r1".utf8) + [0xa6]
            + Array("except".utf8) + [0x90, 0xa5] + Array("flags".utf8) + [0x80]
        #expect(Array(bytes) == expected)
    }

    @Test("two nodes: room, everyone, except, join and leave, fetchSockets, disconnectSockets")
    func acrossNodes() async throws {
        let nodes = try await Self.makePair()
        defer { nodes.close() }
        let (a, b) = (nodes.a, nodes.b)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let carol = try await RedisAdapterClusterTests.client(on: b, room: "r2")

        a.io.sockets.to("r1").emit("room")
        #expect(await alice.next() == #"2["room"]"#)
        #expect(await bob.next() == #"2["room"]"#)
        a.io.sockets.except("r1").emit("except")
        #expect(await carol.next() == #"2["except"]"#)
        b.io.sockets.emit("everyone")
        for client in [alice, bob, carol] { #expect(await client.next() == #"2["everyone"]"#) }

        await a.io.sockets.to("r2").socketsJoin(["r1"])
        await a.io.sockets.to("r1").except(alice.socketID(on: a)).socketsLeave(["r1"])
        a.io.sockets.to("r1").emit("after the moves")
        // Alice has it once its entry is appended: the marker's entry comes after it.
        #expect(await alice.next() == #"2["after the moves"]"#)
        b.io.sockets.emit("marker")
        // bob and carol left r1 on node b before the broadcast reached it.
        #expect(await bob.next() == #"2["marker"]"#)
        #expect(await carol.next() == #"2["marker"]"#)

        let everyone = await a.io.sockets.fetchSockets()
        #expect(Set(everyone.map(\.id)) == [alice.socketID(on: a), bob.socketID(on: b), carol.socketID(on: b)])
        await a.io.sockets.to("r2").disconnectSockets()
        #expect(await carol.next() == "1")
    }

    /// Event arguments as a Node node writes them in an entry, and the packet a client gets.
    static let nodeEntryArguments: [(arguments: String, delivered: String)] = [
        (#"["message",{"text":"from node"}]"#, #"2["message",{"text":"from node"}]"#),
        // A Buffer as JSON.stringify writes it: what a node with `onlyPlaintext` sends
        // instead of base64 of MessagePack.
        (#"["file",{"type":"Buffer","data":[1,2,255]}]"#, #"2["file",{"type":"Buffer","data":[1,2,255]}]"#),
    ]

    @Test(
        "an entry written by hand in Node's format reaches the node's sockets, a Buffer as onlyPlaintext writes it too",
        arguments: nodeEntryArguments)
    func entryFromNode(arguments: String, delivered: String) async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key)
        defer { a.factory.close() }
        let client = try await RedisAdapterClusterTests.client(on: a, room: "lobby")
        let redis = try await Self.redis()
        defer { redis.close() }
        let data =
            #"{"packet":{"type":2,"data":\#(arguments)},"# + #""opts":{"rooms":["lobby"],"except":[],"flags":{}}}"#
        let reply = try await redis.command([
            "XADD", key + ":stream", "MAXLEN", "~", "10000", "*", "uid", "0123456789abcdef", "nsp", "/", "type", "3",
            "data", data,
        ])
        #expect(reply.text != nil)
        #expect(await client.next() == delivered)
    }

    /// A raw client connected with recovery on: its sid, pid, and the offset of the first broadcast it got.
    struct Recoverable {
        let client: RawClient
        let sid: String
        let pid: String
    }

    static func connectRecoverable(to node: Node, auth: String = "") async throws -> Recoverable {
        let client = try await RawClient(node.io)
        client.send("0" + auth)
        let answer = try #require(await client.next())
        try #require(answer.hasPrefix("0{"), "got \(answer)")
        let fields = try JSONValue(parsing: String(answer.dropFirst()))
        return Recoverable(
            client: client, sid: try #require(fields["sid"]?.stringValue), pid: try #require(fields["pid"]?.stringValue)
        )
    }

    /// The last argument of the next event packet: its offset.
    static func offset(of packet: String?) throws -> String {
        let text = try #require(packet)
        let items = try #require(try JSONValue(parsing: String(text.dropFirst())).arrayValue)
        return try #require(items.last?.stringValue)
    }

    /// A client that was on `node` in `rooms`, cut (its WebSocket closed without a
    /// disconnect) after a first broadcast, once its session is in Redis.
    struct CutClient {
        let sid: String
        let pid: String
        /// The offset of the broadcast it got.
        let offset: String
        /// What it sends to recover: `{pid, offset}`.
        var auth: String { #"{"pid":"\#(pid)","offset":"\#(offset)"}"# }
    }

    static func cutClient(on node: Node, in rooms: [String], redis: RedisClientConnection) async throws -> CutClient {
        let client = try await connectRecoverable(to: node)
        for (index, room) in rooms.enumerated() {
            client.client.send("2\(index)" + #"["join","\#(room)"]"#)
            #expect(await client.client.next() == "3\(index)" + #"["joined"]"#)
        }
        node.io.sockets.to(client.sid).emit("news", "seen")
        let offset = try Self.offset(of: await client.client.next())
        await client.client.disconnect()
        #expect(
            try await eventually { try await redis.command(["EXISTS", "sio:session:" + client.pid]) == .integer(1) })
        return CutClient(sid: client.sid, pid: client.pid, offset: offset)
    }

    @Test("a client cut from node a recovers on node b: same id, rooms, the missed broadcasts in order, once")
    func recoveryOnAnotherNode() async throws {
        let nodes = try await Self.makePair(recovery: true)
        defer { nodes.close() }
        let (a, b, redis) = (nodes.a, nodes.b, nodes.redis)
        let first = try await Self.cutClient(on: a, in: ["r1"], redis: redis)
        let seen = first.offset
        // From one node: its appends reach the stream in the order they were made.
        b.io.sockets.to("r1").emit("news", "missed 1")
        b.io.sockets.to("r2").emit("news", "not for it")
        b.io.sockets.except("r1").emit("news", "not for it either")
        b.io.sockets.emit("news", "missed 2")

        let auth = first.auth
        let resumed = try await Self.connectRecoverable(to: b, auth: auth)
        #expect(resumed.sid == first.sid && resumed.pid == first.pid)
        let written = try await Self.entries(nodes.stream, on: redis)
        let ids = written.map(\.id)
        let missed1 = try #require(await resumed.client.next())
        let missed2 = try #require(await resumed.client.next())
        #expect(missed1 == #"2["news","missed 1","\#(ids[ids.count - 4])"]"#)
        #expect(missed2 == #"2["news","missed 2","\#(ids[ids.count - 1])"]"#)
        resumed.client.send(#"21["rooms?"]"#)
        let rooms = try #require(await resumed.client.next())
        #expect(rooms == #"31[["\#(first.sid)","r1"]]"# || rooms == #"31[["r1","\#(first.sid)"]]"#)
        resumed.client.send(#"22["recovered?"]"#)
        #expect(await resumed.client.next() == "32[true]")
        // Back in r1: a broadcast from node a reaches it on node b.
        a.io.sockets.to("r1").emit("news", "live")
        #expect(try Self.offset(of: await resumed.client.next()) != seen)

        // The session was taken: the same pid and offset do not restore twice.
        let again = try await Self.connectRecoverable(to: a, auth: auth)
        #expect(again.sid != first.sid)
    }

    @Test("a socketsLeave while away keeps the client out of that room on return; a disconnectSockets forgets it")
    func roomChangesWhileAway() async throws {
        let nodes = try await Self.makePair(recovery: true)
        defer { nodes.close() }
        let (a, b, redis) = (nodes.a, nodes.b, nodes.redis)

        let kicked = try await Self.cutClient(on: a, in: ["k1", "k2"], redis: redis)
        await b.io.sockets.to("k1").socketsLeave(["k1"])
        b.io.sockets.to("k1").emit("news", "after the kick")
        b.io.sockets.to("k2").emit("news", "still a member")
        let back = try await Self.connectRecoverable(to: b, auth: kicked.auth)
        #expect(back.sid == kicked.sid)
        #expect(try #require(await back.client.next()).hasPrefix(#"2["news","still a member","#))
        back.client.send(#"21["rooms?"]"#)
        let rooms = try #require(await back.client.next())
        #expect(rooms == #"31[["\#(kicked.sid)","k2"]]"# || rooms == #"31[["k2","\#(kicked.sid)"]]"#)

        let banned = try await Self.cutClient(on: a, in: ["d1"], redis: redis)
        await b.io.sockets.to("d1").disconnectSockets()
        let refused = try await Self.connectRecoverable(to: b, auth: banned.auth)
        #expect(refused.sid != banned.sid)
    }

    @Test("a broadcast the node delivers between reading the stream for a session and its return is not lost")
    func broadcastBetweenRestoreAndResume() async throws {
        let nodes = try await Self.makePair(recovery: true)
        defer { nodes.close() }
        let (a, b, redis) = (nodes.a, nodes.b, nodes.redis)
        let first = try await Self.cutClient(on: a, in: ["r1"], redis: redis)
        let seen = first.offset
        // A client on node b shows when node b's stream reader delivered a broadcast.
        let witness = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        a.io.sockets.to("r1").emit("news", "read from the stream")
        #expect(try #require(await witness.next()).hasPrefix(#"2["news","read from the stream","#))
        let adapter = try Self.adapter(of: b)
        let session = try #require(await adapter.restoreSession(pid: first.pid, offset: seen))
        // Read by node b's stream reader after the restore read the stream, before the socket is back.
        a.io.sockets.to("r1").emit("news", "in between")
        #expect(try #require(await witness.next()).hasPrefix(#"2["news","in between","#))
        let missed = adapter.resume(session, after: seen).compactMap { $0.data?.arrayValue?[1].stringValue }
        #expect(missed == ["read from the stream", "in between"])
    }

    @Test("a session with an offset the stream no longer holds, or a malformed one, is not restored")
    func unknownOffset() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, recovery: true)
        defer { a.factory.close() }
        let adapter = try Self.adapter(of: a)
        let session = SocketSessionRecord(sid: "s1", pid: "p-\(key)", rooms: ["s1"], data: .null)
        for offset in ["1-1", "not-an-id", "12", "-1", "1-99999999999999999999999"] {
            adapter.persistSession(session)
            let redis = try await Self.redis()
            defer { redis.close() }
            #expect(
                try await Self.eventually {
                    try await redis.command(["EXISTS", "sio:session:" + session.pid]) == .integer(1)
                })
            #expect(await adapter.restoreSession(pid: session.pid, offset: offset) == nil)
        }
        // A private session id far longer than any is not looked up.
        let long = String(repeating: "p", count: 65)
        adapter.persistSession(SocketSessionRecord(sid: "s1", pid: long, rooms: ["s1"], data: .null))
        let redis = try await Self.redis()
        defer { redis.close() }
        #expect(
            try await Self.eventually { try await redis.command(["EXISTS", "sio:session:" + long]) == .integer(1) })
        a.io.sockets.emit("news")
        let stream = a.factory.configuration.stream.name
        #expect(try await Self.eventually { try await !Self.entries(stream, on: redis).isEmpty })
        let entry = try #require(try await Self.entries(stream, on: redis).last)
        #expect(await adapter.restoreSession(pid: long, offset: entry.id) == nil)
        #expect(try await redis.command(["EXISTS", "sio:session:" + long]) == .integer(1))
    }

    @Test("after Redis restarts, a node reads the entries appended while its reader was reconnecting")
    func readsAfterRedisRestart() async throws {
        var (server, configuration) = try await RedisServerProcess.startOwn()
        defer { server.stop() }
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, configuration: configuration)
        defer { a.factory.close() }
        let client = try await RedisAdapterClusterTests.client(on: a, room: "lobby")
        server.stop()
        server = try await server.restarted()
        // Written as soon as Redis is back, before the reader's backoff brought it back.
        let redis = try await Self.redis(configuration)
        defer { redis.close() }
        let data = #"{"packet":{"type":2,"data":["while away"]},"opts":{"rooms":[],"except":[],"flags":{}}}"#
        _ = try await redis.command([
            "XADD", key + ":stream", "*", "uid", "0123456789abcdef", "nsp", "/", "type", "3", "data", data,
        ])
        #expect(await client.next() == #"2["while away"]"#)
    }

    /// The names of the keys matching `pattern`, sorted.
    static func keys(_ pattern: String, on redis: RedisClientConnection) async throws -> [String] {
        try await (redis.command(["KEYS", pattern]).elements ?? []).compactMap(\.text).sorted()
    }

    @Test("with 3 streams, each namespace's entries go to the stream Node picks for it, and cross nodes")
    func namespacesOverSeveralStreams() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, streamCount: 3, namespaces: ["/", "/news"])
        defer { a.factory.close() }
        let b = try await Self.makeNode(key: key, streamCount: 3, namespaces: ["/", "/news"])
        defer { b.factory.close() }
        let redis = try await Self.redis()
        defer { redis.close() }
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let nina = try await RedisAdapterClusterTests.client(on: b.io, room: "r1", namespace: "/news")
        let alice = try await RedisAdapterClusterTests.client(on: a.io, room: "r1", namespace: "/news")

        a.io.sockets.to("r1").emit("hello")
        #expect(await bob.next() == #"2["hello"]"#)
        a.io.of("/news").to("r1").emit("headline")
        #expect(await nina.next() == #"2/news,["headline"]"#)
        #expect(await alice.next() == #"2/news,["headline"]"#)
        b.io.of("/news").emit("from b")
        #expect(await alice.next() == #"2/news,["from b"]"#)

        // Node's hashCode: "/" is 47 (stream 2 of 3), "/news" 46783362 (stream 0).
        #expect(try await Self.keys(key + ":stream*", on: redis) == [key + ":stream-0", key + ":stream-2"])
        let root = try await Self.entries(key + ":stream-2", on: redis)
        let news = try await Self.entries(key + ":stream-0", on: redis)
        #expect(root.count == 1 && news.count == 2)
        #expect(root.allSatisfy { entry in entry.fields.contains { $0 == ("nsp", "/") } })
        #expect(news.allSatisfy { entry in entry.fields.contains { $0 == ("nsp", "/news") } })
    }

    @Test("with 3 streams, a client cut from node a recovers on node b from its namespace's stream")
    func recoveryOverSeveralStreams() async throws {
        let nodes = try await Self.makePair(recovery: true, streamCount: 3)
        defer { nodes.close() }
        let (a, b, redis) = (nodes.a, nodes.b, nodes.redis)
        let first = try await Self.cutClient(on: a, in: ["r1"], redis: redis)
        b.io.sockets.to("r1").emit("news", "missed")

        let resumed = try await Self.connectRecoverable(to: b, auth: first.auth)
        #expect(resumed.sid == first.sid)
        let written = try await Self.entries(nodes.stream, on: redis)
        let missed = try #require(written.last)
        #expect(await resumed.client.next() == #"2["news","missed","\#(missed.id)"]"#)
        #expect(try await Self.keys(String(nodes.stream.dropLast(2)) + "*", on: redis) == [nodes.stream])
    }

    @Test("with sharded Pub/Sub, requests and responses use sharded channels named as Node's, across nodes")
    func requestsOverShardedPubSub() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, shardedPubSub: true)
        defer { a.factory.close() }
        let b = try await Self.makeNode(key: key, shardedPubSub: true)
        defer { b.factory.close() }
        let redis = try await Self.redis()
        defer { redis.close() }
        let (uidA, uidB) = (try Self.adapter(of: a).uid, try Self.adapter(of: b).uid)

        let expected = ["\(key)#/#", "\(key)#/#\(uidA)#", "\(key)#/#\(uidB)#"].sorted()
        #expect(
            try await Self.eventually {
                let sharded = try await redis.command(["PUBSUB", "SHARDCHANNELS", key + "#*"])
                return (sharded.elements ?? []).compactMap(\.text).sorted() == expected
            })
        #expect(try await redis.command(["PUBSUB", "CHANNELS", key + "#*"]).elements?.isEmpty == true)
        let listeners = try await redis.command(["PUBSUB", "SHARDNUMSUB", key + "#/#"])
        #expect(RedisPublisher.subscriberCount(in: listeners) == 2)

        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let everyone = await a.io.sockets.fetchSockets()
        #expect(Set(everyone.map(\.id)) == [alice.socketID(on: a), bob.socketID(on: b)])
        // Broadcasts still go through the stream.
        a.io.sockets.to("r1").emit("hello")
        #expect(await bob.next() == #"2["hello"]"#)
    }
}

@Suite("Redis streams adapter pieces")
struct RedisStreamPiecesTests {
    @Test("stream ids: parsed as two 64-bit numbers, the next id as Node computes it")
    func streamIDs() {
        #expect(RedisStreamEntry.isID("1700000000000-0"))
        for bad in ["", "-", "1-", "-1", "1-2-3", "a-1", "1-1x", "+1-2", "1-99999999999999999999999", "１-1"] {
            #expect(!RedisStreamEntry.isID(bad), "\(bad)")
        }
        #expect(RedisStreamEntry.id(after: "5-7") == "5-8")
        #expect(RedisStreamEntry.id(after: "5-18446744073709551615") == "6-0")
    }

    @Test("a session is stored as base64 of MessagePack {sid, pid, rooms, data}, as Node does")
    func sessionValue() throws {
        let session = SocketSessionRecord(sid: "s1", pid: "p1", rooms: ["s1", "r"], data: ["name": "x"])
        let expected: [UInt8] =
            [0x84, 0xa3] + Array("sid".utf8) + [0xa2] + Array("s1".utf8) + [0xa3] + Array("pid".utf8) + [0xa2]
            + Array("p1".utf8) + [0xa5] + Array("rooms".utf8) + [0x92, 0xa1] + Array("r".utf8) + [0xa2]
            + Array("s1".utf8) + [0xa4] + Array("data".utf8) + [0x81, 0xa4] + Array("name".utf8) + [0xa1]
            + Array("x".utf8)
        let value = ClusterAdapter.encodeSession(session)
        #expect(value == Data(expected).base64EncodedString())
        #expect(ClusterAdapter.decodeSession(Array(value.utf8)) == session)
        #expect(ClusterAdapter.decodeSession(Array("not base64!".utf8)) == nil)
    }

    @Test("a namespace's stream is named as Node names it: Java's hashCode over UTF-16, JavaScript's remainder")
    func streamNames() {
        var options = RedisStreamOptions()
        #expect(options.streamName(for: "/news") == "socket.io")
        // Expected names from Node's `computeStreamName`.
        let expected: [(count: Int, namespace: String, stream: String)] = [
            (3, "/", "socket.io-2"), (3, "/chat", "socket.io-1"), (3, "/news", "socket.io-0"),
            (5, "/chat-room-42", "socket.io--1"), (1024, "/admin", "socket.io-128"), (1024, "/é", "socket.io-666"),
            (1024, "/😀", "socket.io-466"),
        ]
        for (count, namespace, stream) in expected {
            options.count = count
            #expect(options.streamName(for: namespace) == stream, "\(namespace) of \(count)")
        }
    }

    @Test("deliveries waiting for their entry ids run in the order they were queued")
    func orderedDeliveries() {
        let deliveries = OrderedDeliveries()
        let log = EventLog<String>()
        let tickets = (0..<3).map { index in deliveries.enqueue { log.record("\(index):\($0 ?? "none")") } }
        deliveries.complete(tickets[2], offset: "3-0")
        deliveries.complete(tickets[1], offset: nil)
        #expect(log.pending.isEmpty)
        deliveries.complete(tickets[0], offset: "1-0")
        #expect(log.pending == ["0:1-0", "1:none", "2:3-0"])
    }
}
