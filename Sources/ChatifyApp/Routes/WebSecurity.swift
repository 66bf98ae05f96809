import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// What the routes need to know about where a request came from.
struct RequestOrigin: Sendable {
    /// The client's address: the peer, or the first `X-Forwarded-For` hop when the
    /// proxy in front is trusted (`TRUST_PROXY_HEADERS`).
    let clientAddress: String
    /// Served over HTTPS, directly or (trusted proxy) as `X-Forwarded-Proto` says.
    let secure: Bool

    init(_ request: Request, context: ChatifyRequestContext, trustProxy: Bool, servesTLS: Bool = false) {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        if trustProxy, let forwarded = request.headers[.xForwardedFor]?.split(separator: ",").first {
            clientAddress = forwarded.trimmingCharacters(in: .whitespaces)
        } else {
            clientAddress = peer
        }
        secure = servesTLS || request.uri.scheme == .https
            || (trustProxy && request.headers[.xForwardedProto]?.lowercased() == "https")
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}

/// Security headers on every page, and the refusal of cross-site state changes.
///
/// The pages carry no inline script and load nothing from elsewhere, so the
/// Content-Security-Policy allows only this origin. A POST whose `Origin` is another
/// site (and not listed in `CORS_ALLOWED_ORIGINS`) is refused before it reaches a
/// route: with `SameSite=Lax` cookies that closes cross-site request forgery even when
/// the double-submit scheme is off.
struct WebSecurityMiddleware: RouterMiddleware {
    typealias Context = ChatifyRequestContext
    let allowedOrigins: Set<String>

    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !Self.isSafe(request.method), let origin = request.headers[.origin], !isAllowed(origin, request) {
            return Pages.plain(.forbidden, "Forbidden", "Cross-site requests are not accepted.")
        }
        var response = try await next(request, context)
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
            response.headers[.xFrameOptions] = "DENY"
            response.headers[.referrerPolicy] = "same-origin"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options
    }

    func isAllowed(_ origin: String, _ request: Request) -> Bool {
        if allowedOrigins.contains(origin) { return true }
        guard let host = request.head.authority else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// Failed logins and registrations, counted per key (an address, a username) over a
/// sliding window: after `slowAfter` failures each attempt waits a little longer, after
/// `refuseAfter` attempts are refused until the window has passed.
final class AttemptLimiter: Sendable {
    struct Policy: Sendable {
        var window: TimeInterval
        var slowAfter: Int
        var refuseAfter: Int
        /// Added per failure beyond `slowAfter`, capped at 2 s.
        var delayStep: Duration = .milliseconds(250)
    }

    enum Verdict: Equatable {
        case allow
        case delay(Duration)
        case refuse(retryAfter: Int)
    }

    private let policy: Policy
    private let failures = Mutex<[String: [Date]]>([:])

    init(_ policy: Policy) {
        self.policy = policy
    }

    func verdict(for key: String, now: Date = Date()) -> Verdict {
        failures.withLock { failures in
            let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < policy.window }
            failures[key] = recent.isEmpty ? nil : recent
            if recent.count >= policy.refuseAfter {
                let oldest = recent.first ?? now
                return .refuse(retryAfter: max(1, Int(policy.window - now.timeIntervalSince(oldest))))
            }
            if recent.count >= policy.slowAfter {
                let steps = recent.count - policy.slowAfter + 1
                return .delay(min(policy.delayStep * steps, .seconds(2)))
            }
            return .allow
        }
    }

    func recordFailure(_ key: String, now: Date = Date()) {
        failures.withLock { failures in
            // Bound the memory an attacker can make us spend on keys.
            if failures.count > 100_000 { failures.removeAll() }
            failures[key, default: []].append(now)
        }
    }

    func reset(_ key: String) {
        failures.withLock { _ = $0.removeValue(forKey: key) }
    }
}
