import Logging
import OrderedJSON
import Synchronization

/// Cluster requests waiting for their responses: each collects one response per other
/// node, or what came before its timeout, so a node that stops answering delays a query
/// but never hangs it.
final class PendingRequests: Sendable {
    private final class Request: Sendable {
        let expected: Int
        private let state: Mutex<(responses: [JSONValue], continuation: CheckedContinuation<[JSONValue], Never>?)>

        init(expected: Int, continuation: CheckedContinuation<[JSONValue], Never>) {
            self.expected = expected
            self.state = Mutex(([], continuation))
        }

        /// Adds a response; true when all expected have come.
        func add(_ response: JSONValue) -> Bool {
            state.withLock { state in
                state.responses.append(response)
                return state.responses.count >= expected
            }
        }

        /// Hands the responses over and keeps none: the timeout task still holds the
        /// request until it fires.
        func finish() {
            let (responses, continuation) = state.withLock { state in
                let continuation = state.continuation
                state.continuation = nil
                defer { state.responses = [] }
                return (state.responses, continuation)
            }
            continuation?.resume(returning: responses)
        }
    }

    private let requests = Mutex<[String: Request]>([:])

    /// Registers request `id`, runs `send` (which publishes it), and returns the responses
    /// once `expected` have come or `timeout` has passed.
    func collect(
        _ id: String, expected: Int, timeout: Duration, logger: Logger, label: String, send: () -> Void
    ) async -> [JSONValue] {
        await withCheckedContinuation { (continuation: CheckedContinuation<[JSONValue], Never>) in
            let request = Request(expected: expected, continuation: continuation)
            requests.withLock { $0[id] = request }
            send()
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                guard let self, self.requests.withLock({ $0.removeValue(forKey: id) }) != nil else { return }
                logger.warning("redis: \(label) request timed out; answering with the nodes that replied")
                request.finish()
            }
        }
    }

    /// Counts a response to request `id`; unknown (or timed out) requests are ignored.
    func add(_ response: JSONValue, to id: String) {
        guard let request = requests.withLock({ $0[id] }), request.add(response) else { return }
        requests.withLock { _ = $0.removeValue(forKey: id) }
        request.finish()
    }
}
