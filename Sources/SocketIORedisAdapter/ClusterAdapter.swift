import EngineIO
public import Logging
import OrderedJSON
public import SocketIO
import Synchronization

/// The publish/subscribe transport a ``ClusterAdapter`` talks through: Redis sharded
/// Pub/Sub, or an in-process bus in tests. It hands every message published on a channel
/// it is subscribed to, with the channel's name, to the handler it was made with.
public protocol ClusterBus: Sendable {
    /// Publishes, fire and forget, in order with the other publishes.
    func publish(channel: String, message: [UInt8])
    /// Starts listening to channels (kept across reconnects).
    func subscribe(_ channels: [String])
    /// Stops listening to channels.
    func unsubscribe(_ channels: [String])
    /// Nodes listening to `channel`, this one included; 1 when that cannot be known.
    func subscriberCount(_ channel: String) async -> Int
    /// Waits (at most `timeout`) until the first subscriptions are confirmed.
    func waitUntilSubscribed(timeout: Duration) async
    /// Stops listening to everything.
    func close()
}

/// How many channels a ``ClusterAdapter`` listens to per namespace, as Node's sharded
/// adapter's `subscriptionMode`.
public enum ClusterSubscriptionMode: String, Sendable, CaseIterable {
    /// Two channels per namespace: every node receives every broadcast.
    case `static`
    /// Plus one channel per public room (not a socket's own room): a broadcast to one
    /// room only reaches the nodes that have a socket in it.
    case dynamic
    /// Like `dynamic`, with a channel for each socket's own room too.
    case dynamicPrivate = "dynamic-private"
}

/// The `ClusterAdapter` of `socket.io-adapter` (what `@socket.io/redis-adapter`'s sharded
/// adapter is built on), message for message: room membership stays local (an in-memory
/// adapter); broadcasts, room changes, disconnections and `fetchSockets` requests are
/// published as `{type, data, uid, nsp}` (JSON, or MessagePack when they carry binary).
///
/// Channels (prefix `socket.io`, namespace `/`): `socket.io#/#` for everything,
/// `socket.io#/#<uid>#` for the responses to this node's requests, and in the dynamic
/// modes `socket.io#/#<room>#` for a broadcast to that one room.
///
/// Server-side emits are not part of `SocketIOAdapter`: such messages from other nodes
/// are ignored. ``allRooms()`` answers with this node's rooms, as Node's cluster adapter.
public final class ClusterAdapter: InMemoryBackedAdapter {
    /// socket.io-adapter's `MessageType`, by its numbers.
    enum MessageType: Int64 {
        case initialHeartbeat = 1
        case heartbeat, broadcast, socketsJoin, socketsLeave, disconnectSockets, fetchSockets, fetchSocketsResponse,
            serverSideEmit, serverSideEmitResponse, broadcastClientCount, broadcastAck, adapterClose
    }

    /// The channels of one namespace.
    struct Channels: Sendable {
        let main: String
        let mode: ClusterSubscriptionMode

        init(prefix: String, namespace: String, mode: ClusterSubscriptionMode) {
            main = "\(prefix)#\(namespace)#"
            self.mode = mode
        }

        /// Where a node's responses go.
        func responses(to uid: String) -> String { main + uid + "#" }
        /// A room's own channel.
        func room(_ room: String) -> String { main + room + "#" }

        /// Node's rule for what looks like a socket id (a broadcast to it goes on the main
        /// channel in the dynamic mode): a string of 20 UTF-16 code units. Whether a room
        /// gets a channel of its own is decided apart, by whether it is a local socket's id.
        static func looksLikeSocketID(_ room: String) -> Bool { room.utf16.count == 20 }

        /// The channel to listen to for a room that came or went on this node, if any.
        func subscription(for change: InMemoryAdapter.RoomChange) -> String? {
            switch mode {
            case .static: return nil
            case .dynamic: return change.isSocketID ? nil : room(change.room)
            case .dynamicPrivate: return room(change.room)
            }
        }

        /// A broadcast without acknowledgement to exactly one room goes on the room's
        /// channel (the dynamic modes); everything else on the main channel.
        func broadcast(to rooms: Set<String>, acknowledged: Bool) -> String {
            guard !acknowledged, rooms.count == 1, let only = rooms.first else { return main }
            switch mode {
            case .static: return main
            case .dynamic: return Self.looksLikeSocketID(only) ? main : room(only)
            case .dynamicPrivate: return room(only)
            }
        }
    }

    /// A bus or stream set once, right after the adapter is made (it needs the adapter's
    /// handler, the adapter's room hook needs the bus).
    final class Slot<Value: Sendable>: Sendable {
        private let slot = Mutex<Value?>(nil)
        var value: Value? { slot.withLock { $0 } }
        func set(_ value: Value) { slot.withLock { $0 = value } }
    }

    /// The room channels of the dynamic modes, listened to while the room has a local
    /// socket. With recovery on, a channel outlives the room by the recovery window: a
    /// member that dropped is kept for its return, and the broadcasts it misses meanwhile
    /// must still reach this node to be kept for it.
    private final class RoomChannels: Sendable {
        /// Channels whose room went, with the number of their release to come.
        private let releases = Mutex<(pending: [String: UInt64], next: UInt64)>(([:], 0))
        private let slot: Slot<any ClusterBus>
        private let linger: Duration?

        init(slot: Slot<any ClusterBus>, linger: Duration?) {
            self.slot = slot
            self.linger = linger
        }

        /// Called in the order rooms come and go (under the in-memory adapter's lock).
        func roomChanged(_ channel: String, created: Bool) {
            guard let bus = slot.value else { return }
            if created {
                // Still listened to when its release is pending: cancelling it is enough.
                let lingering = releases.withLock { $0.pending.removeValue(forKey: channel) != nil }
                if !lingering { bus.subscribe([channel]) }
                return
            }
            guard let linger else { return bus.unsubscribe([channel]) }
            let release = releases.withLock { state in
                state.next += 1
                state.pending[channel] = state.next
                return state.next
            }
            Task { [weak self] in
                try? await Task.sleep(for: linger)
                self?.release(channel, release)
            }
        }

        private func release(_ channel: String, _ release: UInt64) {
            // Under the lock, so a room coming back cannot slip between the check and the
            // unsubscription.
            releases.withLock { state in
                guard state.pending[channel] == release else { return }
                state.pending[channel] = nil
                slot.value?.unsubscribe([channel])
            }
        }
    }

    /// Acknowledgements this node waits for on other nodes' behalf. A single broadcast is
    /// always taken while none is awaited (a room larger than the budget still works); past
    /// that, a broadcast that would overrun the budget is refused, so a flood of
    /// acknowledged broadcasts from a peer cannot pile up waits (each up to an hour).
    final class AcknowledgementBudget: Sendable {
        enum Decision { case taken, refused, refusedFirst }

        private let maximum: Int
        private let state = Mutex<(awaited: Int, warned: Bool)>((0, false))

        init(maximum: Int) { self.maximum = maximum }

        /// Takes `count` waits; `refusedFirst` for the first refusal since one was taken,
        /// so a flood is logged once.
        func take(_ count: Int) -> Decision {
            state.withLock { state in
                if state.awaited == 0 || state.awaited + count <= maximum {
                    state.awaited += count
                    state.warned = false
                    return .taken
                }
                defer { state.warned = true }
                return state.warned ? .refused : .refusedFirst
            }
        }

        func release() { state.withLock { $0.awaited -= 1 } }
    }

    /// Acknowledgements awaited for other nodes at most (beyond one broadcast's own).
    public static let defaultMaximumPendingAcknowledgements = 50_000

    /// Makes the bus of one adapter: subscribed to `channels` from the start, handing
    /// every message to `handler`.
    public typealias BusMaker =
        @Sendable (_ channels: [String], _ handler: @escaping @Sendable (_ channel: String, _ payload: [UInt8]) -> Void)
        -> any ClusterBus

    /// This node's id in every message it publishes (16 hexadecimal digits, as Node's).
    public let uid: String
    /// Room membership and kept sessions of this node.
    public let local: InMemoryAdapter
    let channels: Channels
    let sockets: any LocalSockets
    let requestsTimeout: Duration
    let logger: Logger
    private let slot: Slot<any ClusterBus>
    private let pending = PendingRequests()
    private let acknowledgements: AcknowledgementBudget
    /// With Node's streams adapter: the Redis stream broadcasts, room changes and
    /// disconnections go through (requests and responses stay on the bus).
    let streamSlot = Slot<RedisStream>()
    /// Local deliveries of this node's broadcasts, waiting for their stream entry ids.
    let deliveries = OrderedDeliveries()
    /// Broadcasts a restored session missed, read from the stream, and the id of the last
    /// entry read, until its socket resumes.
    let missedByPID = Mutex<[String: (packets: [SocketPacket], lastRead: String)]>([:])

    /// An adapter for the namespace of `sockets` publishing on `<channelPrefix>#<namespace>#…`;
    /// cluster queries wait at most `requestsTimeout` for the other nodes; at most
    /// `maximumPendingAcknowledgements` client acknowledgements are awaited for other nodes.
    public init(
        sockets: any LocalSockets, channelPrefix: String = "socket.io", subscriptionMode: ClusterSubscriptionMode,
        requestsTimeout: Duration = .seconds(5),
        maximumPendingAcknowledgements: Int = ClusterAdapter.defaultMaximumPendingAcknowledgements, logger: Logger,
        makeBus: BusMaker
    ) {
        let channels = Channels(prefix: channelPrefix, namespace: sockets.namespaceName, mode: subscriptionMode)
        let slot = Slot<any ClusterBus>()
        let roomChannels = RoomChannels(slot: slot, linger: sockets.connectionStateRecovery?.maxDisconnectionDuration)
        self.sockets = sockets
        self.channels = channels
        self.slot = slot
        self.requestsTimeout = requestsTimeout
        self.acknowledgements = AcknowledgementBudget(maximum: maximumPendingAcknowledgements)
        self.logger = logger
        self.uid = Self.randomID()
        self.local = InMemoryAdapter(sockets: sockets) { change in
            guard let channel = channels.subscription(for: change) else { return }
            roomChannels.roomChanged(channel, created: change.created)
        }
        let bus = makeBus([channels.main, channels.responses(to: uid)]) { [weak self] channel, payload in
            self?.received(channel: channel, payload: payload)
        }
        slot.set(bus)
    }

    /// Node's streams adapter: as the cluster adapter above over the bus the maker makes
    /// (classic or sharded Pub/Sub) on `<channelPrefix>#<namespace>#` (static channels),
    /// with the messages that must survive appended to a Redis stream the stream maker
    /// reads for this adapter.
    convenience init(
        sockets: any LocalSockets, channelPrefix: String, requestsTimeout: Duration, logger: Logger,
        makeBus: BusMaker, makeStream: (@escaping RedisStream.Handler) -> RedisStream
    ) {
        self.init(
            sockets: sockets, channelPrefix: channelPrefix, subscriptionMode: .static, requestsTimeout: requestsTimeout,
            logger: logger, makeBus: makeBus)
        streamSlot.set(makeStream { [weak self] entry in self?.received(entry) })
    }

    /// 8 random bytes in hexadecimal, as socket.io-adapter's `randomId()`.
    static func randomID() -> String {
        let digits = Array("0123456789abcdef")
        var generator = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<8 {
            let byte = Int(UInt8.random(in: .min ... .max, using: &generator))
            text.append(digits[byte >> 4])
            text.append(digits[byte & 0xf])
        }
        return text
    }

    /// Waits (bounded) until this node listens to the cluster.
    public func waitUntilSubscribed() async {
        await slot.value?.waitUntilSubscribed(timeout: requestsTimeout)
        await streamSlot.value?.waitUntilReading(timeout: requestsTimeout)
    }

    // MARK: Publishing

    /// `{type, data, uid, nsp}`, in the order Node's adapter writes the keys. With a stream,
    /// what must survive is appended to it (`appended` gets the entry id, nil when that
    /// failed) and the rest is published as MessagePack, as Node's streams adapter does.
    private func publish(
        _ type: MessageType, _ data: JSONObject, on channel: String,
        appended: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        let message: JSONObject = [
            "type": .integer(type.rawValue), "data": .object(data), "uid": .string(uid),
            "nsp": .string(sockets.namespaceName),
        ]
        guard let stream = streamSlot.value else {
            slot.value?.publish(channel: channel, message: Self.encode(.object(message)))
            return
        }
        if Self.isKeptInStream(type, data) {
            stream.append(
                Self.streamFields(type, data, uid: uid, namespace: sockets.namespaceName), completion: appended)
        } else {
            slot.value?.publish(channel: channel, message: MessagePack.encode(.object(message)))
            appended(nil)
        }
    }

    /// JSON, unless the data carries binary: then MessagePack, as Node's sharded adapter.
    static func encode(_ message: JSONValue) -> [UInt8] {
        if message["data"]?.containsBinary == true { return MessagePack.encode(message) }
        return Array(message.jsonString.utf8)
    }

    /// Delivers to the selected local sockets and, unless `BroadcastOptions.local`,
    /// publishes the packet for the other nodes.
    public func broadcast(_ packet: SocketPacket, options: BroadcastOptions) {
        guard !options.local else {
            local.broadcast(packet, options: options)
            return
        }
        // Node publishes the packet before its namespace is set on it: `{type, data}`.
        let data: JSONObject = [
            "packet": RedisAdapter.packetObject(packet, namespace: nil), "opts": RedisAdapter.optionsObject(options),
        ]
        let channel = channels.broadcast(to: options.rooms, acknowledged: false)
        guard streamSlot.value != nil else {
            publish(.broadcast, data, on: channel)
            local.broadcast(packet, options: options)
            return
        }
        // Local sockets get it with its entry id as offset, once appended, in the order
        // the broadcasts were made.
        let ticket = deliveries.enqueue { [local] offset in local.broadcast(packet, options: options, offset: offset) }
        publish(.broadcast, data, on: channel) { [deliveries] offset in deliveries.complete(ticket, offset: offset) }
    }

    /// Makes the selected sockets join `rooms`, here and on the other nodes.
    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await publishRoomChange(.socketsJoin, options, rooms: rooms)
        local.join(options, rooms: rooms)
    }

    /// Makes the selected sockets leave `rooms`, here and on the other nodes.
    public func delSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await publishRoomChange(.socketsLeave, options, rooms: rooms)
        local.leave(options, rooms: rooms)
    }

    private func publishRoomChange(_ type: MessageType, _ options: BroadcastOptions, rooms: Set<String>) async {
        guard !options.local else { return }
        let data: JSONObject = [
            "opts": RedisAdapter.optionsObject(options), "rooms": .array(rooms.sorted().map { .string($0) }),
        ]
        await publishAppended(type, data, on: channels.main)
    }

    /// Publishes; with a stream, returns once the entry is appended (or could not be), as
    /// Node's adapter awaits it before acting locally.
    private func publishAppended(_ type: MessageType, _ data: JSONObject, on channel: String) async {
        guard streamSlot.value != nil else {
            publish(type, data, on: channel)
            return
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            publish(type, data, on: channel) { _ in continuation.resume() }
        }
    }

    /// Disconnects the selected sockets, here and on the other nodes.
    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        if !options.local {
            await publishAppended(
                .disconnectSockets, ["opts": RedisAdapter.optionsObject(options), "close": .bool(close)],
                on: channels.main)
        }
        local.disconnect(options, close: close)
    }

    /// Local snapshots, plus those the other nodes (counted as the main channel's
    /// subscribers) answer within the requests timeout.
    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketSnapshot] {
        var result = local.snapshots(options)
        guard !options.local, let bus = slot.value else { return result }
        let others = await bus.subscriberCount(channels.main) - 1
        guard others > 0 else { return result }
        let requestID = Self.randomID()
        let responses = await pending.collect(
            requestID, expected: others, timeout: requestsTimeout, logger: logger, label: "fetchSockets"
        ) {
            publish(
                .fetchSockets, ["opts": RedisAdapter.optionsObject(options), "requestId": .string(requestID)],
                on: channels.main)
        }
        for response in responses { result += RedisAdapter.snapshots(in: response) }
        return result
    }

    /// This node's rooms: Node's cluster adapter has no message to ask the others.
    public func allRooms() async -> Set<String> { local.localRooms }

    /// Stops listening to the cluster.
    public func close() async {
        slot.value?.close()
        streamSlot.value?.stop()
    }

    // MARK: From other nodes

    private func received(channel: String, payload: [UInt8]) {
        guard let message = RedisAdapter.decode(payload) else {
            logger.debug("redis: ignoring a malformed cluster message", metadata: ["channel": "\(channel)"])
            return
        }
        apply(message, offset: nil, from: channel)
    }

    /// A message from another node; `offset` is its stream entry id when it came from the stream.
    func apply(_ message: JSONValue, offset: String?, from source: String) {
        guard let number = message["type"]?.integerValue, let type = MessageType(rawValue: number),
            let sender = message["uid"]?.stringValue
        else {
            logger.debug("redis: ignoring a malformed cluster message", metadata: ["source": "\(source)"])
            return
        }
        guard sender != uid, message["nsp"]?.stringValue == sockets.namespaceName else { return }
        let data = message["data"]
        // Every message but a response selects sockets by its options: when they cannot be
        // read, it is ignored rather than applied to every socket.
        let options: BroadcastOptions
        switch type {
        case .broadcast, .socketsJoin, .socketsLeave, .disconnectSockets, .fetchSockets:
            guard let readable = RedisAdapter.options(from: data?["opts"]) else {
                logger.debug("redis: ignoring a cluster message with malformed options", metadata: ["type": "\(type)"])
                return
            }
            options = readable
        default:
            options = BroadcastOptions()
        }
        // Applied here, on the subscriber's event loop, in arrival order: a leave published
        // before a broadcast takes effect before it.
        switch type {
        case .broadcast:
            guard let packet = RedisAdapter.eventPacket(from: data?["packet"], namespace: sockets.namespaceName)
            else { return }
            if let requestID = data?["requestId"]?.stringValue {
                // The requester's own acknowledgement timeout, when it sent one (milliseconds).
                let timeout = data?["opts"]?["flags"]?["timeout"]?.integerValue.flatMap {
                    (1...3_600_000).contains($0) ? Duration.milliseconds($0) : nil
                }
                broadcastWithAcknowledgements(
                    packet, options: options, requestID: requestID, requester: sender,
                    timeout: timeout ?? requestsTimeout)
            } else {
                var options = options
                options.local = true
                if let offset {
                    local.broadcast(packet, options: options, offset: offset)
                } else {
                    local.broadcast(packet, options: options)
                }
            }
        case .socketsJoin, .socketsLeave:
            let rooms = Set((data?["rooms"]?.arrayValue ?? []).compactMap(\.stringValue))
            if type == .socketsJoin { local.join(options, rooms: rooms) } else { local.leave(options, rooms: rooms) }
        case .disconnectSockets:
            local.disconnect(options, close: data?["close"]?.boolValue ?? false)
        case .fetchSockets:
            guard let requestID = data?["requestId"]?.stringValue else { return }
            let sockets = local.snapshots(options).map { RedisAdapter.snapshotObject($0, self.sockets) }
            publish(
                .fetchSocketsResponse, ["requestId": .string(requestID), "sockets": .array(sockets)],
                on: channels.responses(to: sender))
        case .fetchSocketsResponse:
            guard let requestID = data?["requestId"]?.stringValue, let data else { return }
            pending.add(data, to: requestID)
        case .initialHeartbeat, .heartbeat, .adapterClose, .serverSideEmit, .serverSideEmitResponse,
            .broadcastClientCount, .broadcastAck:
            // Heartbeats belong to the heartbeat variant; server-side emits and acknowledged
            // broadcasts are never sent by this server, so their responses are not awaited.
            logger.debug("redis: ignoring cluster message type \(type)")
        }
    }

    /// A broadcast another node wants acknowledgements for: how many local sockets got
    /// it, then each socket's first acknowledgement argument, as responses to the requester.
    private func broadcastWithAcknowledgements(
        _ packet: SocketPacket, options: BroadcastOptions, requestID: String, requester: String, timeout: Duration
    ) {
        guard case .array(let items)? = packet.data, let event = items.first?.stringValue else { return }
        let arguments = Array(items.dropFirst())
        let recipients = local.localSocketIDs(options).compactMap { sockets.socket(id: $0) }
        let responseChannel = channels.responses(to: requester)
        func answerClientCount(_ count: Int) {
            publish(
                .broadcastClientCount, ["requestId": .string(requestID), "clientCount": .integer(Int64(count))],
                on: responseChannel)
        }
        if !recipients.isEmpty {
            switch acknowledgements.take(recipients.count) {
            case .taken:
                break
            case .refusedFirst:
                logger.warning(
                    "redis: refusing acknowledged broadcasts from other nodes: too many acknowledgements awaited",
                    metadata: ["requester": "\(requester)"])
                fallthrough
            case .refused:
                // A count of 0: the requester waits for no acknowledgement from this node.
                answerClientCount(0)
                return
            }
        }
        answerClientCount(recipients.count)
        let acknowledgements = acknowledgements
        for socket in recipients {
            Task { [weak self] in
                let reply = try? await socket.emitWithAck(event, args: arguments, timeout: timeout)
                // Freed before the answer goes out: whoever sees the answer can count on it.
                acknowledgements.release()
                guard let reply else { return }
                self?.publish(
                    .broadcastAck, ["requestId": .string(requestID), "packet": reply.first ?? .null],
                    on: responseChannel)
            }
        }
    }
}
