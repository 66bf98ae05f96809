import ChatDomain
import Foundation
public import HTTPTypes

/// Finds the signed-in user of a request or a Socket.IO handshake from the access token
/// cookie (or the `Authorization: Bearer` header when `JWT_TOKEN_LOCATION` allows it),
/// and writes the cookies that sign users in and out.
struct Authenticator: Sendable {
    let signer: AccessTokenSigner
    let store: any ChatStore
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

    /// The user and token claims, or nil when there is no valid token, it was revoked
    /// by a logout, or its user is gone.
    func session(headers: HTTPFields, cookies: [String: String]) async throws(StoreError) -> Session? {
        guard let token = token(headers: headers, cookies: cookies), let claims = try? signer.verify(token) else {
            return nil
        }
        if try await store.isTokenRevoked(id: claims.tokenID) { return nil }
        guard let user = try await store.user(id: claims.subject) else { return nil }
        return Session(user: user, claims: claims)
    }

    func token(headers: HTTPFields, cookies: [String: String]) -> String? {
        if locations.contains("cookies"), let token = cookies[cookieName], !token.isEmpty { return token }
        if locations.contains("headers"), let authorization = headers[.authorization], authorization.hasPrefix("Bearer ") {
            return String(authorization.dropFirst("Bearer ".count))
        }
        return nil
    }

    /// The cookies of a new session: `access_token_cookie=<JWT>; HttpOnly; Path=/;
    /// SameSite=Lax` (a session cookie, as before, now with SameSite and, over HTTPS,
    /// Secure), and the readable `csrf_access_token` when CSRF protection is on.
    func loginCookies(for user: User, secure: Bool) -> (cookies: [String], claims: AccessClaims) {
        let csrf = csrfProtect ? UUID().uuidString.lowercased() : nil
        let (token, claims) = signer.issue(subject: user.id, csrf: csrf)
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

    /// Logs out for good: the token is refused from now until it would have expired.
    func revoke(_ claims: AccessClaims) async throws(StoreError) {
        try await store.revokeToken(id: claims.tokenID, expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.expires)))
    }

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
    guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else {
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
