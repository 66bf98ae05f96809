import Synchronization

/// Counters an application can export (Prometheus, logs): packets each way and why
/// sessions ended. Atomics, so counting costs no lock on the packet paths.
public final class EngineStatistics: Sendable {
    private let received = Atomic<Int>(0)
    private let sent = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let closes = Mutex<[EngineCloseReason: Int]>([:])

    /// Counters at zero.
    public init() {}

    /// Engine.IO packets read from clients, over either transport.
    public var packetsReceived: Int { received.load(ordering: .relaxed) }
    /// Engine.IO packets queued for clients.
    public var packetsSent: Int { sent.load(ordering: .relaxed) }
    /// Handshakes refused: shutting down, or too many sessions from one address.
    public var sessionsRefused: Int { refused.load(ordering: .relaxed) }
    /// Sessions ended, by reason.
    public var sessionsClosed: [EngineCloseReason: Int] { closes.withLock { $0 } }

    func countReceived(_ count: Int) { received.add(count, ordering: .relaxed) }
    func countSent(_ count: Int) { sent.add(count, ordering: .relaxed) }
    func countRefused() { refused.add(1, ordering: .relaxed) }
    func countClosed(_ reason: EngineCloseReason) { closes.withLock { $0[reason, default: 0] += 1 } }
}
