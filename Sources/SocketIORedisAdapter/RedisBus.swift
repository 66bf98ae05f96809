import Dispatch
import Foundation
import Logging
import Synchronization

/// Publishes to Redis from a thread of its own, so nothing on an event loop or in the
/// cooperative pool ever waits on the network. Commands go out in order and are
/// pipelined: a burst of broadcasts costs one round trip.
final class RedisPublisher: Sendable {
    private struct Job: Sendable {
        let arguments: [[UInt8]]
        let completion: (@Sendable (Result<RedisReply, RedisError>) -> Void)?
    }

    private struct State {
        var jobs: [Job] = []
        var running = true
    }

    private let configuration: RedisConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// Commands waiting while Redis is unreachable, beyond which new ones are dropped.
    static let maximumBacklog = 100_000

    init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let thread = Thread { [self] in self.run() }
        thread.name = "redis-publisher"
        thread.start()
    }

    /// Fire and forget, in order.
    func publish(channel: String, message: [UInt8]) {
        enqueue(Job(arguments: [Array("PUBLISH".utf8), Array(channel.utf8), message], completion: nil))
    }

    func command(_ arguments: [String]) async throws -> RedisReply {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisReply, any Error>) in
            enqueue(Job(arguments: arguments.map { Array($0.utf8) }) { continuation.resume(with: $0.mapError { $0 }) })
        }
    }

    /// Subscribers of a channel across the cluster (`PUBSUB NUMSUB`).
    func subscriberCount(_ channel: String) async -> Int {
        guard case .array(let reply)? = try? await command(["PUBSUB", "NUMSUB", channel]), reply.count == 2,
            case .integer(let count) = reply[1]
        else { return 1 }
        return Int(count)
    }

    func stop() {
        state.withLock { $0.running = false }
        wake.signal()
    }

    private func enqueue(_ job: Job) {
        let accepted = state.withLock { state -> Bool in
            guard state.running, state.jobs.count < Self.maximumBacklog else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted {
            wake.signal()
        } else {
            job.completion?(.failure(RedisError(message: "the Redis publisher is stopped or backlogged")))
        }
    }

    private func run() {
        var connection: RedisConnection?
        var backoff = 0.05
        while true {
            wake.wait()
            let (jobs, running) = state.withLock { state -> ([Job], Bool) in
                let jobs = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                return (jobs, state.running)
            }
            if !running {
                for job in jobs { job.completion?(.failure(RedisError(message: "the Redis publisher is stopped"))) }
                return
            }
            guard !jobs.isEmpty else { continue }
            do {
                if connection == nil {
                    connection = try RedisConnection.open(configuration)
                    logger.info("redis: publisher connected to \(configuration.description)")
                    backoff = 0.05
                }
                guard let connection else { continue }
                for job in jobs { try connection.append(job.arguments) }
                for job in jobs {
                    // Read every reply, even for fire-and-forget publishes: reading is also
                    // what flushes hiredis's output buffer.
                    let reply = try connection.nextReply()
                    job.completion?(.success(reply))
                }
            } catch {
                connection = nil
                logger.warning("redis: publish failed (\(error)); \(jobs.count) message(s) dropped, reconnecting")
                for job in jobs { job.completion?(.failure(RedisError(message: "\(error)"))) }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
    }
}

/// One Redis connection in subscribe mode, read by a thread of its own; reconnects and
/// subscribes again when the connection drops. Pub/sub is at most once: what is
/// published while a node is disconnected does not reach it.
final class RedisSubscriber: Sendable {
    typealias Handler = @Sendable (_ channel: String, _ payload: [UInt8]) -> Void

    private let configuration: RedisConfiguration
    private let logger: Logger
    private let patterns: [String]
    private let channels: [String]
    private let handler: Handler
    private let running = Mutex(true)
    private let current = Mutex<UnsafeConnection?>(nil)
    /// Signalled once the first subscription is confirmed (or given up on).
    private let subscribed = DispatchSemaphore(value: 0)

    /// The connection is only read by the subscriber thread; others may only interrupt it.
    private final class UnsafeConnection: @unchecked Sendable {
        let connection: RedisConnection
        init(_ connection: RedisConnection) { self.connection = connection }
    }

    init(
        configuration: RedisConfiguration, patterns: [String], channels: [String], logger: Logger,
        handler: @escaping Handler
    ) {
        self.configuration = configuration
        self.patterns = patterns
        self.channels = channels
        self.logger = logger
        self.handler = handler
        let thread = Thread { [self] in self.run() }
        thread.name = "redis-subscriber"
        thread.start()
    }

    /// Waits (a bounded time) for the first subscription, so messages published right
    /// after start-up are not missed.
    func waitUntilSubscribed(timeout: Duration) async {
        let (seconds, attoseconds) = timeout.components
        let deadline = DispatchTime.now() + .nanoseconds(Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                if self.subscribed.wait(timeout: deadline) == .success { self.subscribed.signal() }
                continuation.resume()
            }
        }
    }

    func stop() {
        running.withLock { $0 = false }
        current.withLock { $0?.connection.interrupt() }
    }

    private var isRunning: Bool { running.withLock { $0 } }

    private func run() {
        var backoff = 0.05
        var signalled = false
        while isRunning {
            do {
                let connection = try RedisConnection.open(configuration)
                current.withLock { $0 = UnsafeConnection(connection) }
                if !patterns.isEmpty {
                    try connection.append([Array("PSUBSCRIBE".utf8)] + patterns.map { Array($0.utf8) })
                }
                if !channels.isEmpty {
                    try connection.append([Array("SUBSCRIBE".utf8)] + channels.map { Array($0.utf8) })
                }
                var confirmations = patterns.count + channels.count
                backoff = 0.05
                while isRunning {
                    guard case .array(let parts) = try connection.nextReply(), let kind = parts.first?.text else {
                        continue
                    }
                    switch kind {
                    case "pmessage" where parts.count == 4:
                        if let channel = parts[2].text, let payload = parts[3].bytes { handler(channel, payload) }
                    case "message" where parts.count == 3:
                        if let channel = parts[1].text, let payload = parts[2].bytes { handler(channel, payload) }
                    case "psubscribe", "subscribe":
                        confirmations -= 1
                        if confirmations == 0 {
                            logger.info("redis: subscribed to \(patterns + channels) on \(configuration.description)")
                            if !signalled {
                                signalled = true
                                subscribed.signal()
                            }
                        }
                    default:
                        break
                    }
                }
            } catch {
                current.withLock { $0 = nil }
                guard isRunning else { break }
                logger.warning("redis: subscriber disconnected (\(error)); retrying in \(backoff) s")
                if !signalled {
                    signalled = true
                    subscribed.signal()
                }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
        current.withLock { $0 = nil }
    }
}
