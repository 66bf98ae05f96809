import Foundation
import HTTPTypes
import Hummingbird

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
        perUsername = AttemptLimiter(
            .init(window: 900, slowAfter: configuration.loginSlowAfter, refuseAfter: configuration.loginRefuseAfter))
        perAddress = AttemptLimiter(
            .init(
                window: 900, slowAfter: configuration.loginSlowAfter * 4,
                refuseAfter: configuration.loginRefuseAfter * 5))
        registrations = AttemptLimiter(
            .init(
                window: 3600, slowAfter: configuration.registrationsPerHour,
                refuseAfter: configuration.registrationsPerHour))
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
