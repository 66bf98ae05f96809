import EngineIO
import EngineTestSupport
import Foundation
import Logging
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Synchronization
import Testing

@testable import SocketIORedisAdapter

/// Pub/sub in this process, as Redis does it: a message published on a channel reaches
/// every bus subscribed to it (the publisher's own too); everything published is recorded.
final class InProcessHub: Sendable {
    typealias Handler = @Sendable (_ channel: String, _ payload: [UInt8]) -> Void

    private struct State {
        var subscribers: [String: [Int: Handler]] = [:]
        var nextBus = 0
    }

    private let state = Mutex(State())
    /// Every message published, in order.
    let published = EventLog<(channel: String, text: String, bytes: [UInt8])>()

    final class Bus: ClusterBus {
        let hub: InProcessHub
        let id: Int
        let handler: Handler

        init(hub: InProcessHub, id: Int, handler: @escaping Handler) {
            self.hub = hub
            self.id = id
            self.handler = handler
        }

        func publish(channel: String, message: [UInt8]) { hub.publish(channel: channel, message: message) }
        func subscribe(_ channels: [String]) { hub.update(id, channels, handler) }
        func unsubscribe(_ channels: [String]) { hub.update(id, channels, nil) }
        func subscriberCount(_ channel: String) async -> Int { hub.subscriberCount(channel) }
        func waitUntilSubscribed(timeout: Duration) async {}
        func close() { hub.removeEverywhere(id) }
    }

    func makeBus(channels: [String], handler: @escaping Handler) -> any ClusterBus {
        let id = state.withLock { state in
            defer { state.nextBus += 1 }
            return state.nextBus
        }
        update(id, channels, handler)
        return Bus(hub: self, id: id, handler: handler)
    }

    /// Subscribes `channels` for bus `id` (unsubscribes them with a nil handler).
    func update(_ id: Int, _ channels: [String], _ handler: Handler?) {
        state.withLock { update(id, channels, handler, in: &$0) }
    }

    func removeEverywhere(_ id: Int) {
        state.withLock { state in
            for channel in Array(state.subscribers.keys) { update(id, [channel], nil, in: &state) }
        }
    }

    private func update(_ id: Int, _ channels: [String], _ handler: Handler?, in state: inout State) {
        for channel in channels {
            state.subscribers[channel, default: [:]][id] = handler
            if state.subscribers[channel]?.isEmpty == true { state.subscribers[channel] = nil }
        }
    }

    func subscriberCount(_ channel: String) -> Int { state.withLock { $0.subscribers[channel]?.count ?? 0 } }

    /// Delivers outside the lock: a handler may publish (a response) in turn.
    func publish(channel: String, message: [UInt8]) {
        published.record((channel, String(decoding: message, as: UTF8.self), message))
        let handlers = state.withLock { Array(($0.subscribers[channel] ?? [:]).values) }
        for handler in handlers { handler(channel, message) }
    }

    /// Publishes `text` as another node would.
    func publish(channel: String, text: String) { publish(channel: channel, message: Array(text.utf8)) }
}

@Suite("Cluster adapter over an in-process bus")
struct ClusterAdapterTests {
    static func makeNode(
        _ hub: InProcessHub, mode: ClusterSubscriptionMode = .dynamic,
        maximumPendingAcknowledgements: Int = ClusterAdapter.defaultMaximumPendingAcknowledgements
    ) -> SocketIOServer {
        var quiet = Logger(label: "cluster-test")
        quiet.logLevel = .error
        let logger = quiet
        return RedisAdapterClusterTests.makeServer(
            adapter: AdapterFactory { sockets in
                ClusterAdapter(
                    sockets: sockets, channelPrefix: "p", subscriptionMode: mode, requestsTimeout: .seconds(2),
                    maximumPendingAcknowledgements: maximumPendingAcknowledgements, logger: logger,
                    makeBus: hub.makeBus)
            })
    }

    static func uid(of io: SocketIOServer) -> String { (io.sockets.adapter as? ClusterAdapter)?.uid ?? "" }

    @Test("Node's channel rules: a room channel only for an unacknowledged broadcast to one public room")
    func channelRules() {
        let socketLike = String(repeating: "x", count: 20)
        let dynamic = ClusterAdapter.Channels(prefix: "p", namespace: "/", mode: .dynamic)
        #expect(dynamic.broadcast(to: ["r1"], acknowledged: false) == "p#/#r1#")
        #expect(dynamic.broadcast(to: [], acknowledged: false) == "p#/#")
        #expect(dynamic.broadcast(to: ["r1", "r2"], acknowledged: false) == "p#/#")
        #expect(dynamic.broadcast(to: ["r1"], acknowledged: true) == "p#/#")
        #expect(dynamic.broadcast(to: [socketLike], acknowledged: false) == "p#/#")
        // Node counts UTF-16 code units: 10 emoji are 20 of them.
        #expect(dynamic.broadcast(to: [String(repeating: "😀", count: 10)], acknowledged: false) == "p#/#")
        let dynamicPrivate = ClusterAdapter.Channels(prefix: "p", namespace: "/chat", mode: .dynamicPrivate)
        #expect(dynamicPrivate.broadcast(to: [socketLike], acknowledged: false) == "p#/chat#\(socketLike)#")
        let fixed = ClusterAdapter.Channels(prefix: "p", namespace: "/", mode: .static)
        #expect(fixed.broadcast(to: ["r1"], acknowledged: false) == "p#/#")
        #expect(fixed.subscription(for: .init(room: "r1", created: true, isSocketID: false)) == nil)
        #expect(dynamic.subscription(for: .init(room: "r1", created: true, isSocketID: false)) == "p#/#r1#")
        #expect(dynamic.subscription(for: .init(room: "id", created: true, isSocketID: true)) == nil)
        #expect(dynamicPrivate.subscription(for: .init(room: "id", created: true, isSocketID: true)) == "p#/chat#id#")
        #expect(dynamic.responses(to: "0123456789abcdef") == "p#/#0123456789abcdef#")
    }

    @Test("a node's uid is 16 hexadecimal digits, as socket.io-adapter's")
    func uidFormat() {
        let uid = Self.uid(of: Self.makeNode(InProcessHub()))
        #expect(uid.count == 16 && uid.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test("a room broadcast reaches only the nodes with that room (dynamic), on the room's channel")
    func dynamicRoomBroadcast() async throws {
        let hub = InProcessHub()
        let (a, b, c) = (Self.makeNode(hub), Self.makeNode(hub), Self.makeNode(hub))
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let carol = try await RedisAdapterClusterTests.client(on: c, room: "r2")
        #expect(hub.subscriberCount("p#/#r1#") == 2)
        #expect(hub.subscriberCount("p#/#r2#") == 1)
        // A socket's own room has no channel in the dynamic mode.
        #expect(hub.subscriberCount("p#/#\(alice.socketID(on: a))#") == 0)
        alice.send(#"2["say","r1","hello"]"#)
        #expect(await bob.next() == #"2["said","hello"]"#)
        c.sockets.emit("marker")
        #expect(await carol.next() == #"2["marker"]"#)
        let channels = hub.published.pending.map(\.channel)
        #expect(channels == ["p#/#r1#", "p#/#"])
    }

    @Test("static mode: two channels per namespace, and a room broadcast still crosses")
    func staticMode() async throws {
        let hub = InProcessHub()
        let (a, b) = (Self.makeNode(hub, mode: .static), Self.makeNode(hub, mode: .static))
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        #expect(hub.subscriberCount("p#/#r1#") == 0)
        #expect(hub.subscriberCount("p#/#") == 2)
        alice.send(#"2["say","r1","hello"]"#)
        #expect(await bob.next() == #"2["said","hello"]"#)
        #expect(hub.published.pending.map(\.channel) == ["p#/#"])
    }

    @Test("a room's channel is subscribed with its first local socket and unsubscribed with its last")
    func roomChannelFollowsMembership() async throws {
        let hub = InProcessHub()
        let a = Self.makeNode(hub)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let anna = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        #expect(hub.subscriberCount("p#/#r1#") == 1)
        await a.sockets.to("r1").except(anna.socketID(on: a)).socketsLeave(["r1"])
        #expect(hub.subscriberCount("p#/#r1#") == 1)
        await a.sockets.to("r1").socketsLeave(["r1"])
        #expect(hub.subscriberCount("p#/#r1#") == 0)
        _ = alice

        let privateHub = InProcessHub()
        let b = Self.makeNode(privateHub, mode: .dynamicPrivate)
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let bobID = bob.socketID(on: b)
        #expect(privateHub.subscriberCount("p#/#\(bobID)#") == 1)
        await b.sockets.disconnectSockets()
        #expect(await bob.next() == "1")
        #expect(privateHub.subscriberCount("p#/#\(bobID)#") == 0)
        #expect(privateHub.subscriberCount("p#/#r1#") == 0)
    }

    @Test("fetchSockets collects the sockets of every node, with their rooms and data")
    func fetchAcrossThreeNodes() async throws {
        let hub = InProcessHub()
        let (a, b, c) = (Self.makeNode(hub), Self.makeNode(hub), Self.makeNode(hub))
        _ = try await RedisAdapterClusterTests.client(on: a, room: "r1", name: "alice")
        _ = try await RedisAdapterClusterTests.client(on: b, room: "r1", name: "bob")
        _ = try await RedisAdapterClusterTests.client(on: c, room: "r1", name: "carol")
        _ = try await RedisAdapterClusterTests.client(on: c, room: "r2", name: "dave")
        let sockets = await a.sockets.to("r1").fetchSockets()
        #expect(Set(sockets.compactMap { $0.data["name"]?.stringValue }) == ["alice", "bob", "carol"])
        #expect(sockets.allSatisfy { $0.rooms.contains("r1") && $0.rooms.contains($0.id) })
        let requests = hub.published.pending.filter { $0.text.hasPrefix(#"{"type":7,"#) }
        #expect(requests.map(\.channel) == ["p#/#"])
        let replies = hub.published.pending.filter { $0.text.hasPrefix(#"{"type":8,"#) }
        #expect(Set(replies.map(\.channel)) == ["p#/#\(Self.uid(of: a))#"])
    }

    @Test("a broadcast carrying binary crosses as MessagePack and arrives as a binary event")
    func binaryBroadcast() async throws {
        let hub = InProcessHub()
        let (a, b) = (Self.makeNode(hub), Self.makeNode(hub))
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        a.sockets.to("r1").emit("file", .binary([1, 2, 3]))
        #expect(await bob.next() == #"51-["file",{"_placeholder":true,"num":0}]"#)
        #expect(await bob.next() == "binary:1,2,3")
        let published = try #require(hub.published.pending.last)
        #expect(published.channel == "p#/#r1#")
        #expect(
            try MessagePack.decode(published.bytes) == [
                "type": 3,
                "data": [
                    "packet": ["type": 2, "data": ["file", .binary([1, 2, 3])]],
                    "opts": ["rooms": ["r1"], "except": [], "flags": [:]],
                ],
                "uid": .string(Self.uid(of: a)), "nsp": "/",
            ])
    }

    @Test("messages with this node's uid, for another namespace, or malformed are ignored")
    func ignoredMessages() async throws {
        let hub = InProcessHub()
        let a = Self.makeNode(hub)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        func broadcast(_ event: String, uid: String, nsp: String = "/") -> String {
            #"{"type":3,"data":{"packet":{"type":2,"data":["\#(event)"]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"\#(uid)","nsp":"\#(nsp)"}"#
        }
        hub.publish(channel: "p#/#", text: broadcast("own", uid: Self.uid(of: a)))
        hub.publish(channel: "p#/#", text: broadcast("other-namespace", uid: "0123456789abcdef", nsp: "/admin"))
        for garbage in ["{", #"{"type":3}"#, #"{"type":99,"uid":"x","nsp":"/"}"#, "\u{c1}", ""] {
            hub.publish(channel: "p#/#", text: garbage)
        }
        hub.publish(
            channel: "p#/#",
            text: #"{"type":3,"data":{"packet":{"type":2,"data":"not an array"},"opts":{}},"uid":"x","nsp":"/"}"#)
        hub.publish(channel: "p#/#", text: broadcast("from-another-node", uid: "0123456789abcdef"))
        #expect(await alice.next() == #"2["from-another-node"]"#)
    }

    @Test("a broadcast or disconnection whose rooms are malformed reaches no socket, not every socket")
    func malformedRoomsReachNobody() async throws {
        let hub = InProcessHub()
        let a = Self.makeNode(hub)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: a, room: "r2")
        func message(type: Int, data: String) -> String {
            #"{"type":\#(type),"data":{\#(data)},"uid":"0123456789abcdef","nsp":"/"}"#
        }
        let packet = #""packet":{"type":2,"data":["secret"]}"#
        for opts in [
            #""opts":{"rooms":"r1","except":[],"flags":{}}"#, #""opts":{"rooms":[null],"except":[],"flags":{}}"#,
            #""opts":{"rooms":["r1",1.5],"except":[],"flags":{}}"#, #""opts":{"rooms":["r1"],"except":{},"flags":{}}"#,
            #""opts":"r1""#, "",
        ] {
            let withOptions = opts.isEmpty ? "" : opts + ","
            hub.publish(channel: "p#/#", text: message(type: 3, data: withOptions + packet))
            hub.publish(channel: "p#/#", text: message(type: 6, data: withOptions + #""close":true"#))
        }
        a.sockets.emit("marker")
        #expect(await bob.next() == #"2["marker"]"#)
        #expect(await alice.next() == #"2["marker"]"#)
    }

    @Test("an acknowledged broadcast from another node gets the client count, then each acknowledgement")
    func acknowledgedBroadcastFromAnotherNode() async throws {
        let hub = InProcessHub()
        let a = Self.makeNode(hub)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let requester = "fedcba9876543210"
        hub.publish(
            channel: "p#/#",
            text:
                #"{"type":3,"data":{"packet":{"type":2,"data":["ping",1]},"requestId":"req-1","opts":{"rooms":["r1"],"except":[],"flags":{"timeout":5000}}},"uid":"\#(requester)","nsp":"/"}"#
        )
        let event = try #require(await alice.next())
        #expect(event.hasPrefix("2") && event.hasSuffix(#"["ping",1]"#))
        let ackID = event.dropFirst().prefix { $0.isNumber }
        alice.send(#"3\#(ackID)["pong","ignored"]"#)
        let uid = Self.uid(of: a)
        let expected = [
            #"{"type":11,"data":{"requestId":"req-1","clientCount":1},"uid":"\#(uid)","nsp":"/"}"#,
            #"{"type":12,"data":{"requestId":"req-1","packet":"pong"},"uid":"\#(uid)","nsp":"/"}"#,
        ]
        for text in expected {
            var seen: (channel: String, text: String, bytes: [UInt8])?
            repeat { seen = await hub.published.next() } while seen != nil && seen?.channel != "p#/#\(requester)#"
            #expect(seen?.text == text)
        }
    }

    /// An acknowledged broadcast to room r1 as a Node.js node publishes it.
    static func acknowledgedBroadcast(_ requestID: String, from requester: String) -> String {
        #"{"type":3,"data":{"packet":{"type":2,"data":["ping"]},"requestId":"\#(requestID)","opts":{"rooms":["r1"],"except":[],"flags":{"timeout":3600000}}},"uid":"\#(requester)","nsp":"/"}"#
    }

    /// The next message published on `channel`, skipping the others.
    static func nextPublished(on channel: String, _ hub: InProcessHub) async -> String? {
        while let seen = await hub.published.next() {
            if seen.channel == channel { return seen.text }
        }
        return nil
    }

    @Test("acknowledged broadcasts from other nodes stop being delivered while too many acknowledgements are awaited")
    func acknowledgedBroadcastFloodIsBounded() async throws {
        let hub = InProcessHub()
        let a = Self.makeNode(hub, maximumPendingAcknowledgements: 2)
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let requester = "fedcba9876543210"
        let responses = "p#/#\(requester)#"
        let uid = Self.uid(of: a)
        func clientCount(_ requestID: String, _ count: Int) -> String {
            #"{"type":11,"data":{"requestId":"\#(requestID)","clientCount":\#(count)},"uid":"\#(uid)","nsp":"/"}"#
        }

        var ackIDs: [Substring] = []
        for requestID in ["req-1", "req-2"] {
            hub.publish(channel: "p#/#", text: Self.acknowledgedBroadcast(requestID, from: requester))
            #expect(await Self.nextPublished(on: responses, hub) == clientCount(requestID, 1))
            let event = try #require(await alice.next())
            #expect(event.hasSuffix(#"["ping"]"#))
            ackIDs.append(event.dropFirst().prefix { $0.isNumber })
        }
        // Alice never answers: a third would make 3 acknowledgements awaited.
        hub.publish(channel: "p#/#", text: Self.acknowledgedBroadcast("req-3", from: requester))
        #expect(await Self.nextPublished(on: responses, hub) == clientCount("req-3", 0))
        a.sockets.emit("marker")
        #expect(await alice.next() == #"2["marker"]"#)

        // An answer frees its place.
        alice.send("3\(ackIDs[0])[\"pong\"]")
        #expect(
            await Self.nextPublished(on: responses, hub)
                == #"{"type":12,"data":{"requestId":"req-1","packet":"pong"},"uid":"\#(uid)","nsp":"/"}"#)
        hub.publish(channel: "p#/#", text: Self.acknowledgedBroadcast("req-4", from: requester))
        #expect(await Self.nextPublished(on: responses, hub) == clientCount("req-4", 1))
        #expect(await alice.next()?.hasSuffix(#"["ping"]"#) == true)
    }

    /// A node with connection state recovery (window `window`) whose sockets join r1 when
    /// they first connect; it records the ids of the sockets that leave.
    static func makeRecoveringNode(_ hub: InProcessHub, window: Duration) -> (SocketIOServer, EventLog<String>) {
        var configuration = SocketIOConfiguration()
        configuration.connectionStateRecovery = ConnectionStateRecovery(maxDisconnectionDuration: window)
        let io = SocketIOServer(
            engine: EngineServer(configuration: EngineConfiguration()), configuration: configuration,
            adapter: AdapterFactory { sockets in
                ClusterAdapter(
                    sockets: sockets, channelPrefix: "p", subscriptionMode: .dynamic, logger: Logger(label: "recovery"),
                    makeBus: hub.makeBus)
            })
        let left = EventLog<String>()
        io.sockets.onConnection { socket in
            if !socket.recovered { socket.join("r1") }
            socket.onDisconnect { socket, _, _ in left.record(socket.id) }
        }
        return (io, left)
    }

    /// CONNECT (with `auth`), and the `sid` and `pid` of the server's answer.
    static func connectForRecovery(_ client: RawClient, auth: String = "") async throws -> (sid: String, pid: String) {
        client.send("0" + auth)
        let reply = try #require(await client.next())
        let answer = try JSONValue(parsing: String(reply.dropFirst()))
        return (try #require(answer["sid"]?.stringValue), try #require(answer["pid"]?.stringValue))
    }

    @Test("with recovery, a room's channel outlives its last socket: what it missed from other nodes comes back")
    func roomChannelKeptForRecovery() async throws {
        let hub = InProcessHub()
        let (a, left) = Self.makeRecoveringNode(hub, window: .seconds(60))
        let b = Self.makeNode(hub)
        let first = try await RawClient(a)
        let handshake = try await Self.connectForRecovery(first)
        a.sockets.to("r1").emit("news", "before")
        let before = try #require(await first.next())
        let offset = try #require(try JSONValue(parsing: String(before.dropFirst())).arrayValue?.last?.stringValue)
        await first.disconnect()
        #expect(await left.next() == handshake.sid)

        b.sockets.to("r1").emit("news", "missed")
        #expect(hub.published.pending.last?.channel == "p#/#r1#")
        let second = try await RawClient(a)
        let resumed = try await Self.connectForRecovery(
            second, auth: #"{"pid":"\#(handshake.pid)","offset":"\#(offset)"}"#)
        #expect(resumed.sid == handshake.sid)
        let missed = try #require(await second.next())
        #expect(missed.hasPrefix(#"2["news","missed","#))
    }

    @Test("with recovery, a room's channel is released once the recovery window has passed")
    func roomChannelReleasedAfterRecoveryWindow() async throws {
        let hub = InProcessHub()
        let (a, left) = Self.makeRecoveringNode(hub, window: .milliseconds(200))
        let client = try await RawClient(a)
        let handshake = try await Self.connectForRecovery(client)
        #expect(hub.subscriberCount("p#/#r1#") == 1)
        await client.disconnect()
        #expect(await left.next() == handshake.sid)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while hub.subscriberCount("p#/#r1#") != 0, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(hub.subscriberCount("p#/#r1#") == 0)
    }
}
