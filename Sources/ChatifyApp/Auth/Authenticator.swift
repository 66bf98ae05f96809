import ChatDomain
import Foundation
public import HTTPTypes

/// Finds the signed-in user of a request or a Socket.IO handshake from the access token
/// cookie (or the `Authorization: Bearer` header when `JWT_TOKEN_LOCATION` allows it).
struct Authenticator: Sendable {
    let signer: AccessTokenSigner
    let store: any ChatStore
    let cookieName: String
    let cookiePath: String
    let locations: Set<String>

    struct Session: Sendable {
        let user: User
        let claims: AccessClaims
    }

    /// The user and token claims, or nil when there is no valid token or its user is gone.
    func session(headers: HTTPFields, cookies: [String: String]) async throws(StoreError) -> Session? {
        guard let token = token(headers: headers, cookies: cookies), let claims = try? signer.verify(token) else {
            return nil
        }
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

    /// `access_token_cookie=<JWT>; HttpOnly; Path=/`: a session cookie, as before.
    func loginCookie(for user: User) -> String {
        let (token, _) = signer.issue(subject: user.id)
        return "\(cookieName)=\(token); HttpOnly; Path=\(cookiePath)"
    }

    var logoutCookie: String {
        "\(cookieName)=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\(cookiePath)"
    }
}

/// Cookies of a request header, by name (first one wins).
public func parseCookies(_ headers: HTTPFields) -> [String: String] {
    var cookies: [String: String] = [:]
    for header in headers[values: .cookie] {
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = String(trimmed[..<equals])
            var value = String(trimmed[trimmed.index(after: equals)...])
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if cookies[name] == nil { cookies[name] = value }
        }
    }
    return cookies
}
