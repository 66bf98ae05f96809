import ChatDomain
import EngineIO
import Foundation
import Prometheus
import SocketIO
import Synchronization

/// The Prometheus metrics at `/metrics`: connections by transport, packets in and out,
/// broadcast deliveries, errors by kind, store latency. One registry per server (no
/// global metrics system), so tests and several servers in one process stay apart.
final class ChatifyMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let engine: EngineServer
    private let connections: [EngineTransport: Gauge]
    private let packetsReceived: Counter
    private let packetsSent: Counter
    private let handshakesRefused: Counter
    private let socketsConnected: Gauge
    /// Engine counters are atomics owned by the engine; at each scrape the difference
    /// since the last one is added, so the Prometheus counters only ever grow.
    private let lastEngineCounts = Mutex<(received: Int, sent: Int, refused: Int, closes: [EngineCloseReason: Int])>(
        (0, 0, 0, [:])
    )
    private let io: SocketIOServer
    let storeLatency: DurationHistogram
    private let broadcasts: Counter

    init(io: SocketIOServer) {
        self.io = io
        self.engine = io.engine
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        connections = Dictionary(
            uniqueKeysWithValues: [EngineTransport.polling, .websocket].map { transport in
                (
                    transport,
                    registry.makeGauge(
                        descriptor: Self.named(
                            "connections", help: "Open Engine.IO sessions by the transport they use now"),
                        labels: [("transport", transport.rawValue)]
                    )
                )
            }
        )
        packetsReceived = registry.makeCounter(
            descriptor: Self.named("packets_received", unit: "total", help: "Engine.IO packets read from clients")
        )
        packetsSent = registry.makeCounter(
            descriptor: Self.named(
                "packets_sent", unit: "total",
                help: "Engine.IO packets queued for clients (broadcast deliveries included)"
            )
        )
        handshakesRefused = registry.makeCounter(
            descriptor: Self.named(
                "handshakes_refused", unit: "total",
                help: "Engine.IO sessions refused (shutdown, too many from one address)"
            )
        )
        socketsConnected = registry.makeGauge(
            descriptor: Self.named("sockets", help: "Socket.IO sockets connected to / on this node"))
        broadcasts = registry.makeCounter(
            descriptor: Self.named("broadcasts", unit: "total", help: "Room broadcasts sent from this node")
        )
        storeLatency = registry.makeDurationHistogram(
            descriptor: Self.named("store_operation", unit: "seconds", help: "Time the store takes per operation"),
            buckets: [
                .microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(20), .milliseconds(100),
                .seconds(1), .seconds(5),
            ]
        )
    }

    /// `chatify_<name>_<unit>`, the name Prometheus shows; `unit` is its suffix (`total`,
    /// `seconds`), empty for none.
    private static func named(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "chatify", metricName: name, unitName: unit, helpText: help)
    }

    /// Counts an error of the given kind (`store_unavailable`, `rate_limited`, ...).
    func countError(_ kind: String) {
        registry.makeCounter(
            descriptor: Self.named("errors", unit: "total", help: "Errors by kind"), labels: [("kind", kind)]
        ).increment()
    }

    /// Counts one room broadcast (its deliveries are in `chatify_packets_sent_total`).
    func countBroadcast() { broadcasts.increment() }

    /// The text exposition format, current as of now.
    func scrape() -> [UInt8] {
        for (transport, count) in engine.sessionsByTransport { connections[transport]?.set(to: Double(count)) }
        socketsConnected.set(to: Double(io.sockets.localSocketCount))
        let statistics = engine.statistics
        let now = (
            statistics.packetsReceived, statistics.packetsSent, statistics.sessionsRefused, statistics.sessionsClosed
        )
        let before = lastEngineCounts.withLock { last in
            defer { last = now }
            return last
        }
        packetsReceived.increment(by: Int64(now.0 - before.received))
        packetsSent.increment(by: Int64(now.1 - before.sent))
        handshakesRefused.increment(by: Int64(now.2 - before.refused))
        for (reason, count) in now.3 {
            let added = count - (before.closes[reason] ?? 0)
            guard added > 0 else { continue }
            registry.makeCounter(
                descriptor: Self.named("sessions_closed", unit: "total", help: "Engine.IO sessions ended, by reason"),
                labels: [("reason", reason.rawValue.replacingOccurrences(of: " ", with: "_"))]
            ).increment(by: Int64(added))
        }
        return registry.emitToBuffer()
    }
}
