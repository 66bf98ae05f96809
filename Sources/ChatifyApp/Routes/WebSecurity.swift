import EngineIO
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// What the routes need to know about where a request came from.
struct RequestOrigin: Sendable {
    /// The client's address: the peer, or the one the trusted proxy put in
    /// `X-Forwarded-For` (`TRUST_PROXY_HEADERS`, `TRUSTED_PROXY_COUNT`).
    let clientAddress: String
    /// Served over HTTPS, directly or (trusted proxy) as `X-Forwarded-Proto` says.
    let secure: Bool

    init(_ request: Request, context: ChatifyRequestContext, proxies: TrustedProxies, servesTLS: Bool = false) {
        clientAddress = proxies.clientAddress(request.headers) ?? context.remoteAddress?.ipAddress ?? "unknown"
        secure = servesTLS || request.uri.scheme == .https || proxies.forwardedHTTPS(request.headers)
    }
}

/// How much of `X-Forwarded-For` and `X-Forwarded-Proto` is believed. Each proxy appends
/// what it saw to the right, and a client can write anything on the left, so with
/// `count` trusted proxies the entry that counts is the `count`-th from the right, as
/// Werkzeug's `ProxyFix(x_for=count, x_proto=count)` takes it. A header with fewer
/// entries than that did not come through the proxies and is ignored.
struct TrustedProxies: Sendable, Equatable {
    /// Proxies in front of the server; 0 ignores the headers.
    var count: Int

    init(count: Int) {
        self.count = max(0, count)
    }

    /// The address the outermost trusted proxy saw the request come from.
    func clientAddress(_ headers: HTTPFields) -> String? {
        trustedEntry(headers, .xForwardedFor)
    }

    /// Whether the outermost trusted proxy was reached over HTTPS.
    func forwardedHTTPS(_ headers: HTTPFields) -> Bool {
        trustedEntry(headers, .xForwardedProto)?.lowercased() == "https"
    }

    private func trustedEntry(_ headers: HTTPFields, _ name: HTTPField.Name) -> String? {
        guard count > 0 else { return nil }
        // Repeated header lines are one list, as if joined by commas.
        let entries = headers[values: name].flatMap {
            $0.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        }
        guard entries.count >= count else { return nil }
        let trimmed = Substring(entries[entries.count - count]).trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
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

/// Which pages may open a Socket.IO session that signs in with the access cookie.
///
/// A browser adds the cookie to a WebSocket or polling request from any page, and
/// `CORS_ALLOWED_ORIGINS=*` lets any page talk to the server; but as browsers never send
/// credentials to a `*` policy over XHR, a page of another origin may use the cookie
/// only when `CORS_ALLOWED_ORIGINS` lists it. Requests without `Origin` (clients that
/// are not browsers) and tokens in the `Authorization` header, which a page's script
/// must set itself, are not concerned.
struct CookieOrigins: Sendable {
    /// The origins `CORS_ALLOWED_ORIGINS` names.
    var listed: Set<String> = []
    /// Whose `X-Forwarded-Proto` tells the server's own scheme.
    var proxies = TrustedProxies(count: 0)

    func allowsCookie(_ request: EngineRequest) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        if listed.contains(origin) { return true }
        guard let host = request.host else { return false }
        let secure = request.isSecure || proxies.forwardedHTTPS(request.headers)
        return Self.normalized(origin) == Self.normalized((secure ? "https://" : "http://") + host)
    }

    /// `scheme://host[:port]` in lower case, without the scheme's default port.
    static func normalized(_ origin: String) -> String {
        let lowered = origin.lowercased()
        for (scheme, port) in [("http://", ":80"), ("https://", ":443")] where lowered.hasPrefix(scheme) {
            return lowered.hasSuffix(port) ? String(lowered.dropLast(port.count)) : lowered
        }
        return lowered
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// Failed logins and registrations, counted per key (an address, a username) over a
/// sliding window: after `slowAfter` failures each attempt waits a little longer, after
/// `refuseAfter` attempts are refused until the window has passed.
///
/// An attempt is counted when it is let through (`reserve`), before the slow password
/// check, so attempts sent in parallel cannot all pass the check; a success takes its
/// count back.
final class AttemptLimiter: Sendable {
    struct Policy: Sendable {
        var window: TimeInterval
        var slowAfter: Int
        var refuseAfter: Int
        /// Added per failure beyond `slowAfter`, capped at 2 s.
        var delayStep: Duration = .milliseconds(250)
        /// Keys kept at most, so an attacker cannot make the table grow without bound.
        var maxKeys = 100_000
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
        failures.withLock { failures in verdict(for: key, in: &failures, now: now) }
    }

    /// The verdict, and unless it is a refusal the attempt is counted at once, in the
    /// same step: a success gives it back with `release` (or `reset`).
    func reserve(_ key: String, now: Date = Date()) -> Verdict {
        failures.withLock { failures in
            let verdict = verdict(for: key, in: &failures, now: now)
            if case .refuse = verdict { return verdict }
            record(key, in: &failures, now: now)
            return verdict
        }
    }

    func recordFailure(_ key: String, now: Date = Date()) {
        failures.withLock { failures in record(key, in: &failures, now: now) }
    }

    /// Takes back one attempt counted at `time` by `reserve`.
    func release(_ key: String, reservedAt time: Date) {
        failures.withLock { failures in
            guard var times = failures[key], let index = times.lastIndex(of: time) else { return }
            times.remove(at: index)
            failures[key] = times.isEmpty ? nil : times
        }
    }

    func reset(_ key: String) {
        failures.withLock { _ = $0.removeValue(forKey: key) }
    }

    private func verdict(for key: String, in failures: inout [String: [Date]], now: Date) -> Verdict {
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

    private func record(_ key: String, in failures: inout [String: [Date]], now: Date) {
        if failures[key] == nil, failures.count >= policy.maxKeys { evict(from: &failures, now: now) }
        failures[key, default: []].append(now)
    }

    /// Makes room for new keys: expired counts go first, then the keys with the fewest
    /// failures, oldest first, until a tenth of the table is free. Keys that are being
    /// guessed at (many failures) stay, so spraying new keys cannot reset them, and a
    /// pass frees enough room for many insertions.
    private func evict(from failures: inout [String: [Date]], now: Date) {
        failures = failures.filter { _, times in times.contains { now.timeIntervalSince($0) < policy.window } }
        let target = policy.maxKeys - max(1, policy.maxKeys / 10)
        guard failures.count > target else { return }
        let weakest = failures.map { (key: $0.key, count: $0.value.count, last: $0.value.last ?? now) }
            .sorted { ($0.count, $0.last) < ($1.count, $1.last) }
            .prefix(failures.count - target)
        for entry in weakest { failures[entry.key] = nil }
    }
}
