import EngineIO
import Foundation
public import Logging
import NIOCore
import OrderedJSON
public import SocketIO
import Synchronization

/// Makes a Redis adapter per namespace, sharing one publisher connection.
public struct RedisAdapterFactory: Sendable {
    /// Where Redis is, and the channel prefix and timeouts.
    public let configuration: RedisConfiguration
    let endpoint: RedisEndpoint
    let publisher: RedisPublisher
    /// With ``RedisConfiguration/cluster``: the cluster's primaries, shared by every namespace.
    let clusterRouter: RedisClusterRouter?
    let logger: Logger

    /// Starts the shared publisher on the shared event loops; it connects at once, and
    /// reconnects whenever the connection is lost. For a Redis Cluster it also starts
    /// reading which primary owns which slots.
    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "socket.io-redis")) {
        self.configuration = configuration
        self.logger = logger
        self.endpoint = RedisEndpoint(configuration: configuration)
        self.publisher = RedisPublisher(endpoint: endpoint, logger: logger)
        clusterRouter =
            configuration.cluster && configuration.adapter == .sharded
            ? RedisClusterRouter(configuration: configuration, logger: logger) : nil
    }

    /// What `SocketIOServer` takes as `adapter:`: one adapter per namespace, each with its
    /// own subscriber connection: a ``RedisAdapter``, or a ``ClusterAdapter`` over sharded
    /// Pub/Sub when ``RedisConfiguration/adapter`` is ``RedisAdapterMode/sharded``, or over
    /// a Redis stream and Pub/Sub with ``RedisAdapterMode/streams`` (and a stream reader
    /// connection per namespace).
    public var factory: AdapterFactory {
        AdapterFactory { [configuration, endpoint, publisher, clusterRouter, logger] sockets in
            switch configuration.adapter {
            case .pubsub:
                return RedisAdapter(sockets: sockets, endpoint: endpoint, publisher: publisher, logger: logger)
            case .sharded:
                return ClusterAdapter(
                    sockets: sockets, channelPrefix: configuration.key,
                    subscriptionMode: configuration.subscriptionMode, requestsTimeout: configuration.requestsTimeout,
                    logger: logger
                ) { channels, handler -> any ClusterBus in
                    if let clusterRouter {
                        return RedisClusterShardedBus(
                            router: clusterRouter, channels: channels, logger: logger, handler: handler)
                    }
                    return RedisPubSubBus(
                        endpoint: endpoint, publisher: publisher, channels: channels, sharded: true, logger: logger,
                        handler: handler)
                }
            case .streams:
                return ClusterAdapter(
                    sockets: sockets, channelPrefix: configuration.key, requestsTimeout: configuration.requestsTimeout,
                    logger: logger,
                    makeBus: { channels, handler in
                        RedisPubSubBus(
                            endpoint: endpoint, publisher: publisher, channels: channels,
                            sharded: configuration.stream.shardedPubSub, logger: logger, handler: handler)
                    },
                    makeStream: { handler in
                        RedisStream(
                            endpoint: endpoint, publisher: publisher, options: configuration.stream,
                            namespace: sockets.namespaceName, logger: logger, handler: handler)
                    })
            }
        }
    }

    /// Checks Redis answers (`PING`) within the connect timeout and, for the sharded
    /// adapter or the streams adapter over sharded Pub/Sub, that it can serve it: throws
    /// ``RedisIncompatibility`` when it cannot.
    public func ping() async throws {
        let reply = try await publisher.command(["PING"])
        guard reply.text == "PONG" else { throw RedisError(message: "unexpected answer to PING: \(reply)") }
        switch configuration.adapter {
        case .sharded: try await checkShardedPubSub()
        case .streams where configuration.stream.shardedPubSub:
            try await checkShardedPubSubCommands(neededBy: "REDIS_STREAM_SHARDED_PUBSUB=true")
        case .pubsub, .streams: break
        }
    }

    /// Sharded Pub/Sub needs Redis 7, and `REDIS_CLUSTER` must say whether the Redis of
    /// `REDIS_URL` is a Redis Cluster node: a single connection's `SSUBSCRIBE` is refused
    /// by a cluster node (`CROSSSLOT`, `MOVED`), forever, and a single Redis has no slots.
    private func checkShardedPubSub() async throws {
        let info = try await publisher.command(["INFO", "cluster"])
        let isClusterNode = info.text?.contains("cluster_enabled:1") == true
        switch (isClusterNode, configuration.cluster) {
        case (true, false):
            throw RedisIncompatibility(
                description:
                    "REDIS_ADAPTER=sharded: \(configuration.description) is a Redis Cluster node; "
                    + "set REDIS_CLUSTER=true so that channels are routed by hash slot")
        case (false, true):
            throw RedisIncompatibility(
                description:
                    "REDIS_CLUSTER=true: \(configuration.description) is not a Redis Cluster node "
                    + "(INFO cluster says cluster_enabled:0)")
        case (true, true):
            // CLUSTER SHARDS, which the slot routing reads, came with sharded Pub/Sub (7.0).
            let shards = try await publisher.command(["CLUSTER", "SHARDS"])
            if let refusal = shards.errorMessage {
                throw RedisIncompatibility(
                    description:
                        "REDIS_ADAPTER=sharded needs sharded Pub/Sub (Redis 7 or later); "
                        + "\(configuration.description) answered CLUSTER SHARDS with: \(refusal)")
            }
        case (false, false):
            try await checkShardedPubSubCommands(neededBy: "REDIS_ADAPTER=sharded")
        }
    }

    /// A Redis before 7 refuses `PUBSUB SHARDNUMSUB`, as it would `SSUBSCRIBE` forever.
    private func checkShardedPubSubCommands(neededBy setting: String) async throws {
        let count = try await publisher.command(["PUBSUB", "SHARDNUMSUB", "\(configuration.key)#/#"])
        if let refusal = count.errorMessage {
            throw RedisIncompatibility(
                description:
                    "\(setting) needs sharded Pub/Sub (Redis 7 or later); "
                    + "\(configuration.description) answered PUBSUB SHARDNUMSUB with: \(refusal)")
        }
    }

    /// Stops the shared publisher; call it after the server closed.
    public func close() {
        publisher.stop()
        clusterRouter?.stop()
    }
}

/// A Redis that answers but cannot serve the configured adapter.
public struct RedisIncompatibility: Error, CustomStringConvertible {
    /// What is missing, naming the variable that asks for it.
    public let description: String
}

/// The adapter of `@socket.io/redis-adapter` 8.x, wire for wire: room membership stays
/// local (an in-memory adapter), broadcasts are published for the other nodes, and
/// cluster queries go over the request and response channels.
///
/// Channels (prefix `socket.io`, namespace `/`):
/// - broadcasts: `socket.io#/#`, or `socket.io#/#<room>#` for a single room; payload
///   MessagePack `[uid, {type, data, nsp}, {rooms, except, flags}]`, as Node's
///   adapter and `@socket.io/redis-emitter` write it;
/// - requests: `socket.io-request#/#` (JSON, or MessagePack for acked broadcasts);
/// - responses: `socket.io-response#/#` and `socket.io-response#/#<uid>#`.
public final class RedisAdapter: InMemoryBackedAdapter {
    /// Node's request types.
    enum RequestType: Int64 {
        case sockets = 0
        case allRooms, remoteJoin, remoteLeave, remoteDisconnect, remoteFetch, serverSideEmit, broadcast,
            broadcastClientCount, broadcastAck
    }

    /// Room membership and kept sessions of this node.
    public let local: InMemoryAdapter
    let sockets: any LocalSockets
    let configuration: RedisConfiguration
    let publisher: RedisPublisher
    let logger: Logger
    /// This node's id in every message it publishes (6 characters, as uid2(6)).
    public let uid: String
    let broadcastChannel: String
    let requestChannel: String
    let responseChannel: String
    let specificResponseChannel: String
    private let subscriber = Mutex<RedisSubscriber?>(nil)
    private let pending = PendingRequests()

    init(sockets: any LocalSockets, endpoint: RedisEndpoint, publisher: RedisPublisher, logger: Logger) {
        let configuration = endpoint.configuration
        self.sockets = sockets
        self.local = InMemoryAdapter(sockets: sockets)
        self.configuration = configuration
        self.publisher = publisher
        self.logger = logger
        self.uid = Self.makeUID()
        let name = sockets.namespaceName
        broadcastChannel = "\(configuration.key)#\(name)#"
        requestChannel = "\(configuration.key)-request#\(name)#"
        responseChannel = "\(configuration.key)-response#\(name)#"
        specificResponseChannel = responseChannel + uid + "#"
        let subscriber = RedisSubscriber(
            endpoint: endpoint,
            patterns: [broadcastChannel + "*"],
            channels: [requestChannel, responseChannel, specificResponseChannel],
            logger: logger
        ) { [weak self] channel, payload in
            self?.received(channel: channel, payload: payload)
        }
        self.subscriber.withLock { $0 = subscriber }
    }

    static func makeUID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<6).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// Waits until this node listens to the cluster (bounded).
    public func waitUntilSubscribed() async {
        await subscriber.withLock { $0 }?.waitUntilSubscribed(timeout: configuration.connectTimeout * 2)
    }

    // MARK: Broadcast

    /// Delivers to the selected local sockets and, unless `BroadcastOptions.local`,
    /// publishes the packet for the other nodes (on the room's own channel when it goes to
    /// one room).
    public func broadcast(_ packet: SocketPacket, options: BroadcastOptions) {
        if !options.local {
            var channel = broadcastChannel
            if options.rooms.count == 1, let room = options.rooms.first { channel += room + "#" }
            let message: JSONValue = [
                .string(uid), Self.packetObject(packet, namespace: sockets.namespaceName), Self.optionsObject(options),
            ]
            publisher.publish(channel: channel, message: MessagePack.encode(message))
        }
        local.broadcast(packet, options: options)
    }

    /// `{type, data, nsp}` (plus `id` when set), the socket.io-parser packet before encoding;
    /// without `nsp` when `namespace` is nil.
    static func packetObject(_ packet: SocketPacket, namespace: String?) -> JSONValue {
        var object: JSONObject = ["type": .integer(Int64(packet.type == .binaryEvent ? 2 : packet.type.rawValue))]
        object["data"] = packet.data ?? .null
        if let namespace { object["nsp"] = .string(namespace) }
        if let id = packet.ackID { object["id"] = .integer(Int64(id)) }
        return .object(object)
    }

    /// The event packet another node's `{type, data}` object stands for, for `namespace`;
    /// nil for anything but an event with an array of data.
    static func eventPacket(from object: JSONValue?, namespace: String) -> SocketPacket? {
        guard let data = object?["data"], case .array = data else { return nil }
        let type = object?["type"]?.integerValue ?? 2
        guard type == 2 || type == 5 else { return nil }
        return SocketPacket(type: .event, namespace: namespace, data: data)
    }

    static func optionsObject(_ options: BroadcastOptions) -> JSONValue {
        var flags = JSONObject()
        if options.volatile { flags["volatile"] = true }
        return [
            "rooms": .array(options.rooms.sorted().map { .string($0) }),
            "except": .array(options.except.sorted().map { .string($0) }),
            "flags": .object(flags),
        ]
    }

    /// Another node's `{rooms, except, flags}`; nil when it is not an object or its rooms
    /// are not lists of names. Dropping a room it could not read would widen the broadcast
    /// (no rooms is everyone), so such options select nobody.
    static func options(from value: JSONValue?) -> BroadcastOptions? {
        guard case .object? = value else { return nil }
        func names(_ key: String) -> Set<String>? {
            guard let entries = value?[key] else { return [] }
            guard case .array(let items) = entries else { return nil }
            var names = Set<String>()
            for item in items {
                switch item {
                case .string(let name): names.insert(name)
                case .integer(let number): names.insert(String(number))
                default: return nil
                }
            }
            return names
        }
        guard let rooms = names("rooms"), let except = names("except") else { return nil }
        return BroadcastOptions(
            rooms: rooms, except: except, volatile: value?["flags"]?["volatile"]?.boolValue ?? false)
    }

    // MARK: From other nodes

    private func received(channel: String, payload: [UInt8]) {
        if channel.hasPrefix(responseChannel) {
            response(payload)
        } else if channel == requestChannel {
            request(payload)
        } else if channel.hasPrefix(broadcastChannel) {
            remoteBroadcast(channel: channel, payload: payload)
        }
    }

    private func remoteBroadcast(channel: String, payload: [UInt8]) {
        let room = String(channel.dropFirst(broadcastChannel.count).dropLast())
        // A single-room broadcast for a room no local socket is in: nothing to do.
        if !room.isEmpty, !local.localRooms.contains(room) { return }
        guard case .array(let parts)? = try? MessagePack.decode(payload), parts.count >= 3 else {
            logger.debug("redis: ignoring a malformed broadcast", metadata: ["channel": "\(channel)"])
            return
        }
        if parts[0].stringValue == uid { return }
        let namespace = parts[1]["nsp"]?.stringValue ?? "/"
        guard namespace == sockets.namespaceName, let packet = Self.eventPacket(from: parts[1], namespace: namespace)
        else { return }
        guard var options = Self.options(from: parts[2]) else {
            logger.debug("redis: ignoring a broadcast with malformed options", metadata: ["channel": "\(channel)"])
            return
        }
        options.local = true
        local.broadcast(packet, options: options)
    }

    private func request(_ payload: [UInt8]) {
        guard let request = Self.decode(payload), let typeNumber = request["type"]?.integerValue,
            let type = RequestType(rawValue: typeNumber)
        else { return }
        if request["uid"]?.stringValue == uid { return }
        let requestID = request["requestId"]?.stringValue
        // The older requests carry no options; malformed ones select nobody.
        let options = request["opts"] == nil ? BroadcastOptions() : Self.options(from: request["opts"])
        // Applied here, on the subscriber's event loop, in arrival order: a leave published
        // before a broadcast takes effect before it.
        switch type {
        case .sockets:
            guard let requestID else { return }
            guard let rooms = Self.options(from: request)?.rooms else { return }
            let ids = local.localSocketIDs(BroadcastOptions(rooms: rooms))
            respond(
                ["requestId": .string(requestID), "sockets": .array(ids.sorted().map { .string($0) })], to: request)
        case .allRooms:
            guard let requestID else { return }
            respond(
                ["requestId": .string(requestID), "rooms": .array(local.localRooms.sorted().map { .string($0) })],
                to: request)
        case .remoteJoin, .remoteLeave, .remoteDisconnect:
            guard let options else { return }
            applyRemote(type, request: request, options: options)
        case .remoteFetch:
            guard let requestID, let options else { return }
            let snapshots = local.snapshots(options)
            respond(
                [
                    "requestId": .string(requestID),
                    "sockets": .array(snapshots.map { Self.snapshotObject($0, sockets) }),
                ],
                to: request)
        case .serverSideEmit, .broadcast, .broadcastClientCount, .broadcastAck:
            // Server-side emits and acked broadcasts are not used by this server yet.
            logger.debug("redis: ignoring request type \(type)")
        }
    }

    private func applyRemote(_ type: RequestType, request: JSONValue, options: BroadcastOptions) {
        let rooms = Set((request["rooms"]?.arrayValue ?? []).compactMap(\.stringValue))
        if request["opts"] != nil {
            switch type {
            case .remoteJoin: local.join(options, rooms: rooms)
            case .remoteLeave: local.leave(options, rooms: rooms)
            default: local.disconnect(options, close: request["close"]?.boolValue ?? false)
            }
            return
        }
        // The older form: one socket by id, with an answer.
        guard let sid = request["sid"]?.stringValue, let socket = sockets.socket(id: sid) else { return }
        switch type {
        case .remoteJoin: if let room = request["room"]?.stringValue { socket.join(room) }
        case .remoteLeave: if let room = request["room"]?.stringValue { socket.leave(room) }
        default: socket.disconnect(close: request["close"]?.boolValue ?? false)
        }
        if let requestID = request["requestId"]?.stringValue { respond(["requestId": .string(requestID)], to: request) }
    }

    /// Handshake headers never sent to other nodes.
    static let credentialHeaders: Set<String> = ["cookie", "authorization", "proxy-authorization"]

    /// `{id, handshake, rooms, data}`, how a node describes a local socket to the others.
    static func snapshotObject(_ snapshot: SocketSnapshot, _ sockets: any LocalSockets) -> JSONValue {
        var handshake = JSONObject()
        if let socket = sockets.socket(id: snapshot.id) {
            let shake = socket.handshake
            var headers = JSONObject()
            for field in shake.headers where !Self.credentialHeaders.contains(field.name.canonicalName) {
                headers[field.name.canonicalName] = .string(field.value)
            }
            // The same shape @socket.io/redis-adapter sends, without the credentials: what
            // crosses Redis can be read by anything that can subscribe.
            handshake = [
                "headers": .object(headers),
                "address": .string(shake.address ?? ""),
                "secure": .bool(shake.secure),
                "url": .string(shake.request.path),
                "query": .object(
                    JSONObject(shake.query.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })),
                "auth": [:],
            ]
        }
        return [
            "id": .string(snapshot.id),
            "handshake": .object(handshake),
            "rooms": .array(snapshot.rooms.sorted().map { .string($0) }),
            "data": snapshot.data,
        ]
    }

    private func respond(_ response: JSONValue, to request: JSONValue) {
        // Node's default: the shared response channel (publishOnSpecificResponseChannel false).
        publisher.publish(channel: responseChannel, message: Array(response.jsonString.utf8))
    }

    private func response(_ payload: [UInt8]) {
        guard let response = Self.decode(payload), let requestID = response["requestId"]?.stringValue else { return }
        pending.add(response, to: requestID)
    }

    /// A message as Node's adapters write it: JSON when it starts with `{`, else MessagePack.
    static func decode(_ payload: [UInt8]) -> JSONValue? {
        payload.first == UInt8(ascii: "{") ? try? JSONValue(parsing: payload) : try? MessagePack.decode(payload)
    }

    /// Sends a request and collects one response per other node, or what came before the
    /// timeout: a node that stops answering delays the answer, never hangs it.
    private func ask(_ type: RequestType, _ fields: JSONObject) async -> [JSONValue] {
        let others = await publisher.subscriberCount(requestChannel) - 1
        guard others > 0 else { return [] }
        let requestID = Self.makeUID()
        var message: JSONObject = [
            "uid": .string(uid), "requestId": .string(requestID), "type": .integer(type.rawValue),
        ]
        for entry in fields.entries { message[entry.key] = entry.value }
        return await pending.collect(
            requestID, expected: others, timeout: configuration.requestsTimeout, logger: logger, label: "\(type)"
        ) { [publisher, requestChannel] in
            publisher.publish(channel: requestChannel, message: Array(JSONValue.object(message).jsonString.utf8))
        }
    }

    // MARK: Cluster queries

    /// Local snapshots, plus those the other nodes answer within
    /// ``RedisConfiguration/requestsTimeout``.
    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketSnapshot] {
        var result = local.snapshots(options)
        guard !options.local else { return result }
        let opts: JSONObject = [
            "rooms": .array(options.rooms.sorted().map { .string($0) }),
            "except": .array(options.except.sorted().map { .string($0) }),
        ]
        for response in await ask(.remoteFetch, ["opts": .object(opts)]) {
            result += Self.snapshots(in: response)
        }
        return result
    }

    /// The sockets a `fetchSockets` response describes (entries without an id are skipped).
    static func snapshots(in response: JSONValue) -> [SocketSnapshot] {
        (response["sockets"]?.arrayValue ?? []).compactMap { socket in
            guard let id = socket["id"]?.stringValue else { return nil }
            let rooms = Set((socket["rooms"]?.arrayValue ?? []).compactMap(\.stringValue))
            return SocketSnapshot(id: id, rooms: rooms, data: socket["data"] ?? .null)
        }
    }

    /// Makes the selected sockets join `rooms`, here and on the other nodes.
    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        if !options.local { publishRemote(.remoteJoin, options, ["rooms": .array(rooms.sorted().map { .string($0) })]) }
        local.join(options, rooms: rooms)
    }

    /// Makes the selected sockets leave `rooms`, here and on the other nodes.
    public func delSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        if !options.local {
            publishRemote(.remoteLeave, options, ["rooms": .array(rooms.sorted().map { .string($0) })])
        }
        local.leave(options, rooms: rooms)
    }

    /// Disconnects the selected sockets, here and on the other nodes.
    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        if !options.local { publishRemote(.remoteDisconnect, options, ["close": .bool(close)]) }
        local.disconnect(options, close: close)
    }

    private func publishRemote(_ type: RequestType, _ options: BroadcastOptions, _ extra: JSONObject) {
        var message: JSONObject = [
            "uid": .string(uid),
            "type": .integer(type.rawValue),
            "opts": [
                "rooms": .array(options.rooms.sorted().map { .string($0) }),
                "except": .array(options.except.sorted().map { .string($0) }),
            ],
        ]
        for entry in extra.entries { message[entry.key] = entry.value }
        publisher.publish(channel: requestChannel, message: Array(JSONValue.object(message).jsonString.utf8))
    }

    /// Rooms with a socket on any node that answers within ``RedisConfiguration/requestsTimeout``.
    public func allRooms() async -> Set<String> {
        var rooms = local.localRooms
        for response in await ask(.allRooms, [:]) {
            for room in response["rooms"]?.arrayValue ?? [] { if let name = room.stringValue { rooms.insert(name) } }
        }
        return rooms
    }

    /// Stops listening to the cluster; the shared publisher stays until
    /// ``RedisAdapterFactory/close()``.
    public func close() async {
        subscriber.withLock { $0 }?.stop()
    }
}
