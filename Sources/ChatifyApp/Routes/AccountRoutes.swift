import ChatDomain
import HTTPTypes
import Hummingbird
import OrderedJSON

/// Accounts and sign-ins: `/`, `/register`, `/login`, `/logout`, `/refresh_session`.
/// Registering and logging in are open (and rate-limited); refreshing is a signed-in,
/// CSRF-checked change.
struct AccountRoutes {
    let site: SiteRoutes

    func addRoutes(to routes: some RouterMethods<SiteRoutes.Context>) {
        routes.get("/") { request, _ in
            try await site.session(request) == nil ? Pages.redirect(to: "/login") : Pages.redirect(to: "/dashboard")
        }

        routes.get("/register") { _, _ in site.pages.page("register", FormPage()) }
        routes.post("/register") { request, context in
            let origin = site.origin(request, context)
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let email = try form.required("email")
            let password = try form.required("password")
            if let refusal = await site.limits.checkRegistration(from: origin.clientAddress) { return refusal }
            do {
                let user = try await site.chat.register(username: username, email: email, password: password)
                context.logger.info("user registered", metadata: ["user": "\(user.id)"])
                return signIn(user, origin: origin)
            } catch let refusal as ChatRefusal {
                return site.pages.page("register", FormPage(error: refusal.description), status: refusal.httpStatus)
            }
        }

        routes.get("/login") { _, _ in site.pages.page("login", FormPage()) }
        routes.post("/login") { request, context in
            let origin = site.origin(request, context)
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let password = try form.required("password")
            let attempt = LoginLimits.Attempt(username: username, address: origin.clientAddress)
            if let refusal = await site.limits.begin(attempt) { return refusal }
            let found: User?
            do {
                found = try await site.chat.logIn(username: username, password: password)
            } catch {
                // The store, not the password, failed: the attempt does not count.
                site.limits.withdraw(attempt)
                throw error
            }
            guard let user = found else {
                context.logger.notice("failed login", metadata: ["client": "\(origin.clientAddress)"])
                return site.pages.page("login", FormPage(error: "Invalid username or password"))
            }
            site.limits.succeeded(attempt)
            return signIn(user, origin: origin)
        }

        // Logging out is a GET, as in the Flask backend (a forged logout harms no one); every token of
        // the sign-in is revoked and their sockets are closed. A token a refresh already
        // replaced (an old tab) still ends its sign-in.
        routes.get("/logout") { request, context in
            let origin = site.origin(request, context)
            if let claims = site.auth.signedClaims(headers: request.headers, cookies: parseCookies(request.headers)) {
                try await site.auth.endSession(claims)
                if !claims.sessionID.isEmpty { await site.endSockets(claims.sessionID) }
            }
            return Pages.redirect(to: "/login", setCookies: site.auth.logoutCookies(secure: origin.secure))
        }

        // The chat page calls this before its token expires: a fresh cookie, and a
        // ticket its socket presents (`renew_session`) to last as long.
        routes.post("/refresh_session") { request, context in
            try await site.changing(request, context, readsForm: false) { session, _ in
                if let refused = await site.limits.checkRefresh(of: session.claims) { return refused }
                let origin = site.origin(request, context)
                let (cookies, claims) = try await site.auth.refresh(session, secure: origin.secure)
                let ticket = site.auth.signer.issueRenewalTicket(subject: session.user.id, until: claims.expires)
                let body: JSONValue = ["expires": .integer(claims.expires), "ticket": .string(ticket)]
                var response = Pages.json(body.jsonString)
                for cookie in cookies { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
                return response
            }
        }
    }

    private func signIn(_ user: User, origin: RequestOrigin) -> Response {
        Pages.redirect(to: "/dashboard", setCookies: site.auth.loginCookies(for: user, secure: origin.secure).cookies)
    }
}
