public import EngineIO
import NIOCore
import Synchronization

/// Events recorded as they happen, read in order with a deadline on each wait, so a
/// missing event fails the test instead of hanging it.
public final class EventLog<Event: Sendable>: Sendable {
    private struct State {
        var buffered: [Event] = []
        var waiter: (id: Int, continuation: CheckedContinuation<Event?, Never>)?
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func record(_ event: Event) {
        let waiter = state.withLock { state -> CheckedContinuation<Event?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.buffered.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event, or nil if none comes within `timeout`.
    public func next(timeout: Duration = .seconds(5)) async -> Event? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
            let id = state.withLock { state -> Int? in
                if !state.buffered.isEmpty {
                    continuation.resume(returning: state.buffered.removeFirst())
                    return nil
                }
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return state.nextID
            }
            guard let id else { return }
            Task {
                try? await Task.sleep(for: timeout)
                let expired = state.withLock { state -> CheckedContinuation<Event?, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume(returning: nil)
            }
        }
    }

    /// Events recorded and not read yet.
    public var pending: [Event] { state.withLock { $0.buffered } }
}

/// A WebSocket as the engine sees it: frames pushed by the test, frames written back.
public final class FakeWebSocket: EngineWebSocketWriter {
    public let written = EventLog<WebSocketData>()
    public let closedLog = EventLog<Bool>()
    public let inbound: AsyncStream<WebSocketData>
    private let input: AsyncStream<WebSocketData>.Continuation

    public init(countsArrivals: Bool = false) {
        self.countsArrivals = countsArrivals
        (inbound, input) = AsyncStream<WebSocketData>.makeStream()
    }

    public func write(_ packets: [EngineOutgoing]) async throws {
        for packet in packets {
            switch packet.kind {
            case .text: written.record(.text(String(buffer: packet.bytes)))
            case .binary: written.record(.binary(packet.bytes))
            }
        }
    }

    public func close() async {
        closedLog.record(true)
        input.finish()
    }

    public func send(_ text: String) {
        if countsArrivals { arrived.add(1, ordering: .relaxed) }
        input.yield(.text(text))
    }
    public func send(binary: [UInt8]) {
        if countsArrivals { arrived.add(1, ordering: .relaxed) }
        input.yield(.binary(ByteBuffer(bytes: binary)))
    }

    /// A message the server has read off the network and not handed to the engine yet:
    /// `deliverArrived` hands it over.
    public func arrive(_ text: String) {
        arrived.add(1, ordering: .relaxed)
        lateArrivals.withLock { $0.append(text) }
    }

    public func deliverArrived() {
        let texts = lateArrivals.withLock { texts in
            defer { texts.removeAll() }
            return texts
        }
        for text in texts { input.yield(.text(text)) }
    }

    /// Whether the socket tells the engine how many messages have arrived.
    public let countsArrivals: Bool
    private let arrived = Atomic<Int>(0)
    private let lateArrivals = Mutex<[String]>([])

    public var messagesArrived: Int? { countsArrivals ? arrived.load(ordering: .relaxed) : nil }
    /// The client goes away.
    public func disconnect() { input.finish() }

    public func nextText() async -> String? {
        guard case .text(let text)? = await written.next() else { return nil }
        return text
    }
}
