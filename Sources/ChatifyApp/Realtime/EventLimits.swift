import Foundation
import SocketIO
import Synchronization

/// A token bucket: `rate` events per second on average, bursts up to `burst`.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    init(rate: Double, burst: Double, now: ContinuousClock.Instant = .now) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
    }

    /// Takes one token if there is one.
    mutating func take(now: ContinuousClock.Instant = .now) -> Bool {
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
        updated = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    var isFull: Bool { tokens >= burst }
}

/// How much one socket and one user may do, counted on this node.
public struct EventLimits: Sendable, Equatable {
    /// Events a socket may send per second on average (bursts up to twice that).
    public var eventsPerSocketPerSecond: Int = 20
    /// Events all sockets of one user may send per second together.
    public var eventsPerUserPerSecond: Int = 50
    /// Rooms one socket may be in through `join` (its own user and token rooms aside).
    public var roomsPerSocket: Int = 50
    /// Sockets one user may hold at once (0: no limit).
    public var connectionsPerUser: Int = 20
    /// How long a `typing` start lasts without another one.
    public var typingExpiry: Duration = .seconds(5)

    public init() {}
}

/// Per-user buckets, shared by all of a user's sockets.
final class UserEventBuckets: Sendable {
    private let rate: Double
    private let buckets = Mutex<[String: TokenBucket]>([:])

    init(perSecond: Int) {
        rate = Double(perSecond)
    }

    func take(_ userID: String, now: ContinuousClock.Instant = .now) -> Bool {
        buckets.withLock { buckets in
            // Full buckets hold nothing worth keeping: dropping them bounds the map.
            if buckets.count > 10_000 { buckets = buckets.filter { !$0.value.isFull } }
            var bucket = buckets[userID] ?? TokenBucket(rate: rate, burst: rate * 2, now: now)
            let allowed = bucket.take(now: now)
            buckets[userID] = bucket
            return allowed
        }
    }
}

/// A socket's own bucket, kept in its storage.
struct SocketEventBucket: SocketStorageKey {
    typealias Value = Bucket

    final class Bucket: Sendable {
        private let bucket: Mutex<TokenBucket>
        init(perSecond: Int) {
            bucket = Mutex(TokenBucket(rate: Double(perSecond), burst: Double(perSecond) * 2))
        }
        func take() -> Bool { bucket.withLock { $0.take() } }
    }
}
