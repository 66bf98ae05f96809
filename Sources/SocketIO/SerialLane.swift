import NIOCore
import Synchronization

/// Runs async jobs one after another, in the order they were added.
///
/// Each socket has one, so its events reach handlers in the order the client sent them
/// while other sockets run in parallel. An idle lane holds no task, and no queue: most
/// sockets are idle most of the time, so the queue is made when work comes and let go
/// when it is done.
final class SerialLane: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs: CircularBuffer<Job>?
        var running = false
    }

    private let state = Mutex(State())

    func enqueue(_ job: @escaping Job) {
        let start = state.withLock { state -> Bool in
            if state.jobs == nil { state.jobs = CircularBuffer(initialCapacity: 4) }
            state.jobs?.append(job)
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
            guard let job = state.jobs?.popFirst() else {
                state.jobs = nil
                state.running = false
                return nil
            }
            return job
        }
    }
}
