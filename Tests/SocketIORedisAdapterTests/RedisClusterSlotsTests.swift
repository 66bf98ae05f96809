import EngineTestSupport
import Logging
import NIOCore
import SocketIOTestSupport
import Testing

@testable import SocketIORedisAdapter

@Suite("Redis Cluster hash slots and topology")
struct RedisClusterSlotsTests {
    @Test("CRC16 is XMODEM's and a slot is it modulo 16,384; a hash tag hashes only what is inside it")
    func hashSlots() {
        #expect(RedisClusterSlots.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        #expect(RedisClusterSlots.hashSlot(of: Array("123456789".utf8)) == 0x31C3)
        let tagged = RedisClusterSlots.hashSlot(of: Array("{room}.a".utf8))
        #expect(tagged == RedisClusterSlots.hashSlot(of: Array("room".utf8)))
        #expect(tagged == RedisClusterSlots.hashSlot(of: Array("x{room}y{z}".utf8)), "the first tag counts")
        #expect(
            RedisClusterSlots.hashSlot(of: Array("a{}b".utf8)) == Int(RedisClusterSlots.crc16(Array("a{}b".utf8)[...]))
                % 16_384, "an empty tag: the whole key")
        #expect(
            RedisClusterSlots.hashSlot(of: Array("{".utf8)) == Int(RedisClusterSlots.crc16(Array("{".utf8)[...]))
                % 16_384,
            "an open brace alone: the whole key")
        #expect(RedisClusterSlots.hashSlot(of: []) == 0)
    }

    static func node(_ port: Int, role: String, tlsPort: Int = 0, endpoint: String = "127.0.0.1") -> RESPValue {
        .array([
            .bulkString(Array("id".utf8)), .bulkString(Array("n\(port)".utf8)),
            .bulkString(Array("port".utf8)), .integer(Int64(port)),
            .bulkString(Array("tls-port".utf8)), .integer(Int64(tlsPort)),
            .bulkString(Array("ip".utf8)), .bulkString(Array("10.0.0.1".utf8)),
            .bulkString(Array("endpoint".utf8)), .bulkString(Array(endpoint.utf8)),
            .bulkString(Array("role".utf8)), .bulkString(Array(role.utf8)),
        ])
    }

    static func shard(_ slots: [Int64], nodes: [RESPValue]) -> RESPValue {
        .array([
            .bulkString(Array("slots".utf8)), .array(slots.map { .integer($0) }),
            .bulkString(Array("nodes".utf8)), .array(nodes),
        ])
    }

    @Test("a CLUSTER SHARDS reply gives each slot range its shard's primary, on its TLS port with TLS")
    func shardsReply() throws {
        let reply = RESPValue.array([
            Self.shard([0, 5460], nodes: [Self.node(7001, role: "replica"), Self.node(7000, role: "master")]),
            Self.shard([10923, 16383, 5461, 10922], nodes: [Self.node(7002, role: "master", tlsPort: 8002)]),
            Self.shard([], nodes: [Self.node(7003, role: "master")]),
        ])
        let slots = try RedisClusterSlots(shardsReply: reply, tls: false)
        #expect(slots.coversEverySlot)
        #expect(slots.primaries == [.init(host: "127.0.0.1", port: 7000), .init(host: "127.0.0.1", port: 7002)])
        #expect(slots.primary(forSlot: 0)?.port == 7000)
        #expect(slots.primary(forSlot: 5460)?.port == 7000)
        #expect(slots.primary(forSlot: 5461)?.port == 7002)
        #expect(slots.primary(forSlot: 16383)?.port == 7002)
        #expect(slots.primary(forSlot: 16384) == nil)

        let overTLS = try RedisClusterSlots(shardsReply: reply, tls: true)
        #expect(
            overTLS.primaries == [.init(host: "127.0.0.1", port: 8002)], "a primary without a TLS port serves nothing")
        #expect(!overTLS.coversEverySlot)
    }

    @Test("RESP3 maps read as RESP2 arrays do; an unknown endpoint falls back to the IP")
    func shardsReplyRESP3() throws {
        func map(_ value: RESPValue) -> RESPValue {
            guard case .array(let elements) = value else { return value }
            return .map(
                stride(from: 0, to: elements.count, by: 2).map {
                    RESPMapEntry(key: elements[$0], value: elements[$0 + 1])
                })
        }
        let node = map(Self.node(7000, role: "master", endpoint: "?"))
        let reply = RESPValue.array([
            map(
                .array([
                    .bulkString(Array("slots".utf8)), .array([.integer(0), .integer(16383)]),
                    .bulkString(Array("nodes".utf8)), .array([node]),
                ]))
        ])
        let slots = try RedisClusterSlots(shardsReply: reply, tls: false)
        #expect(slots.primaries == [.init(host: "10.0.0.1", port: 7000)])
        #expect(slots.coversEverySlot)
    }

    @Test("an error, a reply that is not a list, slots out of range or owned twice are refused with a reason")
    func malformedShardsReplies() {
        #expect(throws: RedisClusterSlots.UnexpectedReply.self) {
            try RedisClusterSlots(shardsReply: .error("ERR This instance has cluster support disabled"), tls: false)
        }
        #expect(throws: RedisClusterSlots.UnexpectedReply.self) {
            try RedisClusterSlots(shardsReply: .integer(1), tls: false)
        }
        #expect(throws: RedisClusterSlots.UnexpectedReply.self) {
            try RedisClusterSlots(
                shardsReply: .array([Self.shard([0, 16384], nodes: [Self.node(7000, role: "master")])]), tls: false)
        }
        #expect(throws: RedisClusterSlots.UnexpectedReply.self) {
            try RedisClusterSlots(
                shardsReply: .array([
                    Self.shard([0, 100], nodes: [Self.node(7000, role: "master")]),
                    Self.shard([100, 200], nodes: [Self.node(7001, role: "master")]),
                ]), tls: false)
        }
    }
}

@Suite("A real Redis Cluster of three primaries", .serialized)
struct RedisClusterTests {
    @Test(
        "the topology read from any one node gives all 16,384 slots to three primaries, and slots match CLUSTER KEYSLOT"
    )
    func topologyAndKeySlots() async throws {
        let ports = try await RedisClusterTestServer.shared.ports()
        let connection = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: ports[1])))
        defer { connection.close() }
        let slots = try RedisClusterSlots(shardsReply: try await connection.command(["CLUSTER", "SHARDS"]), tls: false)
        #expect(slots.coversEverySlot)
        #expect(Set(slots.primaries.map(\.port)) == Set(ports))
        for key in ["socket.io#/#", "socket.io#/#abc123#", "socket.io#/#room 1#", "{tag}x", "x{}y", "é{ü}", ""] {
            let expected = try await connection.command(["CLUSTER", "KEYSLOT", key])
            #expect(expected == .integer(Int64(RedisClusterSlots.hashSlot(of: Array(key.utf8)))), "\(key)")
        }
    }

    @Test("SPUBLISH on the channel's primary reaches an SSUBSCRIBE there; any other primary answers MOVED to it")
    func shardedPublishGoesToTheOwner() async throws {
        let ports = try await RedisClusterTestServer.shared.ports()
        let seed = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: ports[0])))
        defer { seed.close() }
        let slots = try RedisClusterSlots(shardsReply: try await seed.command(["CLUSTER", "SHARDS"]), tls: false)
        let channel = "socket.io#/#"
        let owner = try #require(slots.primary(forChannel: channel))
        let other = try #require(slots.primaries.first { $0 != owner })

        let received = EventLog<[UInt8]>()
        let subscriber = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: owner.host, port: owner.port)),
            onPush: { push in
                if case .push(let parts) = push, parts.first?.text == "smessage", let payload = parts.last?.bytes {
                    received.record(payload)
                }
            })
        defer { subscriber.close() }
        try await subscriber.subscribe(["SSUBSCRIBE", channel]).get()

        let elsewhere = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: other.host, port: other.port)))
        defer { elsewhere.close() }
        let refused = try await elsewhere.command(["SPUBLISH", channel, "lost"])
        let slot = RedisClusterSlots.hashSlot(of: Array(channel.utf8))
        #expect(refused.errorMessage == "MOVED \(slot) \(owner)")

        let publisher = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: owner.host, port: owner.port)))
        defer { publisher.close() }
        #expect(try await publisher.command(["SPUBLISH", channel, "hello"]) == .integer(1))
        #expect(await received.next() == Array("hello".utf8))
    }
}

/// `REDIS_ADAPTER=sharded` with `REDIS_CLUSTER=true`: two Chatify nodes on the three
/// primaries, each told a different node of the cluster.
@Suite("Sharded adapter on a Redis Cluster", .serialized)
struct ShardedAdapterOnRedisClusterTests {
    typealias Node = RedisAdapterClusterTests.Node

    static func makeNode(key: String, port: Int) async throws -> Node {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.cluster = true
        return try await RedisAdapterClusterTests.makeNode(
            key: key, configuration: configuration, adapter: .sharded, subscriptionMode: .dynamic)
    }

    /// Two nodes sharing a fresh channel prefix, told the cluster's nodes `seeds`.
    static func twoNodes(seeds: (Int, Int)) async throws -> (ports: [Int], key: String, a: Node, b: Node) {
        let ports = try await RedisClusterTestServer.shared.ports()
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await makeNode(key: key, port: ports[seeds.0])
        let b = try await makeNode(key: key, port: ports[seeds.1])
        return (ports, key, a, b)
    }

    static func connection(to port: Int) async throws -> RedisClientConnection {
        try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: port)))
    }

    static func slots(from port: Int) async throws -> RedisClusterSlots {
        let connection = try await connection(to: port)
        defer { connection.close() }
        return try RedisClusterSlots(shardsReply: try await connection.command(["CLUSTER", "SHARDS"]), tls: false)
    }

    /// Waits until `count` connections listen to the sharded `channel` on its owner.
    static func waitForListeners(_ count: Int, on channel: String, seed: Int) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while clock.now < deadline {
            let owner = try #require(try await slots(from: seed).primary(forChannel: channel))
            let connection = try await connection(to: owner.port)
            let reply = try? await connection.command(["PUBSUB", "SHARDNUMSUB", channel])
            connection.close()
            if RedisPublisher.subscriberCount(in: reply) == count { return true }
            try await Task.sleep(for: .milliseconds(20))  // Redis has no event for a new subscriber
        }
        return false
    }

    @Test("rooms on different shards: broadcasts, presence and a kick cross nodes, each channel on its owner")
    func acrossShards() async throws {
        let (ports, key, a, b) = try await Self.twoNodes(seeds: (0, 2))
        defer { for node in [a, b] { node.factory.close() } }
        let slots = try await Self.slots(from: ports[1])
        let rooms = (1...8).map { "room-\($0)" }
        let owners = Set(rooms.compactMap { slots.primary(forChannel: "\(key)#/#\($0)#") })
        #expect(owners.count >= 2, "the rooms' channels spread over several primaries")

        var bobs: [RawClient] = []
        for room in rooms {
            let alice = try await RedisAdapterClusterTests.client(on: a, room: room, name: "alice")
            let bob = try await RedisAdapterClusterTests.client(on: b, room: room, name: "bob")
            #expect(try await Self.waitForListeners(2, on: "\(key)#/#\(room)#", seed: ports[0]))
            alice.send(#"2["say","\#(room)","hello \#(room)"]"#)
            #expect(await bob.next() == #"2["said","hello \#(room)"]"#)
            bob.send(#"2["say","\#(room)","back"]"#)
            #expect(await alice.next() == #"2["said","back"]"#)
            bobs.append(bob)
        }
        a.io.sockets.emit("everyone")
        for bob in bobs { #expect(await bob.next() == #"2["everyone"]"#) }
        let carol = try await RedisAdapterClusterTests.client(on: b, room: "room-x", name: "carol")
        b.io.sockets.emit("marker")
        #expect(await carol.next() == #"2["marker"]"#)

        let names = await a.io.sockets.to("room-1").fetchSockets().compactMap { $0.data["name"]?.stringValue }
        #expect(names.sorted() == ["alice", "bob"])
        await a.io.sockets.to("room-x").disconnectSockets()
        #expect(await carol.next() == "1")
    }

    /// Gives `slot` to the primary on `target`, as a resharding of an empty slot would.
    static func move(slot: Int, to target: Int, ports: [Int]) async throws {
        let targetConnection = try await connection(to: target)
        defer { targetConnection.close() }
        let targetID = try #require(try await targetConnection.command(["CLUSTER", "MYID"]).text)
        for port in [target] + ports.filter({ $0 != target }) {
            let connection = try await connection(to: port)
            let reply = try await connection.command(["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
            connection.close()
            #expect(reply.errorMessage == nil, "\(reply)")
        }
    }

    @Test("a publish the old owner of a moved slot answers with MOVED is sent again to the new owner")
    func publishResentAfterMoved() async throws {
        let ports = try await RedisClusterTestServer.shared.ports()
        let channel = "\(RedisAdapterClusterTests.uniqueKey())#/#"
        let router = RedisClusterRouter(
            configuration: RedisConfiguration(host: "127.0.0.1", port: ports[0]), logger: Logger(label: "router"))
        defer { router.stop() }
        await router.waitUntilSlotsRead(timeout: .seconds(10))
        let slot = RedisClusterSlots.hashSlot(of: Array(channel.utf8))
        let owner = try #require(router.slots?.primary(forSlot: slot))
        // The owner's connection is open and has answered before the slot moves.
        #expect(await router.subscriberCount(channel) == 0)
        let target = try #require(ports.first { $0 != owner.port })
        try await Self.move(slot: slot, to: target, ports: ports)

        let received = EventLog<[UInt8]>()
        let listener = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: target)),
            onPush: { push in
                if case .push(let parts) = push, parts.first?.text == "smessage", let payload = parts.last?.bytes {
                    received.record(payload)
                }
            })
        defer { listener.close() }
        try await listener.subscribe(["SSUBSCRIBE", channel]).get()
        #expect(router.slots?.primary(forSlot: slot) == owner, "nothing told the router yet")
        router.publish(channel: channel, message: Array("after the move".utf8))
        #expect(await received.next() == Array("after the move".utf8))
        #expect(router.slots?.primary(forSlot: slot)?.port == target)
    }

    @Test("a room's slot moved to another primary: the room's messages reach the other node again")
    func slotMoved() async throws {
        let (ports, key, a, b) = try await Self.twoNodes(seeds: (0, 1))
        defer { for node in [a, b] { node.factory.close() } }
        let room = "moving"
        let channel = "\(key)#/#\(room)#"
        let alice = try await RedisAdapterClusterTests.client(on: a, room: room)
        let bob = try await RedisAdapterClusterTests.client(on: b, room: room)
        #expect(try await Self.waitForListeners(2, on: channel, seed: ports[0]))
        alice.send(#"2["say","moving","before"]"#)
        #expect(await bob.next() == #"2["said","before"]"#)

        // Give the channel's (empty) slot to another primary, as a resharding would.
        let slot = RedisClusterSlots.hashSlot(of: Array(channel.utf8))
        let before = try #require(try await Self.slots(from: ports[0]).primary(forSlot: slot))
        let target = try #require(ports.first { $0 != before.port })
        try await Self.move(slot: slot, to: target, ports: ports)

        // Both nodes listen on the new owner again, and a publish to the old one is resent.
        #expect(try await Self.waitForListeners(2, on: channel, seed: target))
        alice.send(#"2["say","moving","after"]"#)
        #expect(await bob.next() == #"2["said","after"]"#)
        bob.send(#"2["say","moving","and back"]"#)
        #expect(await alice.next() == #"2["said","and back"]"#)
    }
}
