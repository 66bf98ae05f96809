import NIOCore
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

        let received = AsyncStream.makeStream(of: [UInt8].self)
        let subscriber = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: RedisConfiguration(host: owner.host, port: owner.port)),
            onPush: { push in
                if case .push(let parts) = push, parts.first?.text == "smessage", let payload = parts.last?.bytes {
                    received.continuation.yield(payload)
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
        var messages = received.stream.makeAsyncIterator()
        #expect(await messages.next() == Array("hello".utf8))
    }
}
