import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each registered path answers, for the 405 and OPTIONS answers
/// (Hummingbird's router has none). It fills itself from the registrations made through
/// ``RegisteringRoutes``, so a new route cannot be missing from it.
final class RouteTable: Sendable {
    private let routes = Mutex<[(path: RouterPath, methods: [HTTPRequest.Method])]>([])

    /// Notes that `path` answers `method`.
    func add(_ path: RouterPath, _ method: HTTPRequest.Method) {
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.path == path }) {
                if !routes[index].methods.contains(method) { routes[index].methods.append(method) }
            } else {
                routes.append((path, [method]))
            }
        }
    }

    /// The methods of the first registered path that matches `path`, nil when none does.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            routes.first { route in
                route.path.components.count == segments.count
                    && zip(route.path.components, segments).allSatisfy { $0 ~= $1 }
            }?.methods
        }
    }
}

/// The router, seen through the methods Hummingbird's route groups use, noting each
/// registration in a ``RouteTable`` before passing it on.
struct RegisteringRoutes<Context: RequestContext>: RouterMethods {
    let router: Router<Context>
    let table: RouteTable

    @discardableResult
    func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        table.add(path, method)
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}
