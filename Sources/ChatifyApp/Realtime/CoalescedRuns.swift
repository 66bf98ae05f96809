import Synchronization

/// Runs a job per key at most once at a time: asked again while it runs, it runs once
/// more afterwards, however often it was asked meanwhile.
final class CoalescedRuns: Sendable {
    private enum Run { case running, rerunWanted }
    private let runs = Mutex<[String: Run]>([:])

    func run(_ key: String, _ job: @escaping @Sendable () async -> Void) {
        let start = runs.withLock { runs -> Bool in
            if runs[key] == nil {
                runs[key] = .running
                return true
            }
            runs[key] = .rerunWanted
            return false
        }
        guard start else { return }
        Task {
            repeat {
                await job()
            } while runs.withLock({ runs -> Bool in
                if runs[key] == .rerunWanted {
                    runs[key] = .running
                    return true
                }
                runs[key] = nil
                return false
            })
        }
    }
}
