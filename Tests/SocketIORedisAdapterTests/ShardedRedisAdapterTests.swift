import EngineIO
import EngineTestSupport
import Foundation
import Logging
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Testing

@testable import SocketIORedisAdapter

/// `REDIS_ADAPTER=sharded`: two nodes on a real redis-server, speaking Node's sharded adapter.
@Suite("Sharded Redis adapter across nodes", .serialized)
struct ShardedRedisAdapterTests {
    typealias Node = RedisAdapterClusterTests.Node

    static func makeNode(
        key: String, mode: ClusterSubscriptionMode = .dynamic, requestsTimeout: Duration = .seconds(2),
        configuration: RedisConfiguration? = nil, logger: Logger? = nil
    ) async throws -> Node {
        try await RedisAdapterClusterTests.makeNode(
            key: key, requestsTimeout: requestsTimeout, configuration: configuration, logger: logger,
            adapter: .sharded, subscriptionMode: mode)
    }

    static func uid(of node: Node) -> String { (node.io.sockets.adapter as? ClusterAdapter)?.uid ?? "" }

    /// Waits until `count` connections listen to the sharded `channel` (a node subscribes to
    /// a room's channel a moment after its first socket joins).
    static func waitForListeners(_ count: Int, on channel: String, node: Node) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while clock.now < deadline {
            if await node.factory.publisher.subscriberCount(channel, sharded: true) == count { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// A connection of its own that `SSUBSCRIBE`s to `channels` and records what comes.
    static func listener(
        _ channels: Set<String>, port: Int
    ) async -> (RedisSubscriber, EventLog<(channel: String, text: String)>) {
        let seen = EventLog<(channel: String, text: String)>()
        let listener = RedisSubscriber(
            endpoint: RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: port)), patterns: [],
            channels: [], shardedChannels: channels, logger: Logger(label: "listener")
        ) { channel, payload in seen.record((channel, String(decoding: payload, as: UTF8.self))) }
        await listener.waitUntilSubscribed(timeout: .seconds(5))
        return (listener, seen)
    }

    @Test("the bytes published for a room, everyone, an except and fetchSockets are Node's sharded adapter's")
    func publishedBytes() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, requestsTimeout: .milliseconds(200))
        defer { a.factory.close() }
        let port = try await RedisTestServer.shared.port()
        let (listener, seen) = await Self.listener(["\(key)#/#", "\(key)#/#room-1#"], port: port)
        defer { listener.stop() }
        let uid = Self.uid(of: a)

        a.io.sockets.to("room-1").emit("message", ["username": "alice", "message": "hi"])
        var message = try #require(await seen.next())
        #expect(message.channel == "\(key)#/#room-1#")
        #expect(
            message.text
                == #"{"type":3,"data":{"packet":{"type":2,"data":["message",{"username":"alice","message":"hi"}]},"opts":{"rooms":["room-1"],"except":[],"flags":{}}},"uid":"\#(uid)","nsp":"/"}"#
        )

        a.io.sockets.emit("hello", "all")
        message = try #require(await seen.next())
        #expect(message.channel == "\(key)#/#")
        #expect(
            message.text
                == #"{"type":3,"data":{"packet":{"type":2,"data":["hello","all"]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"\#(uid)","nsp":"/"}"#
        )

        a.io.sockets.to("room-1").except("room-2").emit("hello")
        message = try #require(await seen.next())
        #expect(message.channel == "\(key)#/#room-1#")
        #expect(
            message.text
                == #"{"type":3,"data":{"packet":{"type":2,"data":["hello"]},"opts":{"rooms":["room-1"],"except":["room-2"],"flags":{}}},"uid":"\#(uid)","nsp":"/"}"#
        )

        // The listener on the main channel counts as a second node: a request goes out,
        // and the answer is what came before the timeout (nothing).
        #expect(await a.io.sockets.to("r1").fetchSockets().isEmpty)
        message = try #require(await seen.next())
        #expect(message.channel == "\(key)#/#")
        let requestID = try #require(try JSONValue(parsing: message.text)["data"]?["requestId"]?.stringValue)
        #expect(requestID.count == 16)
        #expect(
            message.text
                == #"{"type":7,"data":{"opts":{"rooms":["r1"],"except":[],"flags":{}},"requestId":"\#(requestID)"},"uid":"\#(uid)","nsp":"/"}"#
        )
    }

    @Test(
        "broadcasts, except, socketsJoin, socketsLeave, fetchSockets and disconnectSockets cross nodes",
        arguments: [ClusterSubscriptionMode.static, .dynamic])
    func acrossNodes(mode: ClusterSubscriptionMode) async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key, mode: mode)
        let b = try await Self.makeNode(key: key, mode: mode)
        defer { for node in [a, b] { node.factory.close() } }
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1", name: "alice")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1", name: "bob")
        let carol = try await RedisAdapterClusterTests.client(on: b, room: "r2", name: "carol")
        if mode == .dynamic {
            #expect(await Self.waitForListeners(2, on: "\(key)#/#r1#", node: a))
        }

        alice.send(#"2["say","r1","hello"]"#)
        #expect(await bob.next() == #"2["said","hello"]"#)

        a.io.sockets.except("r2").emit("not-r2")
        #expect(await alice.next() == #"2["not-r2"]"#)
        #expect(await bob.next() == #"2["not-r2"]"#)
        a.io.sockets.emit("everyone")
        #expect(await carol.next() == #"2["everyone"]"#)
        #expect(await alice.next() == #"2["everyone"]"#)
        #expect(await bob.next() == #"2["everyone"]"#)

        let names = await a.io.sockets.to("r1").fetchSockets().compactMap { $0.data["name"]?.stringValue }
        #expect(Set(names) == ["alice", "bob"])

        await a.io.sockets.to("r2").socketsJoin(["r3"])
        if mode == .dynamic {
            #expect(await Self.waitForListeners(1, on: "\(key)#/#r3#", node: a))
        }
        a.io.sockets.to("r3").emit("in-r3")
        #expect(await carol.next() == #"2["in-r3"]"#)

        await a.io.sockets.to("r3").socketsLeave(["r3"])
        a.io.sockets.to("r3").emit("after-leave")
        a.io.sockets.to("r2").emit("marker")
        #expect(await carol.next() == #"2["marker"]"#)

        await a.io.sockets.to("r1").disconnectSockets()
        #expect(await bob.next() == "1")
        #expect(await alice.next() == "1")
    }

    @Test("a room's channel an ACL refuses is logged with Redis's reason, not silently left out")
    func refusedRoomChannelIsLogged() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        // The namespace's channel and the response channels (a 16-digit uid), no room's.
        let rules = ["on", ">pw", "~*", "+@all", "resetchannels", "&\(key)#/#", "&\(key)#/#????????????????#"]
        try await RedisClientTests.withACLUser(rules) { user in
            var configuration = RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port())
            configuration.username = user
            configuration.password = "pw"
            let log = RecordingLog()
            let a = try await Self.makeNode(key: key, configuration: configuration, logger: log.logger(label: "acl"))
            defer { a.factory.close() }
            _ = try await RedisAdapterClusterTests.client(on: a, room: "r1")
            #expect(await log.waitFor(.warning, containing: "SSUBSCRIBE \(key)#/#r1# failed"))
        }
    }

    @Test("what a Node node publishes, as JSON on a room's channel or as MessagePack with binary, is delivered")
    func nodeFormatMessages() async throws {
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await Self.makeNode(key: key)
        defer { a.factory.close() }
        let member = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let outsider = try await RedisAdapterClusterTests.client(on: a, room: "r2")
        #expect(await Self.waitForListeners(1, on: "\(key)#/#r1#", node: a))
        let publisher = try await RedisClientConnection.connect(
            to: RedisEndpoint(
                configuration: RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port())))
        defer { publisher.close() }
        let json =
            #"{"type":3,"data":{"packet":{"type":2,"data":["message",{"text":"from node"}]},"opts":{"rooms":["r1"],"except":[],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}"#
        _ = try await publisher.send([Array("SPUBLISH".utf8), Array("\(key)#/#r1#".utf8), Array(json.utf8)]).get()
        #expect(await member.next() == #"2["message",{"text":"from node"}]"#)

        let binary = MessagePack.encode([
            "type": 3,
            "data": [
                "packet": ["type": 2, "data": ["file", .binary([1, 2, 3])]],
                "opts": ["rooms": ["r2"], "except": [], "flags": [:]],
            ],
            "uid": "0123456789abcdef", "nsp": "/",
        ])
        _ = try await publisher.send([Array("SPUBLISH".utf8), Array("\(key)#/#r2#".utf8), binary]).get()
        #expect(await outsider.next() == #"51-["file",{"_placeholder":true,"num":0}]"#)
        #expect(await outsider.next() == "binary:1,2,3")
    }

    @Test("after Redis restarts, a node listens to its rooms' channels again")
    func resubscribesAfterRestart() async throws {
        let started = try await RedisServerProcess.startOwn()
        var server = started.server
        defer { server.stop() }
        let key = RedisAdapterClusterTests.uniqueKey()
        let plain = started.configuration
        let a = try await Self.makeNode(key: key, configuration: plain)
        let log = RecordingLog()
        let b = try await Self.makeNode(key: key, configuration: plain, logger: log.logger(label: "b"))
        defer { for node in [a, b] { node.factory.close() } }
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        #expect(await Self.waitForListeners(2, on: "\(key)#/#r1#", node: a))

        server.stop()
        #expect(await log.waitFor(.warning, containing: "subscriber lost its connection"))
        server = try await server.restarted()
        #expect(await log.waitFor(.info, containing: "subscriber reconnected"))
        #expect(await Self.waitForListeners(2, on: "\(key)#/#r1#", node: a))
        #expect(await Self.waitForListeners(2, on: "\(key)#/#", node: a))
        alice.send(#"2["say","r1","after"]"#)
        #expect(await bob.next() == #"2["said","after"]"#)
    }

    @Test(
        "REDIS_CLUSTER must match the Redis at the start: a cluster node without it, or a single Redis with it, is refused"
    )
    func refusesAMismatchedRedisCluster() async throws {
        func ping(port: Int, cluster: Bool) async throws {
            var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
            configuration.adapter = .sharded
            configuration.cluster = cluster
            let factory = RedisAdapterFactory(configuration: configuration, logger: Logger(label: "ping"))
            defer { factory.close() }
            try await factory.ping()
        }
        let single = try await RedisTestServer.shared.port()
        let clusterNode = try #require(try await RedisClusterTestServer.shared.ports().first)
        try await ping(port: single, cluster: false)
        try await ping(port: clusterNode, cluster: true)
        let refusal = await #expect(throws: RedisIncompatibility.self) {
            try await ping(port: clusterNode, cluster: false)
        }
        #expect(refusal?.description.hasPrefix("REDIS_ADAPTER=sharded: redis://127.0.0.1:") == true)
        #expect(refusal?.description.contains("set REDIS_CLUSTER=true") == true)
        let single7 = await #expect(throws: RedisIncompatibility.self) { try await ping(port: single, cluster: true) }
        #expect(single7?.description.hasPrefix("REDIS_CLUSTER=true: redis://127.0.0.1:") == true)
    }
}
