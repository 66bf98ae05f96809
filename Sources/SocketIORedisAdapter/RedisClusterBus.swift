import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The primaries of a Redis Cluster, shared by every namespace's adapter: which one serves
/// a channel (read with `CLUSTER SHARDS` from the node `REDIS_URL` names, or any primary
/// known), and a publishing connection to each. The slots are read again whenever a node
/// answers `MOVED`, drops a channel whose slot moved, or a connection to one is lost.
final class RedisClusterRouter: Sendable {
    typealias Node = RedisClusterSlots.Node

    private struct State {
        var slots: RedisClusterSlots?
        var publishers: [Node: RedisLink] = [:]
        var reading: Task<Void, Never>?
        /// What runs once the slots were read again.
        var afterReading: [@Sendable () -> Void] = []
        var observers: [ObjectIdentifier: @Sendable () -> Void] = [:]
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var stopped = false
    }

    let configuration: RedisConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    static let maximumWaitingResends = 10_000

    /// Starts reading the slots from the node `configuration` names.
    init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        readSlots()
    }

    /// The slots as last read; nil until the first read.
    var slots: RedisClusterSlots? { state.withLock { $0.slots } }

    /// How to reach `node`: the same credentials and TLS settings as the seed node.
    func endpoint(for node: Node) -> RedisEndpoint {
        var configuration = configuration
        configuration.host = node.host
        configuration.port = node.port
        return RedisEndpoint(configuration: configuration)
    }

    /// `changed` runs whenever the slots read differ from the ones before.
    func observe(_ owner: AnyObject, changed: @escaping @Sendable () -> Void) {
        state.withLock { $0.observers[ObjectIdentifier(owner)] = changed }
    }

    func stopObserving(_ owner: AnyObject) {
        _ = state.withLock { $0.observers.removeValue(forKey: ObjectIdentifier(owner)) }
    }

    /// `SPUBLISH` on the channel's primary. A `MOVED` answer (the slot moved) reads the
    /// slots again and sends the message once more to the new owner; while no primary is
    /// known for the channel the message is dropped, as while Redis is unreachable.
    func publish(channel: String, message: [UInt8], resendIfMoved: Bool = true) {
        guard let link = publisher(forChannel: channel) else {
            logger.debug("redis: no cluster node known for \(channel); message dropped")
            readSlots()
            return
        }
        link.send([Array("SPUBLISH".utf8), Array(channel.utf8), message]).whenSuccess { [self] reply in
            guard let refusal = reply.errorMessage else { return }
            if refusal.hasPrefix("MOVED "), resendIfMoved {
                readSlots { [self] in publish(channel: channel, message: message, resendIfMoved: false) }
            } else {
                logger.warning("redis: SPUBLISH to \(channel) refused: \(refusal)")
            }
        }
    }

    /// `PUBSUB SHARDNUMSUB` on the channel's primary: the nodes listening to it; 1 (this
    /// node) when that cannot be known.
    func subscriberCount(_ channel: String) async -> Int {
        guard let link = publisher(forChannel: channel) else { return 1 }
        let reply = try? await link.send(["PUBSUB", "SHARDNUMSUB", channel].map { Array($0.utf8) }).get()
        return RedisPublisher.subscriberCount(in: reply)
    }

    private func publisher(forChannel channel: String) -> RedisLink? {
        state.withLock { state -> RedisLink? in
            guard !state.stopped, let node = state.slots?.primary(forChannel: channel) else { return nil }
            if let link = state.publishers[node] { return link }
            let link = RedisLink(
                endpoint: endpoint(for: node), role: "publisher to \(node)", logger: logger,
                onConnectionLost: { [weak self] in self?.readSlots() })
            state.publishers[node] = link
            return link
        }
    }

    /// Reads the slots again (one read at a time; a read asked for while one is under way
    /// is that read), then runs `then`. Retries with a backoff until a node answers.
    func readSlots(then: (@Sendable () -> Void)? = nil) {
        state.withLock { state in
            guard !state.stopped else { return }
            // Bounded: while no node answers, resends past this many are dropped.
            if let then, state.afterReading.count < Self.maximumWaitingResends { state.afterReading.append(then) }
            guard state.reading == nil else { return }
            state.reading = Task { [self] in await read() }
        }
    }

    private func read() async {
        let clock = ContinuousClock()
        var backoff = Duration.milliseconds(50)
        var warned = false
        while !Task.isCancelled {
            let seed = Node(host: configuration.host, port: configuration.port)
            let known = state.withLock { $0.slots?.primaries.sorted { $0.description < $1.description } ?? [] }
            var problems: [String] = []
            for node in [seed] + known.filter({ $0 != seed }) {
                do {
                    let connection = try await RedisClientConnection.connect(to: endpoint(for: node))
                    defer { connection.close() }
                    let slots = try RedisClusterSlots(
                        shardsReply: try await connection.command(["CLUSTER", "SHARDS"]),
                        tls: configuration.tls != nil)
                    guard !slots.ranges.isEmpty else {
                        problems.append("\(node): no slot is served yet")
                        continue
                    }
                    if warned { logger.info("redis: read the cluster's slots from \(node)") }
                    install(slots)
                    return
                } catch {
                    problems.append("\(node): \(error)")
                }
            }
            if !warned {
                logger.warning(
                    "redis: cannot read the cluster's slots (\(problems.joined(separator: "; "))); retrying")
                warned = true
            }
            try? await clock.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }

    private func install(_ slots: RedisClusterSlots) {
        let (observers, gone, afterReading, waiters) = state.withLock { state in
            let changed = state.slots != slots
            state.slots = slots
            state.reading = nil
            let gone = state.publishers.filter { !slots.primaries.contains($0.key) }
            for node in gone.keys { state.publishers[node] = nil }
            defer {
                state.afterReading = []
                state.waiters = [:]
            }
            return (
                changed ? Array(state.observers.values) : [], Array(gone.values), state.afterReading,
                Array(state.waiters.values)
            )
        }
        if !gone.isEmpty { logger.info("redis: cluster slots changed; \(gone.count) former primaries dropped") }
        for link in gone { link.stop() }
        // Observers first: a bus waiting for the slots then finds its subscribers made.
        for observer in observers { observer() }
        for waiter in waiters { waiter.resume() }
        for action in afterReading { action() }
    }

    /// Waits (at most `timeout`) until the slots were read once.
    func waitUntilSlotsRead(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = state.withLock { state -> Int? in
                guard state.slots == nil, !state.stopped else { return nil }
                defer { state.nextWaiter += 1 }
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id else {
                continuation.resume()
                return
            }
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
                self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    func stop() {
        let (links, reading, waiters) = state.withLock { state in
            state.stopped = true
            defer {
                state.publishers = [:]
                state.waiters = [:]
                state.afterReading = []
                state.observers = [:]
            }
            return (Array(state.publishers.values), state.reading, Array(state.waiters.values))
        }
        reading?.cancel()
        for link in links { link.stop() }
        for waiter in waiters { waiter.resume() }
    }
}

/// Sharded Pub/Sub across a Redis Cluster as a ``ClusterBus``: each channel is listened to
/// on the primary that owns its slot (one subscriber connection per primary that owns
/// one of this adapter's channels), and moved when the slots change.
final class RedisClusterShardedBus: ClusterBus {
    private struct State {
        var channels: Set<String>
        var subscribers: [RedisClusterSlots.Node: RedisSubscriber] = [:]
        var closed = false
    }

    private let router: RedisClusterRouter
    private let logger: Logger
    private let handler: RedisSubscriber.Handler
    private let state: Mutex<State>

    init(router: RedisClusterRouter, channels: [String], logger: Logger, handler: @escaping RedisSubscriber.Handler) {
        self.router = router
        self.logger = logger
        self.handler = handler
        state = Mutex(State(channels: Set(channels)))
        router.observe(self) { [weak self] in self?.regroup() }
        regroup()
    }

    func publish(channel: String, message: [UInt8]) { router.publish(channel: channel, message: message) }

    func subscribe(_ channels: [String]) {
        state.withLock { state in
            guard !state.closed else { return }
            state.channels.formUnion(channels)
            for (node, owned) in owners(of: channels) { subscriber(for: node, in: &state).subscribeSharded(owned) }
        }
    }

    func unsubscribe(_ channels: [String]) {
        state.withLock { state in
            state.channels.subtract(channels)
            for (node, owned) in owners(of: channels) { state.subscribers[node]?.unsubscribeSharded(owned) }
        }
    }

    func subscriberCount(_ channel: String) async -> Int { await router.subscriberCount(channel) }

    func waitUntilSubscribed(timeout: Duration) async {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        await router.waitUntilSlotsRead(timeout: timeout)
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers {
            let left = deadline - clock.now
            guard left > .zero else { return }
            await subscriber.waitUntilSubscribed(timeout: left)
        }
    }

    func close() {
        router.stopObserving(self)
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.stop() }
    }

    /// The channels by the primary that owns them; channels of unowned slots are left out
    /// (they are listened to once the slots are read again).
    private func owners(of channels: some Sequence<String>) -> [RedisClusterSlots.Node: [String]] {
        guard let slots = router.slots else { return [:] }
        var owners: [RedisClusterSlots.Node: [String]] = [:]
        for channel in channels {
            if let node = slots.primary(forChannel: channel) { owners[node, default: []].append(channel) }
        }
        return owners
    }

    private func subscriber(for node: RedisClusterSlots.Node, in state: inout State) -> RedisSubscriber {
        if let subscriber = state.subscribers[node] { return subscriber }
        let subscriber = RedisSubscriber(
            endpoint: router.endpoint(for: node), patterns: [], channels: [], logger: logger,
            onShardMoved: { [weak router] in router?.readSlots() }, handler: handler)
        state.subscribers[node] = subscriber
        return subscriber
    }

    /// After the slots changed: every channel listened to on its owner, and nowhere else.
    private func regroup() {
        let stopped = state.withLock { state -> [RedisSubscriber] in
            guard !state.closed else { return [] }
            let wanted = owners(of: state.channels)
            var stopped: [RedisSubscriber] = []
            for (node, subscriber) in state.subscribers where wanted[node] == nil {
                state.subscribers[node] = nil
                stopped.append(subscriber)
            }
            for (node, channels) in wanted {
                let subscriber = subscriber(for: node, in: &state)
                let current = subscriber.shardedChannels
                let owned = Set(channels)
                subscriber.unsubscribeSharded(Array(current.subtracting(owned)))
                subscriber.subscribeSharded(Array(owned.subtracting(current)))
            }
            return stopped
        }
        for subscriber in stopped { subscriber.stop() }
    }
}
