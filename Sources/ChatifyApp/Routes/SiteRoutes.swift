import ChatDomain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The twelve routes of the old backend, with the same methods, form fields,
/// redirects, status codes, JSON bodies and error texts; plus what closing its holes
/// needed: POST for the state changes (the old GET links show a confirmation page),
/// CSRF checks, token revocation and refresh, brute-force limits.
///
/// The routes come in groups, one per resource (``AccountRoutes``, ``ProfileRoutes``,
/// ``RoomRoutes``, ``RoomSettingsRoutes``, ``HealthRoutes``). Each route says how it is
/// protected where it is registered: open, ``signedIn(_:_:_:)``, or
/// ``changing(_:_:readsForm:_:)`` (signed in and CSRF-checked).
struct SiteRoutes: Sendable {
    let chat: ChatService
    let auth: Authenticator
    let pages: PageRenderer
    let limits: LoginLimits
    /// Whose `X-Forwarded-*` headers are believed.
    let proxies: TrustedProxies
    /// Served over TLS directly (`TLS_CERT_FILE`): every request counts as HTTPS.
    let servesTLS: Bool
    /// Ends the Socket.IO sessions opened with the tokens of a sign-in (logout).
    let endSockets: @Sendable (_ sessionID: String) async -> Void
    /// Tells connected sockets about the owner's changes (room settings).
    let roomBroadcasts: RoomBroadcasts
    let metrics: ChatifyMetrics
    let logger: Logger

    typealias Context = ChatifyRequestContext

    func addRoutes(to routes: some RouterMethods<Context>) {
        AccountRoutes(site: self).addRoutes(to: routes)
        ProfileRoutes(site: self).addRoutes(to: routes)
        RoomRoutes(site: self).addRoutes(to: routes)
        RoomSettingsRoutes(site: self).addRoutes(to: routes)
        HealthRoutes(site: self).addRoutes(to: routes)
    }

    static let roomsPerPage = 20

    /// `?page=N` (from 1; anything else is page 1).
    static func pageNumber(_ request: Request) -> Int {
        request.uri.queryParameters.get("page").flatMap { Int($0) }.map { max($0, 1) } ?? 1
    }

    func origin(_ request: Request, _ context: Context) -> RequestOrigin {
        RequestOrigin(request, context: context, proxies: proxies, servesTLS: servesTLS)
    }

    func csrfToken(_ session: Authenticator.Session) -> String { session.claims.csrf ?? "" }

    func session(_ request: Request) async throws -> Authenticator.Session? {
        try await auth.session(headers: request.headers, cookies: parseCookies(request.headers))
    }

    /// Runs `body` for the signed-in user; anyone else goes to /login, as in Flask. A
    /// valid token whose user no longer exists, or that was revoked, counts as signed
    /// out. A token past half its life is replaced by a fresh one on the way.
    func signedIn(
        _ request: Request,
        _ context: Context,
        _ body: (Authenticator.Session, RequestOrigin) async throws -> Response
    ) async throws -> Response {
        guard let session = try await session(request) else { return Pages.redirect(to: "/login") }
        let origin = self.origin(request, context)
        var response = try await body(session, origin)
        if auth.shouldRefresh(session.claims), response.headers[.setCookie] == nil {
            for cookie in try await auth.refresh(session, secure: origin.secure).cookies {
                response.headers.append(HTTPField(name: .setCookie, value: cookie))
            }
        }
        return response
    }

    /// A signed-in state change: the form is read, and the CSRF token checked when the
    /// double-submit scheme is on.
    func changing(
        _ request: Request,
        _ context: Context,
        readsForm: Bool = true,
        _ body: @escaping (Authenticator.Session, FormBody) async throws -> Response
    ) async throws -> Response {
        try await signedIn(request, context) { session, _ in
            let form = readsForm ? try await FormBody.read(request) : FormBody(decoding: "")
            guard auth.csrfPasses(session, headers: request.headers, form: form) else {
                context.logger.notice(
                    "refused a state change without a valid CSRF token", metadata: ["path": "\(request.uri.path)"])
                return Pages.plain(
                    .forbidden, "Forbidden", "The request is missing its CSRF token. Reload the page and try again.")
            }
            return try await body(session, form)
        }
    }
}
