import HTTPTypes
public import Hummingbird

/// Says `Connection: close` on a response when the request asked for it.
///
/// Hummingbird closes such connections without saying so, and Node's HTTP agent (which
/// keeps sockets alive by default) then reuses the dying socket for the next request
/// and reports "socket hang up".
public struct ConnectionCloseMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The middleware; it has no options.
    public init() {}

    /// Passes the request on and adds `Connection: close` to the response when the request's
    /// `Connection` header contains `close`.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        if let connection = request.headers[.connection], connection.lowercased().contains("close") {
            response.headers[.connection] = "close"
        }
        return response
    }
}
