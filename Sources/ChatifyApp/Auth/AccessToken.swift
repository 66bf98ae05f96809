import Crypto
import EngineIO
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
    /// The sign-in this token belongs to (`sid`): a login starts one and every refresh
    /// carries it on, so a logout can end all of its tokens.
    public var session: String?

    /// The sign-in's id; a token without the claim (Flask-JWT-Extended wrote it) is a
    /// sign-in of its own, named by its `jti`.
    public var sessionID: String { session ?? tokenID }
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
    /// HMAC keyed once: its padded key is already hashed in, and each token copies it
    /// (the hash states are copy-on-write) instead of padding and hashing the key again.
    let keyedMAC: HMAC<SHA256>
    /// How long a new token is valid.
    public let lifetime: TimeInterval

    public init(secret: String, lifetime: TimeInterval = 900) {
        self.keyedMAC = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        self.lifetime = lifetime
    }

    func mac(_ signingInput: [UInt8]) -> HashedAuthenticationCode<SHA256> {
        var mac = keyedMAC
        mac.update(data: signingInput)
        return mac.finalize()
    }

    /// A new access token; `session` continues a sign-in (a refresh), nil starts one.
    public func issue(
        subject: String, now: Date = Date(), csrf: String? = nil, session: String? = nil
    ) -> (token: String, claims: AccessClaims) {
        issue(
            type: "access", subject: subject, now: now, lifetime: lifetime, csrf: csrf,
            session: session ?? UUID().uuidString.lowercased()
        )
    }

    func issue(
        type: String, subject: String, now: Date, lifetime: TimeInterval, csrf: String? = nil, session: String? = nil,
        until: Int64? = nil
    ) -> (token: String, claims: AccessClaims) {
        let issued = Int64(now.timeIntervalSince1970.rounded(.down))
        let claims = AccessClaims(
            subject: subject,
            issuedAt: issued,
            notBefore: issued,
            expires: issued + Int64(lifetime),
            tokenID: UUID().uuidString.lowercased(),
            fresh: false,
            csrf: csrf,
            session: session
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
        // Last, where Flask-JWT-Extended puts `additional_claims`.
        if let session { payload["sid"] = .string(session) }
        let signingInput = Self.encodedHeader + "." + Base64URL.encode(Array(JSONValue.object(payload).jsonString.utf8))
        let signature = mac(Array(signingInput.utf8))
        return (signingInput + "." + Base64URL.encode(Array(signature)), claims)
    }

    /// A one-minute ticket the chat page hands its socket after refreshing its cookie,
    /// so the socket's session lasts as long as the new token (`until`).
    public func issueRenewalTicket(subject: String, until: Int64, now: Date = Date()) -> String {
        issue(type: "renew", subject: subject, now: now, lifetime: 60, until: until).token
    }

    /// The subject and new expiry of a renewal ticket.
    public func verifyRenewalTicket(_ ticket: String, now: Date = Date()) throws(TokenError) -> (
        subject: String, until: Int64
    ) {
        let (claims, payload) = try verify(ticket, type: "renew", now: now)
        guard let until = payload["until"]?.integerValue else { throw .malformed }
        return (claims.subject, until)
    }

    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> AccessClaims {
        try verify(token, type: "access", now: now).claims
    }

    func verify(_ token: String, type: String, now: Date) throws(TokenError) -> (
        claims: AccessClaims, payload: JSONObject
    ) {
        // Split by bytes: a token is ASCII, and splitting by Characters was a large share
        // of a verification. Three dots or more is malformed, so no need to split further.
        let parts = token.utf8.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard let header = try? JSONValue(parsing: headerBytes), case .object = header else { throw .malformed }
        guard header["alg"]?.stringValue == "HS256" else { throw .unsupportedAlgorithm }
        let signingInput = Array(token.utf8[..<parts[1].endIndex])
        // `==` on a MAC compares in constant time.
        guard mac(signingInput) == signature else {
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
            csrf: claims["csrf"]?.stringValue,
            session: claims["sid"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        )
        return (parsed, claims)
    }

    static let encodedHeader = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
}

/// URL-safe base64 without padding, as JWTs use it: the standard alphabet's `+` and `/`
/// as `-` and `_`. Byte-wise over EngineIO's codec (Foundation's string replacing was
/// most of a token's cost).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var encoded = Base64.encode(bytes)
        while encoded.last == UInt8(ascii: "=") { encoded.removeLast() }
        for index in encoded.indices {
            switch encoded[index] {
            case UInt8(ascii: "+"): encoded[index] = UInt8(ascii: "-")
            case UInt8(ascii: "/"): encoded[index] = UInt8(ascii: "_")
            default: break
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Each byte as the standard alphabet spells it: `-` and `_` as `+` and `/`; the
    /// standard's own `+`, `/` and `=` padding, which URL-safe base64 does not use, and
    /// any other byte outside the alphabet as `!`, which the decoder refuses. A table, so
    /// decoding is one lookup a byte.
    static let toStandard: [UInt8] = (0...255).map { value -> UInt8 in
        let byte = UInt8(value)
        switch byte {
        case UInt8(ascii: "-"): return UInt8(ascii: "+")
        case UInt8(ascii: "_"): return UInt8(ascii: "/")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return byte
        default: return UInt8(ascii: "!")
        }
    }

    static func decode(_ text: Substring) -> [UInt8]? { decode(text.utf8) }

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var standard = [UInt8]()
        standard.reserveCapacity(text.count + 2)
        toStandard.withUnsafeBufferPointer { table in
            for byte in text { standard.append(table[Int(byte)]) }
        }
        switch standard.count % 4 {
        case 0: break
        case 2: standard += Array("==".utf8)
        case 3: standard.append(UInt8(ascii: "="))
        default: return nil
        }
        return Base64.decode(standard)
    }
}
