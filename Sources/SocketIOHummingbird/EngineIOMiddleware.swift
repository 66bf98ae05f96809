import EngineIO
import HTTPTypes
public import Hummingbird
public import HummingbirdCore
import NIOCore

/// Answers Engine.IO long-polling requests (and CORS preflights) on its endpoints'
/// paths and passes everything else on. Add it to the router before any route.
public struct EngineIOMiddleware<Context: RequestContext>: RouterMiddleware {
    let endpoints: [EngineIOEndpoint]

    /// Serves long-polling for `endpoints`; the first whose path matches a request answers it.
    public init(_ endpoints: [EngineIOEndpoint]) {
        self.endpoints = endpoints
    }

    /// Answers a request on an endpoint's path through `EngineServer.handlePolling(_:body:)`,
    /// reading a POST body up to `EngineConfiguration.maxPayload`
    /// (a longer one ends the session with 413); any other request goes to `next`.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let endpoint = endpoints.first(where: { $0.matches(request.uri.path) }) else {
            return try await next(request, context)
        }
        let engineRequest = EngineRequest(
            method: request.method,
            uri: request.uri,
            headers: request.headers,
            authority: request.head.authority,
            remoteAddress: (context as? any RemoteAddressRequestContext)?.remoteAddress,
            isSecure: endpoint.isSecure
        )
        var body: PollingBody?
        if request.method == .post {
            body = try await readBody(request, limit: endpoint.engine.configuration.maxPayload)
        }
        let response = await endpoint.engine.handlePolling(engineRequest, body: body)
        return Response(
            status: response.status, headers: response.headers, body: ResponseBody(byteBuffer: response.body))
    }

    private func readBody(_ request: Request, limit: Int) async throws -> PollingBody {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            return .tooLarge
        }
        do {
            return .bytes(try await request.body.collect(upTo: limit))
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return .tooLarge
        }
    }
}
