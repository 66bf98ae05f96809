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

    /// Subscribers of a channel across the cluster (`PUBSUB NUMSUB`); 1 (this node) when
    /// Redis does not answer.
    func subscriberCount(_ channel: String) async -> Int {
        let reply = try? await command(["PUBSUB", "NUMSUB", channel])
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

    /// The subscriptions of the current connection still to be confirmed.
    private struct Confirmations {
        var remaining = 0
        var promise: EventLoopPromise<Void>?
    }

    private let patterns: [String]
    private let channels: [String]
    private let logger: Logger
    private let readiness = Mutex(Readiness())
    private let confirmations = Mutex(Confirmations())
    private let link = Mutex<RedisLink?>(nil)
    private let eventLoop: any EventLoop
    private let connectTimeout: Duration

    init(
        endpoint: RedisEndpoint, patterns: [String], channels: [String], logger: Logger,
        handler: @escaping Handler
    ) {
        self.patterns = patterns
        self.channels = channels
        self.logger = logger
        self.eventLoop = endpoint.eventLoopGroup.next()
        self.connectTimeout = endpoint.configuration.connectTimeout
        let link = RedisLink(
            endpoint: endpoint, role: "subscriber", logger: logger,
            onPush: { [weak self] push in self?.received(push, handler: handler) },
            prepare: { [weak self] connection in try await self?.subscribe(on: connection) },
            onFirstAttempt: { [weak self] in self?.settle() }
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
        let confirmed = connection.channel.eventLoop.makePromise(of: Void.self)
        confirmations.withLock { $0 = Confirmations(remaining: patterns.count + channels.count, promise: confirmed) }
        connection.closeFuture.whenComplete { _ in
            confirmed.fail(RedisError(message: "the connection closed before the subscriptions were confirmed"))
        }
        // A server that never confirms is treated as one that is down: closed, and retried.
        let deadline = connection.channel.eventLoop.scheduleTask(in: TimeAmount(connectTimeout)) { connection.close() }
        defer { deadline.cancel() }
        if patterns.isEmpty, channels.isEmpty { confirmed.succeed() }
        // A refusal (an ACL user without the channels) fails the wait with Redis's message.
        if !patterns.isEmpty { connection.subscribe(["PSUBSCRIBE"] + patterns).cascadeFailure(to: confirmed) }
        if !channels.isEmpty { connection.subscribe(["SUBSCRIBE"] + channels).cascadeFailure(to: confirmed) }
        try await confirmed.futureResult.get()
        logger.debug("redis: subscribed to \(patterns + channels)")
        settle()
    }

    private func received(_ push: RESPValue, handler: Handler) {
        guard case .push(let parts) = push, let kind = parts.first?.text else { return }
        switch kind {
        case "pmessage" where parts.count == 4:
            if let channel = parts[2].text, let payload = parts[3].bytes { handler(channel, payload) }
        case "message" where parts.count == 3, "smessage" where parts.count == 3:
            if let channel = parts[1].text, let payload = parts[2].bytes { handler(channel, payload) }
        case "subscribe", "psubscribe", "ssubscribe":
            let done = confirmations.withLock { state -> EventLoopPromise<Void>? in
                state.remaining -= 1
                guard state.remaining == 0 else { return nil }
                defer { state.promise = nil }
                return state.promise
            }
            done?.succeed()
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
