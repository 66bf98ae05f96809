import Benchmark
import EngineIO
import HTTPTypes
import MicroFixtures
import OrderedJSON
import SocketIO
import Synchronization

// One chat message to a room of 1,000 sockets through the in-memory adapter, as
// `namespace.to(room).emit("message", ...)` in the gateway. The sockets are real
// Engine.IO WebSocket sessions served by `EngineServer.serveWebSocket`, whose writer
// offers the direct sink a framework's WebSocket gives (the path SocketIOHummingbird
// takes), except that the sink only counts: no network, no event loop hop.
//
// scalingFactor .kilo with one broadcast per measured iteration: the scaled results
// are per recipient (1/1,000 of a broadcast).
let recipients = 1_000
let room = "lobby"

let benchmarks: @Sendable () -> Void = {
    roomJoinAndLeave()
    let fixture = FixtureSlot<RoomOfSockets>()

    Benchmark(
        "Broadcast to a room of 1,000 (per recipient)",
        configuration: .init(
            metrics: [.wallClock, .instructions, .mallocCountTotal, .mallocBytesCount, .throughput]
                + [DeliveryMetrics.directOffers, DeliveryMetrics.writerWrites],
            scalingFactor: .kilo,
            maxDuration: .seconds(3),
            maxIterations: 300
        )
    ) { benchmark in
        guard let sockets = fixture.value else { return }
        let before = sockets.counter.snapshot
        sockets.io.sockets.to(room).emit("message", ChatPayloads.message)
        let after = sockets.counter.snapshot
        // Every recipient should take the synchronous path; writes mean a woken writer task.
        benchmark.measurement(DeliveryMetrics.directOffers, after.offers - before.offers)
        benchmark.measurement(DeliveryMetrics.writerWrites, after.writes - before.writes)
    } setup: {
        fixture.value = await RoomOfSockets.open(count: recipients, room: room)
    } teardown: {
        await fixture.take()?.close()
    }
}

// 1,000 sockets join a room and then leave it one by one, through the in-memory
// adapter: what a room costs as its members come and go (per socket, join + leave).
let roomJoinAndLeave: @Sendable () -> Void = {
    let adapter = SocketIOServer(engine: EngineServer(configuration: EngineConfiguration())).sockets.adapter
    let ids = (0..<recipients).map { "socket-\($0)-of-the-room" }
    Benchmark(
        "Join and leave a room of 1,000 (per socket)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .mallocBytesCount], scalingFactor: .kilo,
            maxDuration: .seconds(3), maxIterations: 300)
    ) { _ in
        for id in ids { adapter.addAll(id, rooms: [room]) }
        for id in ids { adapter.deleteAll(id) }
    }
}

enum DeliveryMetrics {
    /// Packets handed to the sink while the broadcast ran (expected: 1 per recipient).
    static let directOffers = BenchmarkMetric.custom("direct offers", useScalingFactor: true)
    /// Packets that went through the writer task instead (expected: 0).
    static let writerWrites = BenchmarkMetric.custom("writer writes", useScalingFactor: true)
}

/// Holds what a benchmark's setup builds for its closure and teardown.
final class FixtureSlot<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)

    var value: Value? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }

    func take() -> Value? { slot.withLock { $0.take() } }
}

/// Packets that reached the clients, by the path they took.
final class DeliveryCounter: Sendable {
    private let offers = Atomic<Int>(0)
    private let writes = Atomic<Int>(0)

    func offered(_ count: Int) { offers.add(count, ordering: .relaxed) }
    func written(_ count: Int) { writes.add(count, ordering: .relaxed) }

    var snapshot: (offers: Int, writes: Int) {
        (offers.load(ordering: .relaxed), writes.load(ordering: .relaxed))
    }
}

/// A WebSocket's non-waiting path, counting instead of writing.
struct CountingSink: EngineFrameSink {
    let counter: DeliveryCounter

    func offer(_ packets: [EngineOutgoing], limit: Int) -> Bool {
        counter.offered(packets.count)
        return true
    }
}

/// A WebSocket writer with nothing behind it: what `write` gets is counted and dropped.
struct CountingWriter: EngineWebSocketWriter {
    let counter: DeliveryCounter

    func write(_ packets: [EngineOutgoing]) async throws { counter.written(packets.count) }
    func close() async {}
    var directSink: (any EngineFrameSink)? { CountingSink(counter: counter) }
}

/// A Socket.IO server with `count` WebSocket clients connected to `/`, all in one room.
final class RoomOfSockets: Sendable {
    let io: SocketIOServer
    let counter: DeliveryCounter
    private let clientInputs: [AsyncStream<WebSocketData>.Continuation]
    private let serving: [Task<Void, Never>]

    private init(
        io: SocketIOServer, counter: DeliveryCounter, clientInputs: [AsyncStream<WebSocketData>.Continuation],
        serving: [Task<Void, Never>]
    ) {
        self.io = io
        self.counter = counter
        self.clientInputs = clientInputs
        self.serving = serving
    }

    static func open(count: Int, room: String) async -> RoomOfSockets {
        var engineConfiguration = EngineConfiguration()
        // No heartbeat while measuring: a ping would be one more packet per socket.
        engineConfiguration.pingInterval = .seconds(3600)
        let io = SocketIOServer(engine: EngineServer(configuration: engineConfiguration))
        let (joined, joinedInput) = AsyncStream<Void>.makeStream()
        io.sockets.onConnection { socket in
            socket.join(room)
            joinedInput.yield()
        }
        let counter = DeliveryCounter()
        var clientInputs: [AsyncStream<WebSocketData>.Continuation] = []
        var serving: [Task<Void, Never>] = []
        for _ in 0..<count {
            let request = EngineRequest(
                method: .get, path: "/socket.io/", query: ["EIO": "4", "transport": "websocket"], headers: HTTPFields(),
                host: "127.0.0.1:5000")
            let (inbound, input) = AsyncStream<WebSocketData>.makeStream()
            let admission = io.engine.admitWebSocket(request)
            let writer = CountingWriter(counter: counter)
            serving.append(Task { await io.engine.serveWebSocket(admission, inbound: inbound, writer: writer) })
            input.yield(.text("40"))  // CONNECT to `/`
            clientInputs.append(input)
        }
        var connected = 0
        for await _ in joined {
            connected += 1
            if connected == count { break }
        }
        return RoomOfSockets(io: io, counter: counter, clientInputs: clientInputs, serving: serving)
    }

    /// Every client goes away; returns once the server has let go of all of them.
    func close() async {
        for input in clientInputs { input.finish() }
        for task in serving { await task.value }
    }
}
