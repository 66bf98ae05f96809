import ChatDomain
import Foundation
public import HTTPTypes

/// Finds the signed-in user of a request or a Socket.IO handshake from the access token
/// cookie (or the `Authorization: Bearer` header when `JWT_TOKEN_LOCATION` allows it),
/// and writes the cookies that sign users in and out.
struct Authenticator: Sendable {
    let signer: AccessTokenSigner
    /// Users and token revocations are looked up through the chat rules.
    let chat: ChatService
    let cookieName: String
    let cookiePath: String
    let locations: Set<String>
    /// Flask-JWT-Extended's double-submit CSRF scheme (`JWT_COOKIE_CSRF_PROTECT`).
    let csrfProtect: Bool

    static let csrfCookieName = "csrf_access_token"
    static let csrfHeader = HTTPField.Name("X-CSRF-TOKEN")!
    static let csrfFormField = "csrf_token"

    struct Session: Sendable {
        let user: User
        let claims: AccessClaims
    }

    /// The user and token claims, or nil when there is no valid token, it or its sign-in
    /// was revoked (a refresh, a logout), or its user is gone.
    func session(headers: HTTPFields, cookies: [String: String]) async throws(StoreError) -> Session? {
        guard let claims = signedClaims(headers: headers, cookies: cookies) else { return nil }
        if try await isEnded(claims) { return nil }
        guard let user = try await chat.user(id: claims.subject) else { return nil }
        return Session(user: user, claims: claims)
    }

    /// Whether the token, or the sign-in it belongs to, was revoked.
    func isEnded(_ claims: AccessClaims) async throws(StoreError) -> Bool {
        try await chat.isTokenRevoked(anyOf: [claims.tokenID, Self.revocationID(ofSession: claims.sessionID)])
    }

    /// Whether the sign-in was ended by a logout (a refresh revokes only its old token).
    func isSignInEnded(sessionID: String) async throws(StoreError) -> Bool {
        try await chat.isTokenRevoked(anyOf: [Self.revocationID(ofSession: sessionID)])
    }

    /// The claims of a well-signed, unexpired token, revoked or not.
    func signedClaims(headers: HTTPFields, cookies: [String: String]) -> AccessClaims? {
        token(headers: headers, cookies: cookies).flatMap { try? signer.verify($0) }
    }

    func token(headers: HTTPFields, cookies: [String: String]) -> String? {
        tokenAndSource(headers: headers, cookies: cookies)?.token
    }

    /// Whether a token would be read from the cookie, which a browser adds by itself, or
    /// from the `Authorization` header, which a page's script must set.
    enum TokenSource: Sendable {
        case cookie
        case authorizationHeader
    }

    func tokenAndSource(headers: HTTPFields, cookies: [String: String]) -> (token: String, source: TokenSource)? {
        if locations.contains("cookies"), let token = cookies[cookieName], !token.isEmpty { return (token, .cookie) }
        if locations.contains("headers"), let authorization = headers[.authorization],
            authorization.hasPrefix("Bearer ")
        {
            return (String(authorization.dropFirst("Bearer ".count)), .authorizationHeader)
        }
        return nil
    }

    /// The cookies of a new session: `access_token_cookie=<JWT>; HttpOnly; Path=/;
    /// SameSite=Lax` (a session cookie, as before, now with SameSite and, over HTTPS,
    /// Secure), and the readable `csrf_access_token` when CSRF protection is on.
    /// `continuing` is the sign-in a refresh carries on.
    func loginCookies(
        for user: User, secure: Bool, continuing session: String? = nil
    ) -> (cookies: [String], claims: AccessClaims) {
        let csrf = csrfProtect ? UUID().uuidString.lowercased() : nil
        let (token, claims) = signer.issue(subject: user.id, csrf: csrf, session: session)
        let suffix = "; Path=\(cookiePath); SameSite=Lax" + (secure ? "; Secure" : "")
        var cookies = ["\(cookieName)=\(token); HttpOnly" + suffix]
        if let csrf { cookies.append("\(Self.csrfCookieName)=\(csrf)" + suffix) }
        return (cookies, claims)
    }

    func logoutCookies(secure: Bool) -> [String] {
        let suffix = "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\(cookiePath)" + (secure ? "; Secure" : "")
        var cookies = ["\(cookieName)=" + suffix]
        if csrfProtect { cookies.append("\(Self.csrfCookieName)=" + suffix) }
        return cookies
    }

    /// The double-submit check: the header or form field must equal the token's `csrf`
    /// claim. Always passes when CSRF protection is off.
    func csrfPasses(_ session: Session, headers: HTTPFields, form: FormBody?) -> Bool {
        guard csrfProtect else { return true }
        guard let expected = session.claims.csrf, !expected.isEmpty else { return false }
        let offered = headers[Self.csrfHeader] ?? form?[Self.csrfFormField]
        return offered.map { constantTimeEqual(Array($0.utf8), Array(expected.utf8)) } ?? false
    }

    /// A fresh token for the same sign-in; the one it replaces is refused from now on, so
    /// a copy of the old cookie does not live on beside it.
    func refresh(
        _ session: Session, secure: Bool
    ) async throws(StoreError) -> (cookies: [String], claims: AccessClaims) {
        let renewed = loginCookies(for: session.user, secure: secure, continuing: session.claims.sessionID)
        try await revoke(session.claims)
        return renewed
    }

    /// The token is refused from now until it would have expired.
    func revoke(_ claims: AccessClaims) async throws(StoreError) {
        guard !claims.tokenID.isEmpty else { return }
        try await chat.revokeToken(
            id: claims.tokenID, expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.expires)))
    }

    /// Logs out for good: every token of the sign-in, those refreshes issued included,
    /// is refused until the last of them would have expired.
    func endSession(_ claims: AccessClaims, now: Date = Date()) async throws(StoreError) {
        try await revoke(claims)
        guard !claims.sessionID.isEmpty else { return }
        // No token issued up to now outlives now + lifetime, and none can be issued after.
        let lastExpiry = max(
            Date(timeIntervalSince1970: TimeInterval(claims.expires)), now.addingTimeInterval(signer.lifetime)
        )
        try await chat.revokeToken(id: Self.revocationID(ofSession: claims.sessionID), expiresAt: lastExpiry)
    }

    /// Sign-ins are revoked in the same list as tokens, under ids no `jti` has.
    static func revocationID(ofSession sessionID: String) -> String { "session:\(sessionID)" }

    /// True when less than half the token's life is left: time to issue a fresh one.
    func shouldRefresh(_ claims: AccessClaims, now: Date = Date()) -> Bool {
        let remaining = claims.expires - Int64(now.timeIntervalSince1970)
        return remaining < Int64(signer.lifetime / 2)
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// `text` without leading and trailing white space in the sense of Foundation's
/// `CharacterSet.whitespaces` (tab, the space separators, and U+200B), scalar by scalar
/// as `trimmingCharacters(in:)` did, without its per-call bridging cost.
func trimmingWhitespace(_ text: Substring) -> String {
    func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\u{200B}"
            || (scalar.value >= 0x80 && scalar.properties.generalCategory == .spaceSeparator)
    }
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) })
    else {
        return ""
    }
    // A new String, so its characters are segmented afresh (the cut may split a cluster).
    return String(String.UnicodeScalarView(scalars[first...last]))
}

/// Cookies of a request header, by name (first one wins). Cut by Unicode scalars, not
/// Characters: a prepended or combining mark next to a `;`, `=` or quote would otherwise
/// form one Character with it and hide the separator (found by FormCookieFuzz).
public func parseCookies(_ headers: HTTPFields) -> [String: String] {
    var cookies: [String: String] = [:]
    for header in headers[values: .cookie] {
        for pair in header.unicodeScalars.split(separator: ";") {
            let trimmed = trimmingWhitespace(Substring(pair)).unicodeScalars
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = String(String.UnicodeScalarView(trimmed[..<equals]))
            var value = trimmed[trimmed.index(after: equals)...]
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            if cookies[name] == nil { cookies[name] = String(String.UnicodeScalarView(value)) }
        }
    }
    return cookies
}
