import Logging
import NIOCore
import Synchronization

/// Keeps one connection to Redis open: connects, and after a loss reconnects with a
/// backoff (50 ms doubling up to 2 s). An outage is logged once: a warning when Redis goes
/// away, an info line when it is back. Until the first attempt ends, up to
/// `maximumBacklog` commands wait for it; after that, while there is no connection,
/// commands fail at once and publishes are dropped (pub/sub is at most once, as in
/// Node's adapter: a broadcast from during an outage is never delivered late).
final class RedisLink: Sendable {
    typealias Prepare = @Sendable (RedisClientConnection) async throws -> Void

    private struct Waiting: Sendable {
        let arguments: [[UInt8]]
        let reply: EventLoopPromise<RESPValue>?
        var serverWait = TimeAmount.zero
    }

    private enum Connection {
        /// The first attempt, with what waits for it.
        case connecting([Waiting])
        case connected(RedisClientConnection)
        case disconnected
        case stopped
    }

    private struct State {
        var connection = Connection.connecting([])
        var loop: Task<Void, Never>?
        /// A connection made but not yet ready (being prepared), for `stop()` to close.
        var settingUp: RedisClientConnection?
        /// Publishes dropped since the last outage began.
        var dropped = 0
        /// Publishes dropped because the connection could not take more, over the link's life.
        var droppedWhileCongested = 0
        /// True from a publish dropped for congestion until one goes out again.
        var congested = false
    }

    let endpoint: RedisEndpoint
    /// `publisher` or `subscriber`, for the log.
    let role: String
    private let logger: Logger
    private let onPush: @Sendable (RESPValue) -> Void
    private let prepare: Prepare
    private let onFirstAttempt: @Sendable () -> Void
    private let onConnectionLost: @Sendable () -> Void
    private let state = Mutex(State())
    /// Commands waiting for a connection, beyond which new ones are dropped.
    static let maximumBacklog = 100_000

    /// Starts connecting. `prepare` runs on each new connection before it is used (to
    /// subscribe); `onFirstAttempt` runs once, when the first attempt succeeded or failed;
    /// `onConnectionLost` whenever a connection is lost or an attempt fails.
    init(
        endpoint: RedisEndpoint, role: String, logger: Logger,
        onPush: @escaping @Sendable (RESPValue) -> Void = { _ in },
        prepare: @escaping Prepare = { _ in },
        onFirstAttempt: @escaping @Sendable () -> Void = {},
        onConnectionLost: @escaping @Sendable () -> Void = {}
    ) {
        self.endpoint = endpoint
        self.role = role
        self.logger = logger
        self.onPush = onPush
        self.prepare = prepare
        self.onFirstAttempt = onFirstAttempt
        self.onConnectionLost = onConnectionLost
        let task = Task { [self] in await self.run() }
        state.withLock { $0.loop = task }
    }

    /// Sends a command; its reply when connected, an error at once when Redis is unreachable.
    /// `serverWait` is how long Redis may hold the reply on purpose (a blocking read).
    func send(_ arguments: [[UInt8]], serverWait: TimeAmount = .zero) -> EventLoopFuture<RESPValue> {
        let promise = endpoint.eventLoopGroup.any().makePromise(of: RESPValue.self)
        enqueue(Waiting(arguments: arguments, reply: promise, serverWait: serverWait))
        return promise.futureResult
    }

    /// Fire and forget, in order with the other commands; dropped while Redis is unreachable.
    func sendWithoutWaiting(_ arguments: [[UInt8]]) {
        enqueue(Waiting(arguments: arguments, reply: nil))
    }

    private func enqueue(_ command: Waiting) {
        enum Action {
            case sent
            case queued
            case refuse(String)
            case droppedForCongestion(first: Bool)
        }
        let action = state.withLock { state -> Action in
            switch state.connection {
            case .connected(let connection):
                // A path that takes nothing would otherwise buffer publishes without bound
                // until the liveness check closes it.
                if command.reply == nil, !connection.channel.isWritable {
                    state.droppedWhileCongested += 1
                    defer { state.congested = true }
                    return .droppedForCongestion(first: !state.congested)
                }
                state.congested = false
                forward([command], over: connection)
                return .sent
            case .connecting(var waiting):
                guard waiting.count < Self.maximumBacklog else {
                    state.dropped += 1
                    return .refuse("too many commands are waiting for the connection to Redis")
                }
                waiting.append(command)
                state.connection = .connecting(waiting)
                return .queued
            case .disconnected:
                state.dropped += 1
                return .refuse("Redis at \(endpoint.configuration.description) is unreachable")
            case .stopped:
                return .refuse("the Redis \(role) is stopped")
            }
        }
        switch action {
        case .refuse(let message): command.reply?.fail(RedisError(message: message))
        case .droppedForCongestion(first: true):
            let description = endpoint.configuration.description
            logger.warning("redis: \(role) connection to \(description) is not writable; dropping publishes")
        case .sent, .queued, .droppedForCongestion(first: false): break
        }
    }

    /// Publishes dropped because the connection was not writable.
    var droppedWhileCongested: Int { state.withLock { $0.droppedWhileCongested } }

    /// Hands commands to the connection's event loop. Called with the state locked, so
    /// commands reach the loop in the order they were accepted; the loop task (never
    /// running inline) keeps callbacks of failed writes from coming back into the lock.
    private func forward(_ commands: [Waiting], over connection: RedisClientConnection) {
        guard !commands.isEmpty else { return }
        connection.channel.eventLoop.execute {
            for command in commands {
                if let promise = command.reply {
                    connection.send(command.arguments, flush: false, serverWait: command.serverWait).cascade(
                        to: promise)
                } else {
                    connection.sendWithoutReply(command.arguments)
                }
            }
            // One flush for the lot: a burst of publishes goes out in as few writes as possible.
            connection.channel.flush()
        }
    }

    /// Closes the connection and stops reconnecting.
    func stop() {
        let (connection, settingUp, waiting, loop) = state.withLock { state in
            let previous = state.connection
            state.connection = .stopped
            let loop = state.loop
            state.loop = nil
            let settingUp = state.settingUp
            state.settingUp = nil
            switch previous {
            case .connected(let connection): return (Optional(connection), settingUp, [Waiting](), loop)
            case .connecting(let waiting): return (nil, settingUp, waiting, loop)
            case .disconnected, .stopped: return (nil, settingUp, [], loop)
            }
        }
        loop?.cancel()
        connection?.close()
        settingUp?.close()
        for command in waiting { command.reply?.fail(RedisError(message: "the Redis \(role) is stopped")) }
    }

    private var isStopped: Bool {
        state.withLock { state in
            if case .stopped = state.connection { return true }
            return false
        }
    }

    private func run() async {
        let shortestBackoff = Duration.milliseconds(50)
        let longestBackoff = Duration.seconds(2)
        var backoff = shortestBackoff
        var outage = false
        var firstAttempt = true
        let description = endpoint.configuration.description
        let clock = ContinuousClock()
        while !isStopped, !Task.isCancelled {
            do {
                // One warning per connection for commands Redis refuses unseen (a publish
                // an ACL forbids), not one per message.
                let refusalLogged = Atomic(false)
                let connection = try await RedisClientConnection.connect(
                    to: endpoint, onPush: onPush,
                    onRefusal: { [logger, role, description] refusal in
                        guard !refusalLogged.exchange(true, ordering: .relaxed) else { return }
                        logger.warning(
                            "redis: \(role) command refused by \(description): \(refusal) (logged once per connection)")
                    })
                let stopped = state.withLock { state -> Bool in
                    if case .stopped = state.connection { return true }
                    state.settingUp = connection
                    return false
                }
                if stopped {
                    connection.close()
                    return
                }
                do {
                    try await prepare(connection)
                } catch {
                    connection.close()
                    throw error
                }
                let dropped = state.withLock { state -> Int? in
                    state.settingUp = nil
                    switch state.connection {
                    case .connecting(let waiting): forward(waiting, over: connection)
                    case .disconnected: break
                    case .connected, .stopped: return nil
                    }
                    state.connection = .connected(connection)
                    defer { state.dropped = 0 }
                    return state.dropped
                }
                guard let dropped else {
                    connection.close()
                    return
                }
                if outage {
                    logger.info(
                        "redis: \(role) reconnected to \(description)",
                        metadata: dropped > 0 ? ["dropped": "\(dropped)"] : [:])
                    outage = false
                } else {
                    logger.debug("redis: \(role) connected to \(description)")
                }
                if firstAttempt {
                    firstAttempt = false
                    onFirstAttempt()
                }
                let connectedAt = clock.now
                try? await connection.closeFuture.get()
                let lost = state.withLock { state -> Bool in
                    guard case .connected = state.connection else { return false }
                    state.connection = .disconnected
                    return true
                }
                guard lost else { return }
                onConnectionLost()
                logger.warning(
                    "redis: \(role) lost its connection to \(description) (\(connection.closeReason)); reconnecting")
                outage = true
                // A connection that lived a while starts the backoff over; one that a server
                // keeps accepting and dropping at once keeps growing it, so that is no busy loop.
                backoff = clock.now - connectedAt > longestBackoff ? shortestBackoff : min(backoff * 2, longestBackoff)
                try? await Task.sleep(for: backoff)
            } catch {
                // Stopping closes a connection being set up: that is no outage.
                if isStopped { return }
                let waiting = state.withLock { state -> [Waiting] in
                    state.settingUp = nil
                    guard case .connecting(let waiting) = state.connection else { return [] }
                    state.connection = .disconnected
                    state.dropped += waiting.filter { $0.reply == nil }.count
                    return waiting
                }
                for command in waiting { command.reply?.fail(error) }
                onConnectionLost()
                if !outage {
                    logger.warning("redis: \(role) cannot reach \(description) (\(error)); retrying until it answers")
                    outage = true
                } else {
                    logger.debug("redis: \(role) still cannot reach \(description) (\(error))")
                }
                if firstAttempt {
                    firstAttempt = false
                    onFirstAttempt()
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, longestBackoff)
            }
        }
    }
}
