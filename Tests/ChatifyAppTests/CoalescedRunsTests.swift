import Synchronization
import Testing

@testable import ChatifyApp

@Suite("Coalesced presence runs")
struct CoalescedRunsTests {
    @Test("asks during a run make exactly one more run; other keys run alongside; idle keys start afresh")
    func coalescing() async {
        let runs = CoalescedRuns()
        let started = AsyncStream<String>.makeStream()
        let gate = Gate()
        let count = Mutex<[String: Int]>([:])
        let job: @Sendable (String) -> @Sendable () async -> Void = { key in
            {
                count.withLock { $0[key, default: 0] += 1 }
                started.continuation.yield(key)
                await gate.wait()
            }
        }
        var starts = started.stream.makeAsyncIterator()
        runs.run("a", job("a"))
        #expect(await starts.next() == "a")
        for _ in 0..<5 { runs.run("a", job("a")) }
        runs.run("b", job("b"))
        #expect(await starts.next() == "b")
        gate.open(2)  // the first runs of a and b end
        #expect(await starts.next() == "a")  // the one rerun for the five asks
        gate.open(1)
        runs.run("a", job("a"))  // a may still be finishing its rerun: then this is one more rerun
        #expect(await starts.next() == "a")
        gate.open(1)
        #expect(count.withLock { $0 } == ["a": 3, "b": 1])
    }
}

/// Lets waiting jobs through one by one.
final class Gate: Sendable {
    private let state = Mutex<(permits: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let go = state.withLock { state -> Bool in
                if state.permits > 0 {
                    state.permits -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
    }

    func open(_ permits: Int) {
        let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.permits += permits
            let count = min(state.permits, state.waiters.count)
            state.permits -= count
            let released = Array(state.waiters.prefix(count))
            state.waiters.removeFirst(count)
            return released
        }
        for continuation in released { continuation.resume() }
    }
}
