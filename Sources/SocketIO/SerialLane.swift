import NIOCore
import Synchronization

/// Runs async jobs one after another, in the order they were added.
///
/// Each socket has one, so its events reach handlers in the order the client sent them
/// while other sockets run in parallel. An idle lane holds no task.
final class SerialLane: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs = CircularBuffer<Job>()
        var running = false
    }

    private let state = Mutex(State())

    func enqueue(_ job: @escaping Job) {
        let start = state.withLock { state -> Bool in
            state.jobs.append(job)
            if state.running { return false }
            state.running = true
            return true
        }
        if start {
            Task { await self.drain() }
        }
    }

    private func drain() async {
        while let job = next() {
            await job()
        }
    }

    private func next() -> Job? {
        state.withLock { state in
            if state.jobs.isEmpty {
                state.running = false
                return nil
            }
            return state.jobs.removeFirst()
        }
    }
}
