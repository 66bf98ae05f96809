import ChatDomain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OrderedJSON

/// The twelve routes of the old backend, with the same methods, form fields,
/// redirects, status codes, JSON bodies and error texts; plus what closing its holes
/// needed: POST for the state changes (the old GET links show a confirmation page),
/// CSRF checks, token revocation and refresh, brute-force limits.
struct PageRoutes: Sendable {
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
    let logger: Logger

    typealias Context = ChatifyRequestContext

    /// Every path with its methods, for 405 answers (Hummingbird's router has none).
    static let table: [(pattern: String, methods: [HTTPRequest.Method])] = [
        ("/", [.get]), ("/register", [.get, .post]), ("/login", [.get, .post]), ("/dashboard", [.get]),
        ("/update_profile", [.post]), ("/my_rooms", [.get]), ("/create_room", [.post]), ("/join_room", [.get, .post]),
        ("/chat/:key", [.get]), ("/leave_room/:key", [.get, .post]), ("/delete_room/:key", [.get, .post]),
        ("/rooms", [.get]), ("/room/:key/settings", [.get]), ("/room/:key/rename", [.post]),
        ("/room/:key/rotate_key", [.post]), ("/room/:key/moderate", [.post]), ("/logout", [.get]), ("/refresh_session", [.post]), ("/healthz", [.get]), ("/readyz", [.get]), ("/metrics", [.get]),
    ]

    func add(to router: Router<Context>) {
        router.get("/") { request, _ in
            try await self.session(request) == nil ? Pages.redirect(to: "/login") : Pages.redirect(to: "/dashboard")
        }

        router.get("/register") { _, _ in self.pages.page("register", FormPage()) }
        router.post("/register") { request, context in
            let origin = RequestOrigin(request, context: context, proxies: self.proxies, servesTLS: self.servesTLS)
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let email = try form.required("email")
            let password = try form.required("password")
            if let refusal = await self.limits.checkRegistration(from: origin.clientAddress) { return refusal }
            do {
                let user = try await self.chat.register(username: username, email: email, password: password)
                context.logger.info("user registered", metadata: ["user": "\(user.id)"])
                return self.signIn(user, origin: origin)
            } catch let refusal as ChatRefusal {
                return self.pages.page("register", FormPage(error: refusal.description), status: refusal.httpStatus)
            }
        }

        router.get("/login") { _, _ in self.pages.page("login", FormPage()) }
        router.post("/login") { request, context in
            let origin = RequestOrigin(request, context: context, proxies: self.proxies, servesTLS: self.servesTLS)
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let password = try form.required("password")
            let attempt = LoginLimits.Attempt(username: username, address: origin.clientAddress)
            if let refusal = await self.limits.begin(attempt) { return refusal }
            let found: User?
            do {
                found = try await self.chat.logIn(username: username, password: password)
            } catch {
                // The store, not the password, failed: the attempt does not count.
                self.limits.withdraw(attempt)
                throw error
            }
            guard let user = found else {
                context.logger.notice("failed login", metadata: ["client": "\(origin.clientAddress)"])
                return self.pages.page("login", FormPage(error: "Invalid username or password"))
            }
            self.limits.succeeded(attempt)
            return self.signIn(user, origin: origin)
        }

        router.get("/dashboard") { request, context in
            try await self.signedIn(request, context) { session, _ in
                self.pages.page("dashboard", DashboardPage(username: session.user.username, email: session.user.email))
            }
        }

        router.post("/update_profile") { request, context in
            try await self.changing(request, context) { session, form in
                let field = try form.required("field")
                let value = try form.required("value")
                do {
                    try await self.chat.updateProfile(userID: session.user.id, field: field, value: value)
                    return ChatRefusal.profileUpdated
                } catch let refusal as ChatRefusal {
                    return refusal.profileAnswer
                }
            }
        }

        router.get("/my_rooms") { request, context in
            try await self.signedIn(request, context) { session, _ in
                let page = Self.pageNumber(request)
                let (rooms, hasMore) = try await self.chat.roomsCreated(by: session.user.id, page: page, perPage: Self.roomsPerPage)
                return self.roomsPage(session, rooms: rooms, paging: Paging(page: page, hasMore: hasMore, path: "/my_rooms"))
            }
        }

        router.post("/create_room") { request, context in
            try await self.changing(request, context) { session, form in
                let name = try form.required("room_name")
                do {
                    _ = try await self.chat.createRoom(named: name, by: session.user.id)
                } catch let refusal as ChatRefusal {
                    let (rooms, hasMore) = try await self.chat.roomsCreated(by: session.user.id, page: 1, perPage: Self.roomsPerPage)
                    return self.roomsPage(
                        session, rooms: rooms, paging: Paging(page: 1, hasMore: hasMore, path: "/my_rooms"),
                        error: refusal.description, status: refusal.httpStatus)
                }
                return Pages.redirect(to: "/my_rooms")
            }
        }

        router.get("/join_room") { request, context in
            try await self.signedIn(request, context) { session, _ in
                self.pages.page("join_room", FormPage(csrfToken: self.csrfToken(session)))
            }
        }
        router.post("/join_room") { request, context in
            try await self.changing(request, context) { session, form in
                let key = try form.required("room_key").trimmingCharacters(in: .whitespaces)
                let joined: Room?
                do {
                    joined = try await self.chat.joinRoom(key: key, userID: session.user.id)
                } catch let refusal as ChatRefusal {
                    return self.pages.page(
                        "join_room", FormPage(error: refusal.description, csrfToken: self.csrfToken(session)),
                        status: refusal.httpStatus)
                }
                guard let room = joined else {
                    return self.pages.page("join_room", FormPage(error: "Invalid room key", csrfToken: self.csrfToken(session)))
                }
                return Pages.redirect(to: "/chat/\(room.key)")
            }
        }

        router.get("/chat/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request, context) { session, _ in
                guard let room = try await self.chat.roomForMember(key: key, userID: session.user.id) else {
                    return Pages.redirect(to: "/join_room")
                }
                return self.pages.page(
                    "chat",
                    ChatPage(
                        roomName: room.name, roomKey: room.key, userID: session.user.id,
                        isOwner: room.isOwner(session.user.id) ? "true" : "false",
                        csrfToken: self.csrfToken(session), sessionLifetime: Int(self.auth.signer.lifetime)
                    )
                )
            }
        }

        // Leaving and deleting change state: POST does it; the old GET links show a
        // confirmation page with the POST form, so bookmarks and old pages keep working.
        router.get("/leave_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request, context) { session, _ in
                self.pages.page("confirm", ConfirmPage.leave(key: key, csrfToken: self.csrfToken(session)))
            }
        }
        router.post("/leave_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.changing(request, context) { session, _ in
                try await self.chat.leaveRoom(key: key, userID: session.user.id)
                return Pages.redirect(to: "/dashboard")
            }
        }

        router.get("/delete_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request, context) { session, _ in
                guard let room = try await self.chat.roomOwned(key: key, by: session.user.id) else {
                    return Pages.redirect(to: "/my_rooms")
                }
                return self.pages.page("confirm", ConfirmPage.delete(room: room, csrfToken: self.csrfToken(session)))
            }
        }
        router.post("/delete_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.changing(request, context) { session, _ in
                try await self.chat.deleteRoom(key: key, userID: session.user.id)
                return Pages.redirect(to: "/my_rooms")
            }
        }

        // Logging out is a GET, as in the Flask backend (a forged logout harms no one); every token of
        // the sign-in is revoked and their sockets are closed. A token a refresh already
        // replaced (an old tab) still ends its sign-in.
        router.get("/logout") { request, context in
            let origin = RequestOrigin(request, context: context, proxies: self.proxies, servesTLS: self.servesTLS)
            if let claims = self.auth.signedClaims(headers: request.headers, cookies: parseCookies(request.headers)) {
                try await self.auth.endSession(claims)
                if !claims.sessionID.isEmpty { await self.endSockets(claims.sessionID) }
            }
            return Pages.redirect(to: "/login", setCookies: self.auth.logoutCookies(secure: origin.secure))
        }

        // The chat page calls this before its token expires: a fresh cookie, and a
        // ticket its socket presents (`renew_session`) to last as long.
        router.post("/refresh_session") { request, context in
            try await self.changing(request, context, readsForm: false) { session, _ in
                if let refused = await self.limits.checkRefresh(of: session.claims) { return refused }
                let origin = RequestOrigin(request, context: context, proxies: self.proxies, servesTLS: self.servesTLS)
                let (cookies, claims) = try await self.auth.refresh(session, secure: origin.secure)
                let ticket = self.auth.signer.issueRenewalTicket(subject: session.user.id, until: claims.expires)
                let body: JSONValue = ["expires": .integer(claims.expires), "ticket": .string(ticket)]
                var response = Pages.json(body.jsonString)
                for cookie in cookies { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
                return response
            }
        }

        addRoomSettings(to: router)

        router.get("/healthz") { _, _ in Pages.text("ok") }
        router.get("/readyz") { _, _ in
            do {
                try await self.chat.checkStore()
                return Pages.text("ready")
            } catch {
                return Pages.text("store unavailable: \(error)", status: .serviceUnavailable)
            }
        }
    }

    private func signIn(_ user: User, origin: RequestOrigin) -> Response {
        Pages.redirect(to: "/dashboard", setCookies: auth.loginCookies(for: user, secure: origin.secure).cookies)
    }

    private func roomsPage(
        _ session: Authenticator.Session, rooms: [Room], paging: Paging, error: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        pages.page("my_rooms", RoomsPage(rooms: rooms, paging: paging, error: error, csrfToken: csrfToken(session)), status: status)
    }

    func csrfToken(_ session: Authenticator.Session) -> String { session.claims.csrf ?? "" }

    private func session(_ request: Request) async throws -> Authenticator.Session? {
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
        let origin = RequestOrigin(request, context: context, proxies: proxies, servesTLS: servesTLS)
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
                context.logger.notice("refused a state change without a valid CSRF token", metadata: ["path": "\(request.uri.path)"])
                return Pages.plain(.forbidden, "Forbidden", "The request is missing its CSRF token. Reload the page and try again.")
            }
            return try await body(session, form)
        }
    }
}

/// Brute-force limits on logging in and registering, per username and per client
/// address: slower answers first, then 429 until the window has passed.
struct LoginLimits: Sendable {
    let perUsername: AttemptLimiter
    let perAddress: AttemptLimiter
    let registrations: AttemptLimiter
    /// Refreshes per sign-in: each leaves a revocation record until the replaced token
    /// would have expired, so one signed-in client must not mint them in a loop.
    let refreshes = AttemptLimiter(.init(window: 900, slowAfter: 12, refuseAfter: 12))

    init(_ configuration: ChatifyConfiguration) {
        perUsername = AttemptLimiter(.init(window: 900, slowAfter: configuration.loginSlowAfter, refuseAfter: configuration.loginRefuseAfter))
        perAddress = AttemptLimiter(.init(window: 900, slowAfter: configuration.loginSlowAfter * 4, refuseAfter: configuration.loginRefuseAfter * 5))
        registrations = AttemptLimiter(.init(window: 3600, slowAfter: configuration.registrationsPerHour, refuseAfter: configuration.registrationsPerHour))
    }

    /// One login attempt: what it is counted under, and when.
    struct Attempt: Sendable {
        let username: String
        let address: String
        var time = Date()
    }

    /// Counts the attempt before its password is checked, so parallel attempts cannot
    /// all pass; nil when it may go ahead (after the slow-down, if any), else the 429.
    func begin(_ attempt: Attempt) async -> Response? {
        let byUsername = perUsername.reserve(attempt.username, now: attempt.time)
        if case .refuse = byUsername { return await apply(byUsername, what: "login attempts") }
        let byAddress = perAddress.reserve(attempt.address, now: attempt.time)
        if case .refuse = byAddress {
            perUsername.release(attempt.username, reservedAt: attempt.time)
            return await apply(byAddress, what: "login attempts")
        }
        return await apply(worst(byUsername, byAddress), what: "login attempts")
    }

    /// The password was right: the username's failures are forgotten and the address
    /// gets its attempt back.
    func succeeded(_ attempt: Attempt) {
        perUsername.reset(attempt.username)
        perAddress.release(attempt.address, reservedAt: attempt.time)
    }

    /// The attempt never reached a verdict (the store failed): it does not count.
    func withdraw(_ attempt: Attempt) {
        perUsername.release(attempt.username, reservedAt: attempt.time)
        perAddress.release(attempt.address, reservedAt: attempt.time)
    }

    /// Every refresh of a sign-in counts; nil when it may go ahead, else the 429.
    func checkRefresh(of claims: AccessClaims) async -> Response? {
        let signIn = claims.sessionID.isEmpty ? claims.tokenID : claims.sessionID
        return await apply(refreshes.reserve(signIn), what: "session refreshes")
    }

    /// Every registration counts, successful or not: creating accounts in bulk is the abuse.
    func checkRegistration(from address: String) async -> Response? {
        await apply(registrations.reserve(address), what: "registrations")
    }

    private func worst(_ a: AttemptLimiter.Verdict, _ b: AttemptLimiter.Verdict) -> AttemptLimiter.Verdict {
        switch (a, b) {
        case (.refuse, _): return a
        case (_, .refuse): return b
        case (.delay(let x), .delay(let y)): return .delay(max(x, y))
        case (.delay, _): return a
        default: return b
        }
    }

    private func apply(_ verdict: AttemptLimiter.Verdict, what: String) async -> Response? {
        switch verdict {
        case .allow:
            return nil
        case .delay(let duration):
            try? await Task.sleep(for: duration)
            return nil
        case .refuse(let retryAfter):
            return Pages.plain(
                .tooManyRequests, "Too Many Requests",
                "Too many \(what). Try again in \(retryAfter / 60 + 1) minute(s).",
                headers: [.retryAfter: String(retryAfter)]
            )
        }
    }
}
