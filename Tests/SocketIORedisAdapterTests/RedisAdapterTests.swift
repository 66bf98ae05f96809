import EngineIO
import EngineTestSupport
import Foundation
import Logging
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Testing

@testable import SocketIORedisAdapter

@Suite("MessagePack as notepack.io writes it")
struct MessagePackTests {
    /// `msgpack.packb(["emitter", {"type": 2, "data": ["message", {"text": "hi", "n": 1}], "nsp": "/"},
    /// {"rooms": ["r1"], "flags": {}, "except": []}])`, from Python's msgpack 1.1.
    static let emitterBytes: [UInt8] = [
        147, 167, 101, 109, 105, 116, 116, 101, 114, 131, 164, 116, 121, 112, 101, 2, 164, 100, 97, 116, 97, 146, 167,
        109, 101, 115, 115, 97, 103, 101, 130, 164, 116, 101, 120, 116, 162, 104, 105, 161, 110, 1, 163, 110, 115, 112,
        161, 47, 131, 165, 114, 111, 111, 109, 115, 145, 162, 114, 49, 165, 102, 108, 97, 103, 115, 128, 166, 101, 120,
        99, 101, 112, 116, 144,
    ]
    static let emitterValue: JSONValue = [
        "emitter", ["type": 2, "data": ["message", ["text": "hi", "n": 1]], "nsp": "/"],
        ["rooms": ["r1"], "flags": [:], "except": []],
    ]

    @Test("the emitter's bytes decode, and encoding the same value gives the same bytes")
    func emitterFormat() throws {
        #expect(try MessagePack.decode(Self.emitterBytes) == Self.emitterValue)
        #expect(MessagePack.encode(Self.emitterValue) == Self.emitterBytes)
    }

    @Test("every kind of value round-trips")
    func roundTrip() throws {
        let values: [JSONValue] = [
            .null, true, false, 0, 127, 128, -1, -33, 70000, .integer(.max), .integer(.min), 1.5, -0.25,
            "", "é😀", .string(String(repeating: "x", count: 70000)), .binary([]), .binary(Array(0...255)),
            [], [1, [2, [3]]], [:], ["a": 1, "b": ["c": .binary([9])]],
        ]
        for value in values { #expect(try MessagePack.decode(MessagePack.encode(value)) == value) }
    }

    @Test("truncated, trailing or hostile input is refused")
    func malformed() {
        #expect(throws: MessagePack.DecodingError.malformed) { try MessagePack.decode([]) }
        #expect(throws: MessagePack.DecodingError.malformed) {
            try MessagePack.decode(Array(Self.emitterBytes.dropLast()))
        }
        #expect(throws: MessagePack.DecodingError.malformed) { try MessagePack.decode(Self.emitterBytes + [0xc0]) }
        #expect(throws: MessagePack.DecodingError.malformed) { try MessagePack.decode([0xc1]) }  // never used
        // A map with an array key.
        #expect(throws: MessagePack.DecodingError.unsupportedKey) { try MessagePack.decode([0x81, 0x90, 0x01]) }
        // 1,000 nested arrays.
        #expect(throws: (any Error).self) { try MessagePack.decode(Array(repeating: 0x91, count: 1000) + [0xc0]) }
    }

    @Test("REDIS_URL parses; the password never shows in descriptions")
    func redisURL() throws {
        let configuration = try RedisConfiguration(url: "redis://:s3cret@cache.internal:6380/2")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6380)
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == 2)
        #expect(!configuration.description.contains("s3cret"))
        #expect(try RedisConfiguration(url: "redis://localhost").port == 6379)
        #expect(throws: RedisConfiguration.InvalidURL.self) { try RedisConfiguration(url: "http://localhost") }
        #expect(throws: RedisConfiguration.InvalidURL.self) { try RedisConfiguration(url: "redis://localhost/x") }
    }

    @Test("percent-encoded user and password are decoded exactly once")
    func percentEncodedCredentials() throws {
        let configuration = try RedisConfiguration(url: "redis://al%25ice:x%2541y%40z@cache.internal")
        #expect(configuration.username == "al%ice")
        #expect(configuration.password == "x%41y@z")
    }

    @Test("string interpolation of a configuration never shows the password")
    func interpolationWithoutPassword() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:s3cret@cache.internal:6380/2")
        #expect("\(configuration)" == "redis://cache.internal:6380/2")
        #expect(!String(describing: configuration).contains("s3cret"))
    }

    @Test("a malformed REDIS_URL is reported without its password")
    func invalidURLWithoutPassword() {
        let error = #expect(throws: RedisConfiguration.InvalidURL.self) {
            try RedisConfiguration(url: "redis://alice:s3cret@cache.internal/not-a-number")
        }
        #expect(error?.description.contains("s3cret") == false, "\(String(describing: error))")
        #expect(error?.description.hasSuffix("redis://alice:********@cache.internal/not-a-number") == true)
    }

    @Test("rediss:// is TLS, with the same user, password, port and database as redis://")
    func redissURL() throws {
        let configuration = try RedisConfiguration(url: "rediss://alice:s3cret@cache.example.com:6380/1")
        #expect(configuration.tls == RedisTLS())
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s3cret")
        #expect(configuration.port == 6380)
        #expect(configuration.database == 1)
        #expect(configuration.description == "rediss://cache.example.com:6380/1")
        #expect(try RedisConfiguration(url: "redis://localhost").tls == nil)
    }
}

/// Two nodes (two Socket.IO servers with their own adapters) on a real redis-server.
@Suite("Redis adapter across nodes", .serialized)
struct RedisAdapterClusterTests {
    struct Node {
        let io: SocketIOServer
        let factory: RedisAdapterFactory
    }

    static func makeNode(
        key: String, requestsTimeout: Duration = .seconds(2), configuration: RedisConfiguration? = nil,
        logger: Logger? = nil, adapter: RedisAdapterMode = .pubsub, subscriptionMode: ClusterSubscriptionMode = .dynamic
    ) async throws -> Node {
        var configuration = configuration ?? RedisConfiguration(host: "127.0.0.1", port: 0)
        if configuration.port == 0 { configuration.port = try await RedisTestServer.shared.port() }
        configuration.key = key
        configuration.requestsTimeout = requestsTimeout
        configuration.adapter = adapter
        configuration.subscriptionMode = subscriptionMode
        var quiet = Logger(label: "redis-test")
        quiet.logLevel = .error
        let factory = RedisAdapterFactory(configuration: configuration, logger: logger ?? quiet)
        let io = makeServer(adapter: factory.factory)
        if let classic = io.sockets.adapter as? RedisAdapter {
            await classic.waitUntilSubscribed()
        } else {
            await (try #require(io.sockets.adapter as? ClusterAdapter)).waitUntilSubscribed()
        }
        return Node(io: io, factory: factory)
    }

    /// A server whose clients `join` a room (acknowledged, with a name kept in the socket's
    /// data) and `say` something to a room (as `said`).
    static func makeServer(adapter: AdapterFactory) -> SocketIOServer {
        let io = SocketIOServer(engine: EngineServer(configuration: EngineConfiguration()), adapter: adapter)
        io.sockets.onConnection { socket in
            socket.on("join") { event in
                if let room = event.args.first?.stringValue { event.socket.join(room) }
                if let name = event.args.dropFirst().first { event.socket.data = ["name": name] }
                event.ack?("joined")
            }
            socket.on("say") { event in
                guard let room = event.args.first?.stringValue else { return }
                event.socket.to(room).emit("said", args: Array(event.args.dropFirst()))
            }
        }
        return io
    }

    static func client(on node: Node, room: String, name: String = "") async throws -> RawClient {
        try await client(on: node.io, room: room, name: name)
    }

    /// A client connected to `namespace` of `io` that joined `room` there.
    static func client(
        on io: SocketIOServer, room: String, name: String = "", namespace: String = "/"
    ) async throws -> RawClient {
        let client = try await RawClient(io)
        _ = try await client.connect(namespace)
        let prefix = namespace == "/" ? "" : namespace + ","
        client.send("2" + prefix + #"1["join","\#(room)","\#(name)"]"#)
        #expect(await client.next() == "3" + prefix + #"1["joined"]"#)
        return client
    }

    static func uniqueKey() -> String { "test-\(UUID().uuidString.prefix(8))" }

    @Test("a room broadcast from one node reaches the room's sockets on the other, not the sender")
    func broadcastAcrossNodes() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let b = try await Self.makeNode(key: key)
        let alice = try await Self.client(on: a, room: "r1")
        let bob = try await Self.client(on: b, room: "r1")
        let carol = try await Self.client(on: b, room: "r2")
        alice.send(#"2["say","r1","hello from a"]"#)
        #expect(await bob.next() == #"2["said","hello from a"]"#)
        // carol (other room) and alice (the sender) get the next, unrelated broadcast first.
        a.io.sockets.emit("everyone")
        #expect(await carol.next() == #"2["everyone"]"#)
        #expect(await alice.next() == #"2["everyone"]"#)
        #expect(await bob.next() == #"2["everyone"]"#)
    }

    @Test("socketsLeave on one node takes sockets out of the room on the other, before later messages")
    func leaveAcrossNodes() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let b = try await Self.makeNode(key: key)
        let alice = try await Self.client(on: a, room: "r1")
        let bob = try await Self.client(on: b, room: "r1")
        await a.io.sockets.to("r1").except(alice.socketID(on: a)).socketsLeave(["r1"])
        alice.send(#"2["say","r1","after the kick"]"#)
        b.io.sockets.emit("marker")
        // bob's next packet is the marker: "after the kick" never came.
        #expect(await bob.next() == #"2["marker"]"#)
    }

    @Test("fetchSockets sees both nodes' sockets with their data; disconnectSockets reaches the other node")
    func fetchAndDisconnect() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let b = try await Self.makeNode(key: key)
        _ = try await Self.client(on: a, room: "r1", name: "alice")
        let bob = try await Self.client(on: b, room: "r1", name: "bob")
        let sockets = await a.io.sockets.to("r1").fetchSockets()
        #expect(Set(sockets.compactMap { $0.data["name"]?.stringValue }) == ["alice", "bob"])
        #expect(await a.io.sockets.adapter.allRooms().contains("r1"))
        await a.io.sockets.to("r1").disconnectSockets()
        #expect(await bob.next() == "1")
    }

    @Test("a fetchSockets reply carries the handshake without its credentials")
    func fetchReplyWithoutCredentials() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let b = try await Self.makeNode(key: key)
        let seen = EventLog<[UInt8]>()
        let listener = RedisSubscriber(
            configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port()),
            patterns: [], channels: ["\(key)-response#/#"], logger: Logger(label: "listener")
        ) { _, payload in seen.record(payload) }
        defer { listener.stop() }
        await listener.waitUntilSubscribed(timeout: .seconds(5))
        let client = try await RawClient(
            b.io,
            headers: [
                "Cookie": "access_token_cookie=cookie-secret", "Authorization": "Bearer header-secret",
                "Proxy-Authorization": "Basic proxy-secret", "User-Agent": "test-agent",
            ]
        )
        _ = try await client.connect(auth: #"{"token":"auth-secret"}"#)
        client.send(#"21["join","r1"]"#)
        #expect(await client.next() == #"31["joined"]"#)

        let sockets = await a.io.sockets.to("r1").fetchSockets()
        #expect(sockets.count == 1)
        let reply = try #require(await seen.next())
        let text = String(decoding: reply, as: UTF8.self)
        for secret in ["cookie-secret", "header-secret", "proxy-secret", "auth-secret"] {
            #expect(!text.contains(secret), "\(secret) crossed Redis: \(text)")
        }
        let handshake = try #require(try JSONValue(parsing: reply)["sockets"]?.arrayValue?.first?["handshake"])
        #expect(handshake["headers"]?["user-agent"]?.stringValue == "test-agent")
        #expect(handshake["auth"] == [:])
    }

    @Test("a node that stops answering delays a query by the timeout, never hangs it")
    func silentNode() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key, requestsTimeout: .milliseconds(300))
        _ = try await Self.client(on: a, room: "r1", name: "alice")
        // A "node" that is subscribed to the request channel but never answers.
        let zombie = RedisSubscriber(
            configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port()),
            patterns: [], channels: ["\(key)-request#/#"], logger: Logger(label: "zombie")
        ) { _, _ in }
        defer { zombie.stop() }
        await zombie.waitUntilSubscribed(timeout: .seconds(5))
        let clock = ContinuousClock()
        let start = clock.now
        let sockets = await a.io.sockets.to("r1").fetchSockets()
        #expect(sockets.map { $0.data["name"]?.stringValue } == ["alice"])
        #expect(clock.now - start >= .milliseconds(300))
    }

    @Test("what @socket.io/redis-emitter publishes reaches the room's clients")
    func emitterMessage() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let member = try await Self.client(on: a, room: "r1")
        let outsider = try await Self.client(on: a, room: "r2")
        let publisher = try await RedisClientConnection.connect(
            to: RedisEndpoint(
                configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port())))
        defer { publisher.close() }
        let bytes = MessagePack.encode([
            "emitter", ["type": 2, "data": ["message", ["text": "from a service"]], "nsp": "/"],
            ["rooms": ["r1"], "flags": [:], "except": []],
        ])
        _ = try await publisher.send([Array("PUBLISH".utf8), Array("\(key)#/#r1#".utf8), bytes]).get()
        #expect(await member.next() == #"2["message",{"text":"from a service"}]"#)
        a.io.sockets.emit("marker")
        #expect(await outsider.next() == #"2["marker"]"#)
    }

    @Test("a broadcast or disconnection from another node whose rooms are malformed reaches no socket")
    func malformedRoomsReachNobody() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let alice = try await Self.client(on: a, room: "r1")
        let publisher = try await RedisClientConnection.connect(
            to: RedisEndpoint(
                configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port())))
        defer { publisher.close() }
        func publish(_ channel: String, _ message: [UInt8]) async throws {
            _ = try await publisher.send([Array("PUBLISH".utf8), Array(channel.utf8), message]).get()
        }
        func broadcast(_ event: String, _ options: JSONValue) -> [UInt8] {
            MessagePack.encode(["emitter", ["type": 2, "data": [.string(event)], "nsp": "/"], options])
        }
        for options: JSONValue in [
            ["rooms": "r1", "except": [], "flags": [:]], ["rooms": [.null], "except": [], "flags": [:]], "r1",
        ] {
            try await publish("\(key)#/#", broadcast("secret", options))
            let disconnect: JSONValue = ["uid": "other", "type": 4, "opts": options, "close": true]
            try await publish("\(key)-request#/#", Array(disconnect.jsonString.utf8))
        }
        // Published after them on the same connection, so it arrives after them.
        try await publish("\(key)#/#", broadcast("marker", ["rooms": [], "except": [], "flags": [:]]))
        #expect(await alice.next() == #"2["marker"]"#)
    }

    @Test("what a node publishes is the documented structure, on the room's channel")
    func publishedFormat() async throws {
        let key = Self.uniqueKey()
        let a = try await Self.makeNode(key: key)
        let seen = EventLog<(String, [UInt8])>()
        let listener = RedisSubscriber(
            configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port()),
            patterns: ["\(key)#/#*"], channels: [], logger: Logger(label: "listener")
        ) { channel, payload in seen.record((channel, payload)) }
        defer { listener.stop() }
        await listener.waitUntilSubscribed(timeout: .seconds(5))
        a.io.sockets.to("room-1").emit("message", ["username": "alice", "message": "hi"])
        let (channel, payload) = try #require(await seen.next())
        #expect(channel == "\(key)#/#room-1#")
        let decoded = try MessagePack.decode(payload)
        let uid = try #require(decoded.arrayValue?.first?.stringValue)
        #expect(uid.count == 6)
        #expect(
            decoded == [
                .string(uid), ["type": 2, "data": ["message", ["username": "alice", "message": "hi"]], "nsp": "/"],
                ["rooms": ["room-1"], "except": [], "flags": [:]],
            ]
        )
    }
}

extension RawClient {
    /// The namespace socket id the server gave this client (its only socket on `/`).
    func socketID(on node: RedisAdapterClusterTests.Node) -> String { socketID(on: node.io) }

    /// The namespace socket id `io` gave this client (its only socket on `/`).
    func socketID(on io: SocketIOServer) -> String {
        io.sockets.adapter.localSocketIDs(BroadcastOptions()).first { id in
            io.sockets.socket(id: id)?.session.id == engineSessionID
        } ?? ""
    }
}
