import Logging
import NIOCore
import Synchronization

/// Publishes to Redis over one pipelined connection: commands go out in order, and a
/// burst of broadcasts costs one round trip. Nothing waits on the network but the
/// callers of ``command(_:)``.
final class RedisPublisher: Sendable {
    private let link: RedisLink
    /// Commands waiting for a connection, beyond which new ones are dropped.
    static var maximumBacklog: Int { RedisLink.maximumBacklog }

    init(endpoint: RedisEndpoint, logger: Logger) {
        link = RedisLink(endpoint: endpoint, role: "publisher", logger: logger)
    }

    convenience init(configuration: RedisConfiguration, logger: Logger) {
        self.init(endpoint: RedisEndpoint(configuration: configuration), logger: logger)
    }

    /// Fire and forget, in order; dropped while Redis is unreachable (at most once, as in Node).
    func publish(channel: String, message: [UInt8]) {
        link.sendWithoutWaiting([Array("PUBLISH".utf8), Array(channel.utf8), message])
    }

    /// Sends a command and waits for its reply (an error reply is a reply, not a throw);
    /// throws when Redis cannot be reached.
    func command(_ arguments: [String]) async throws -> RESPValue {
        try await link.send(arguments.map { Array($0.utf8) }).get()
    }

    /// Sends a command (binary-safe arguments), in order with the publishes; its reply,
    /// or an error at once when Redis cannot be reached.
    func send(_ arguments: [[UInt8]]) -> EventLoopFuture<RESPValue> { link.send(arguments) }

    /// Sharded publish (`SPUBLISH`, Redis 7): fire and forget, in order with `publish`.
    func shardedPublish(channel: String, message: [UInt8]) {
        link.sendWithoutWaiting([Array("SPUBLISH".utf8), Array(channel.utf8), message])
    }

    /// Subscribers of a channel across the cluster (`PUBSUB NUMSUB`, or `PUBSUB
    /// SHARDNUMSUB` for a sharded channel); 1 (this node) when Redis does not answer.
    func subscriberCount(_ channel: String, sharded: Bool = false) async -> Int {
        Self.subscriberCount(in: try? await command(["PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", channel]))
    }

    /// The count in a `PUBSUB NUMSUB` or `SHARDNUMSUB` reply for one channel; 1 (this
    /// node) without one.
    static func subscriberCount(in reply: RESPValue?) -> Int {
        switch reply {
        case .array(let parts) where parts.count == 2:
            if case .integer(let count) = parts[1] { return Int(count) }
        case .map(let entries) where entries.count == 1:
            if case .integer(let count) = entries[0].value { return Int(count) }
        default: break
        }
        return 1
    }

    /// Publishes dropped because the connection could not take more bytes.
    var droppedWhileCongested: Int { link.droppedWhileCongested }

    func stop() { link.stop() }
}

/// One Redis connection in subscribe mode; reconnects and subscribes again when the
/// connection drops. Messages reach `handler` on the connection's event loop, in the
/// order Redis sent them. Pub/sub is at most once: what is published while a node is
/// disconnected does not reach it.
final class RedisSubscriber: Sendable {
    typealias Handler = @Sendable (_ channel: String, _ payload: [UInt8]) -> Void

    private struct Readiness {
        /// True once a subscription was confirmed, or the first attempt failed.
        var settled = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    /// Sharded channels (`SSUBSCRIBE`), which come and go with rooms, and the connection
    /// that has them, so a change is sent to it and a new connection gets them all.
    private struct ShardedChannels {
        var channels: Set<String> = []
        var connection: RedisClientConnection?
    }

    private let patterns: [String]
    private let channels: [String]
    private let logger: Logger
    private let readiness = Mutex(Readiness())
    private let sharded: Mutex<ShardedChannels>
    private let link = Mutex<RedisLink?>(nil)
    private let eventLoop: any EventLoop
    private let connectTimeout: Duration
    private let onShardMoved: @Sendable () -> Void

    /// `onShardMoved` hears that a sharded channel is no longer served here: a Redis
    /// Cluster node refused it (`MOVED`) or dropped it because its slot moved, or the
    /// connection was lost.
    init(
        endpoint: RedisEndpoint, patterns: [String], channels: [String], shardedChannels: Set<String> = [],
        logger: Logger, onShardMoved: @escaping @Sendable () -> Void = {}, handler: @escaping Handler
    ) {
        self.patterns = patterns
        self.channels = channels
        self.sharded = Mutex(ShardedChannels(channels: shardedChannels))
        self.logger = logger
        self.eventLoop = endpoint.eventLoopGroup.next()
        self.connectTimeout = endpoint.configuration.connectTimeout
        self.onShardMoved = onShardMoved
        let link = RedisLink(
            endpoint: endpoint, role: "subscriber", logger: logger,
            onPush: { [weak self] push in self?.received(push, handler: handler) },
            prepare: { [weak self] connection in try await self?.subscribe(on: connection) },
            onFirstAttempt: { [weak self] in self?.settle() },
            onConnectionLost: onShardMoved
        )
        self.link.withLock { $0 = link }
    }

    convenience init(
        configuration: RedisConfiguration, patterns: [String], channels: [String], logger: Logger,
        handler: @escaping Handler
    ) {
        self.init(
            endpoint: RedisEndpoint(configuration: configuration), patterns: patterns, channels: channels,
            logger: logger, handler: handler)
    }

    deinit { link.withLock { $0 }?.stop() }

    /// Subscribes on a new connection and waits until Redis confirmed every subscription,
    /// so the connection is only called ready once no message can be missed.
    private func subscribe(on connection: RedisClientConnection) async throws {
        // A server that never confirms is treated as one that is down: closed, and retried.
        let deadline = connection.channel.eventLoop.scheduleTask(in: TimeAmount(connectTimeout)) { connection.close() }
        defer { deadline.cancel() }
        var confirmations: [EventLoopFuture<Void>] = []
        if !patterns.isEmpty { confirmations.append(connection.subscribe(["PSUBSCRIBE"] + patterns)) }
        if !channels.isEmpty { confirmations.append(connection.subscribe(["SUBSCRIBE"] + channels)) }
        // Under the lock: a room's channel added meanwhile goes out after these, on this connection.
        let shardedChannels = sharded.withLock { state -> [String] in
            state.connection = connection
            let channels = state.channels.sorted()
            confirmations += Self.shardedCommands("SSUBSCRIBE", channels).map { connection.subscribe($0) }
            return channels
        }
        // A refusal (an ACL user without the channels, a cluster node that does not own
        // one) fails the wait with Redis's message; a connection that closes first fails it too.
        do {
            for confirmation in confirmations { try await confirmation.get() }
        } catch {
            if "\(error)".contains("MOVED") { onShardMoved() }
            throw error
        }
        logger.debug("redis: subscribed to \(patterns + channels + shardedChannels)")
        settle()
    }

    /// Listens to more sharded channels, now when connected and after every reconnect.
    func subscribeSharded(_ newChannels: [String]) {
        updateSharded(newChannels, command: "SSUBSCRIBE") { $0.insert($1) }
    }

    /// Stops listening to sharded channels.
    func unsubscribeSharded(_ oldChannels: [String]) {
        updateSharded(oldChannels, command: "SUNSUBSCRIBE") { $0.remove($1) }
    }

    private func updateSharded(
        _ changed: [String], command: String, apply: (inout Set<String>, String) -> Void
    ) {
        guard !changed.isEmpty else { return }
        sharded.withLock { state in
            for channel in changed { apply(&state.channels, channel) }
            // Sent under the lock, so commands reach Redis in the order rooms came and went.
            // A failure means the connection is gone (the next one subscribes to the set)
            // or, in a Redis Cluster, that the channel's slot is served elsewhere.
            if let connection = state.connection, connection.channel.isActive {
                for arguments in Self.shardedCommands(command, changed) {
                    connection.subscribe(arguments).whenFailure { [onShardMoved, logger] error in
                        if "\(error)".contains("MOVED") {
                            onShardMoved()
                        } else if connection.channel.isActive {
                            // Refused (an ACL without the channel): that room's messages from
                            // other nodes would otherwise stop without a word.
                            logger.warning("redis: \(arguments.joined(separator: " ")) failed: \(error)")
                        }
                    }
                }
            }
        }
    }

    /// The sharded channels listened to (or to be, once connected).
    var shardedChannels: Set<String> { sharded.withLock { $0.channels } }

    /// One command per hash slot: a Redis Cluster refuses channels of several slots in
    /// one (`CROSSSLOT`).
    static func shardedCommands(_ command: String, _ channels: [String]) -> [[String]] {
        var bySlot: [Int: [String]] = [:]
        for channel in channels {
            bySlot[RedisClusterSlots.hashSlot(of: Array(channel.utf8)), default: []].append(channel)
        }
        return bySlot.keys.sorted().compactMap { slot in bySlot[slot].map { [command] + $0 } }
    }

    private func received(_ push: RESPValue, handler: Handler) {
        guard case .push(let parts) = push, let kind = parts.first?.text else { return }
        switch kind {
        case "pmessage" where parts.count == 4:
            if let channel = parts[2].text, let payload = parts[3].bytes { handler(channel, payload) }
        case "message" where parts.count == 3, "smessage" where parts.count == 3:
            if let channel = parts[1].text, let payload = parts[2].bytes { handler(channel, payload) }
        case "sunsubscribe" where parts.count == 3:
            // Still wanted: a cluster node dropped it on its own, its slot moved.
            if let channel = parts[1].text, sharded.withLock({ $0.channels.contains(channel) }) { onShardMoved() }
        default:
            break
        }
    }

    /// Wakes everyone waiting for the first subscription.
    private func settle() {
        let waiters = readiness.withLock { state in
            state.settled = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits (at most `timeout`) for the first subscription, so messages published right
    /// after start-up are not missed; returns early when the first connection attempt failed.
    func waitUntilSubscribed(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = readiness.withLock { state -> Int? in
                guard !state.settled else { return nil }
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume()
                return
            }
            eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                self.readiness.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    func stop() {
        link.withLock { $0 }?.stop()
    }
}

/// Redis Pub/Sub as a ``ClusterBus``, on the shared publisher and a subscriber connection
/// of its own that subscribes to every channel again after a reconnect: sharded
/// (Redis 7: `SPUBLISH`, `SSUBSCRIBE`/`SUNSUBSCRIBE` as rooms come and go), or classic
/// (`PUBLISH`, `SUBSCRIBE` to fixed channels). Node's streams adapter sends its requests
/// and responses over either, to fixed channels.
final class RedisPubSubBus: ClusterBus {
    private let publisher: RedisPublisher
    private let subscriber: RedisSubscriber
    private let sharded: Bool

    init(
        endpoint: RedisEndpoint, publisher: RedisPublisher, channels: [String], sharded: Bool, logger: Logger,
        handler: @escaping RedisSubscriber.Handler
    ) {
        self.publisher = publisher
        self.sharded = sharded
        subscriber = RedisSubscriber(
            endpoint: endpoint, patterns: [], channels: sharded ? [] : channels,
            shardedChannels: sharded ? Set(channels) : [], logger: logger, handler: handler)
    }

    func publish(channel: String, message: [UInt8]) {
        if sharded {
            publisher.shardedPublish(channel: channel, message: message)
        } else {
            publisher.publish(channel: channel, message: message)
        }
    }
    /// Sharded only: classic channels are fixed (one per namespace and one per node).
    func subscribe(_ channels: [String]) { if sharded { subscriber.subscribeSharded(channels) } }
    func unsubscribe(_ channels: [String]) { if sharded { subscriber.unsubscribeSharded(channels) } }
    func subscriberCount(_ channel: String) async -> Int { await publisher.subscriberCount(channel, sharded: sharded) }
    func waitUntilSubscribed(timeout: Duration) async { await subscriber.waitUntilSubscribed(timeout: timeout) }
    func close() { subscriber.stop() }
}
