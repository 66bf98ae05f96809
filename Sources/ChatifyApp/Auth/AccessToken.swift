import Crypto
public import Foundation
import OrderedJSON

/// The claims of an access token, as Flask-JWT-Extended 4.x writes them.
public struct AccessClaims: Sendable, Equatable {
    /// The user id.
    public var subject: String
    public var issuedAt: Int64
    public var notBefore: Int64
    public var expires: Int64
    public var tokenID: String
    public var fresh: Bool
    /// The double-submit CSRF value, when CSRF protection is on.
    public var csrf: String?
}

/// Why a token was not accepted.
public enum TokenError: Error, Equatable, Sendable {
    case malformed
    case unsupportedAlgorithm
    case badSignature
    case expired
    case notYetValid
    case notAnAccessToken
}

/// HS256 JSON Web Tokens compatible with Flask-JWT-Extended in both directions.
///
/// Written over swift-crypto's HMAC directly: jwt-kit asserts a key of 32 bytes or more,
/// and deployments (the old default among them) use shorter secrets. Timestamps are
/// whole seconds, and the `type` claim must be `access`, as Flask-JWT-Extended checks.
public struct AccessTokenSigner: Sendable {
    let key: SymmetricKey
    /// How long a new token is valid.
    public let lifetime: TimeInterval

    public init(secret: String, lifetime: TimeInterval = 900) {
        self.key = SymmetricKey(data: Array(secret.utf8))
        self.lifetime = lifetime
    }

    public func issue(subject: String, now: Date = Date(), csrf: String? = nil) -> (token: String, claims: AccessClaims) {
        issue(type: "access", subject: subject, now: now, lifetime: lifetime, csrf: csrf)
    }

    func issue(
        type: String, subject: String, now: Date, lifetime: TimeInterval, csrf: String? = nil, until: Int64? = nil
    ) -> (token: String, claims: AccessClaims) {
        let issued = Int64(now.timeIntervalSince1970.rounded(.down))
        let claims = AccessClaims(
            subject: subject,
            issuedAt: issued,
            notBefore: issued,
            expires: issued + Int64(lifetime),
            tokenID: UUID().uuidString.lowercased(),
            fresh: false,
            csrf: csrf
        )
        var payload: JSONObject = [
            "fresh": .bool(claims.fresh),
            "iat": .integer(claims.issuedAt),
            "jti": .string(claims.tokenID),
            "type": .string(type),
            "sub": .string(claims.subject),
            "nbf": .integer(claims.notBefore),
        ]
        if let csrf { payload["csrf"] = .string(csrf) }
        if let until { payload["until"] = .integer(until) }
        payload["exp"] = .integer(claims.expires)
        let signingInput = Self.encodedHeader + "." + Base64URL.encode(Array(JSONValue.object(payload).jsonString.utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return (signingInput + "." + Base64URL.encode(Array(signature)), claims)
    }

    /// A one-minute ticket the chat page hands its socket after refreshing its cookie,
    /// so the socket's session lasts as long as the new token (`until`).
    public func issueRenewalTicket(subject: String, until: Int64, now: Date = Date()) -> String {
        issue(type: "renew", subject: subject, now: now, lifetime: 60, until: until).token
    }

    /// The subject and new expiry of a renewal ticket.
    public func verifyRenewalTicket(_ ticket: String, now: Date = Date()) throws(TokenError) -> (subject: String, until: Int64) {
        let (claims, payload) = try verify(ticket, type: "renew", now: now)
        guard let until = payload["until"]?.integerValue else { throw .malformed }
        return (claims.subject, until)
    }

    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> AccessClaims {
        try verify(token, type: "access", now: now).claims
    }

    func verify(_ token: String, type: String, now: Date) throws(TokenError) -> (claims: AccessClaims, payload: JSONObject) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard let header = try? JSONValue(parsing: headerBytes), case .object = header else { throw .malformed }
        guard header["alg"]?.stringValue == "HS256" else { throw .unsupportedAlgorithm }
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else {
            throw .badSignature
        }
        guard let payload = try? JSONValue(parsing: payloadBytes), case .object(let claims) = payload,
            let subject = claims["sub"]?.stringValue
        else { throw .malformed }
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        if let expires = claims["exp"]?.integerValue, nowSeconds >= expires { throw .expired }
        if let notBefore = claims["nbf"]?.integerValue, nowSeconds < notBefore { throw .notYetValid }
        guard claims["type"]?.stringValue == type else { throw .notAnAccessToken }
        let parsed = AccessClaims(
            subject: subject,
            issuedAt: claims["iat"]?.integerValue ?? 0,
            notBefore: claims["nbf"]?.integerValue ?? 0,
            expires: claims["exp"]?.integerValue ?? .max,
            tokenID: claims["jti"]?.stringValue ?? "",
            fresh: claims["fresh"]?.boolValue ?? false,
            csrf: claims["csrf"]?.stringValue
        )
        return (parsed, claims)
    }

    static let encodedHeader = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
}

/// URL-safe base64 without padding, as JWTs use it.
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch base64.count % 4 {
        case 0: break
        case 2: base64 += "=="
        case 3: base64 += "="
        default: return nil
        }
        return Data(base64Encoded: base64).map(Array.init)
    }
}
