import ChatDomain
import Hummingbird
import Logging

/// Turns failures into pages: a missing form field is a 400 naming it, an unknown path a
/// 404, a known path with the wrong method a 405 with `Allow`, a database outage a 503
/// saying so. Nothing a client sends reaches it as a crash.
struct ErrorPagesMiddleware: RouterMiddleware {
    typealias Context = ChatifyRequestContext
    /// The registered paths and their methods.
    let routes: RouteTable
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // OPTIONS on a known path says what is allowed, as Flask does.
        if request.method == .options, let methods = routes.allowedMethods(for: request.uri.path) {
            return Response(
                status: .ok,
                headers: [.allow: allowHeader(methods), .contentType: "text/html; charset=utf-8"],
                body: ResponseBody()
            )
        }
        do {
            return try await next(request, context)
        } catch let missing as FormBody.MissingField {
            return Pages.badRequest("The form field \u{201c}\(missing.name)\u{201d} is missing.")
        } catch let error as StoreError {
            context.logger.error("store failure", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Pages.plain(
                .serviceUnavailable, "Service Unavailable",
                "The database is unavailable right now. Nothing was lost; please try again in a moment."
            )
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                if let methods = routes.allowedMethods(for: request.uri.path) {
                    return Pages.plain(
                        .methodNotAllowed, "Method Not Allowed", "The method is not allowed for the requested URL.",
                        headers: [.allow: allowHeader(methods)]
                    )
                }
                return Pages.plain(
                    .notFound, "Not Found",
                    "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
                )
            case .contentTooLarge:
                return Pages.plain(
                    .contentTooLarge, "Request Entity Too Large",
                    "The data value transmitted exceeds the capacity limit.")
            default:
                return Pages.plain(error.status, error.status.reasonPhrase, error.body ?? error.status.reasonPhrase)
            }
        }
    }

    /// Flask's form: `GET, HEAD, OPTIONS`, `OPTIONS, POST`.
    func allowHeader(_ methods: [HTTPRequest.Method]) -> String {
        var names = Set(methods.map(\.rawValue))
        names.insert("OPTIONS")
        if names.contains("GET") { names.insert("HEAD") }
        return names.sorted().joined(separator: ", ")
    }
}
