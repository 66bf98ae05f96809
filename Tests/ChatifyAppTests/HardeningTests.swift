import Foundation
import HTTPTypes
import Testing

@testable import ChatifyApp

@Suite("Brute-force limiter")
struct AttemptLimiterTests {
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("allows, then slows each further failure, then refuses until the window has passed")
    func escalation() {
        let limiter = AttemptLimiter(.init(window: 900, slowAfter: 2, refuseAfter: 4))
        #expect(limiter.verdict(for: "u", now: start) == .allow)
        limiter.recordFailure("u", now: start)
        limiter.recordFailure("u", now: start)
        #expect(limiter.verdict(for: "u", now: start) == .delay(.milliseconds(250)))
        limiter.recordFailure("u", now: start)
        #expect(limiter.verdict(for: "u", now: start) == .delay(.milliseconds(500)))
        limiter.recordFailure("u", now: start)
        #expect(limiter.verdict(for: "u", now: start.addingTimeInterval(100)) == .refuse(retryAfter: 800))
        #expect(limiter.verdict(for: "other", now: start) == .allow)
        #expect(limiter.verdict(for: "u", now: start.addingTimeInterval(901)) == .allow)
    }

    @Test("a success resets the count")
    func reset() {
        let limiter = AttemptLimiter(.init(window: 900, slowAfter: 1, refuseAfter: 2))
        limiter.recordFailure("u", now: start)
        limiter.recordFailure("u", now: start)
        limiter.reset("u")
        #expect(limiter.verdict(for: "u", now: start) == .allow)
    }

    @Test("spraying keys past the table's bound does not reset a counted key")
    func sprayingKeepsCountedKeys() {
        let limiter = AttemptLimiter(.init(window: 900, slowAfter: 2, refuseAfter: 4))
        for _ in 0..<4 { limiter.recordFailure("victim", now: start) }
        for index in 0..<100_100 { limiter.recordFailure("sprayed-\(index)", now: start.addingTimeInterval(1)) }
        #expect(limiter.verdict(for: "victim", now: start.addingTimeInterval(2)) == .refuse(retryAfter: 898))
    }
}

@Suite("Renewal tickets")
struct RenewalTicketTests {
    let signer = AccessTokenSigner(secret: "test-jwt-secret", lifetime: 900)
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("a ticket names its user and the new expiry, lives a minute, and is not an access token")
    func ticket() throws {
        let ticket = signer.issueRenewalTicket(subject: "u", until: 1_700_000_900, now: now)
        let renewal = try signer.verifyRenewalTicket(ticket, now: now)
        #expect(renewal.subject == "u" && renewal.until == 1_700_000_900)
        #expect(throws: TokenError.expired) { try signer.verifyRenewalTicket(ticket, now: now.addingTimeInterval(60)) }
        #expect(throws: TokenError.notAnAccessToken) { try signer.verify(ticket, now: now) }
        let (access, _) = signer.issue(subject: "u", now: now)
        #expect(throws: TokenError.notAnAccessToken) { try signer.verifyRenewalTicket(access, now: now) }
    }
}

@Suite("Hardening settings")
struct HardeningConfigurationTests {
    @Test("limits and proxy trust are read, with safe defaults")
    func settings() throws {
        let defaults = ChatifyConfiguration()
        #expect(defaults.loginSlowAfter == 5 && defaults.loginRefuseAfter == 10 && defaults.registrationsPerHour == 20)
        #expect(!defaults.trustProxyHeaders && defaults.shutdownGrace == 10)
        let custom = try ChatifyConfiguration(environment: [
            "LOGIN_SLOW_AFTER": "2", "LOGIN_REFUSE_AFTER": "3", "REGISTRATIONS_PER_HOUR": "7",
            "TRUST_PROXY_HEADERS": "true", "SHUTDOWN_GRACE": "30",
        ])
        #expect(custom.loginSlowAfter == 2 && custom.loginRefuseAfter == 3 && custom.registrationsPerHour == 7)
        #expect(custom.trustProxyHeaders && custom.shutdownGrace == 30)
        #expect(throws: ChatifyConfiguration.Problem.self) {
            try ChatifyConfiguration(environment: ["LOGIN_REFUSE_AFTER": "0"])
        }
    }

    @Test("TRUSTED_PROXY_COUNT is read when proxy headers are trusted")
    func proxyCount() throws {
        #expect(ChatifyConfiguration().trustedProxies.count == 0)
        #expect(try ChatifyConfiguration(environment: ["TRUST_PROXY_HEADERS": "true"]).trustedProxies.count == 1)
        let two = try ChatifyConfiguration(environment: ["TRUST_PROXY_HEADERS": "true", "TRUSTED_PROXY_COUNT": "2"])
        #expect(two.trustedProxyCount == 2 && two.trustedProxies.count == 2)
        #expect(try ChatifyConfiguration(environment: ["TRUSTED_PROXY_COUNT": "2"]).trustedProxies.count == 0)
        for bad in ["0", "two", "-1"] {
            #expect {
                try ChatifyConfiguration(environment: ["TRUSTED_PROXY_COUNT": bad])
            } throws: { error in
                (error as? ChatifyConfiguration.Problem)?.variable == "TRUSTED_PROXY_COUNT"
            }
        }
    }

    @Test("the forwarded entry that counts is the one the trusted proxies appended")
    func forwardedEntries() {
        let headers: HTTPFields = [
            .xForwardedFor: "6.6.6.6, 198.51.100.4", HTTPField.Name("X-Forwarded-For")!: " 10.0.0.2 ",
            .xForwardedProto: "https, http",
        ]
        #expect(TrustedProxies(count: 1).clientAddress(headers) == "10.0.0.2")
        #expect(TrustedProxies(count: 2).clientAddress(headers) == "198.51.100.4")
        #expect(TrustedProxies(count: 4).clientAddress(headers) == nil)
        #expect(TrustedProxies(count: 0).clientAddress(headers) == nil)
        #expect(!TrustedProxies(count: 1).forwardedHTTPS(headers))
        #expect(TrustedProxies(count: 2).forwardedHTTPS(headers))
    }

    @Test("origins compare by scheme, host and port, default ports left out")
    func originNormalisation() {
        #expect(CookieOrigins.normalized("HTTPS://Chat.Example:443") == "https://chat.example")
        #expect(CookieOrigins.normalized("http://chat.example:80") == "http://chat.example")
        #expect(CookieOrigins.normalized("http://chat.example:443") == "http://chat.example:443")
        #expect(CookieOrigins.normalized("https://chat.example:8443") == "https://chat.example:8443")
    }

    @Test("connection limits default to Node's timeouts and 1000 connections per address; 0 turns one off")
    func connectionLimits() throws {
        let defaults = ChatifyConfiguration().transport.connectionLimits
        #expect(defaults.headersTimeout == .seconds(60) && defaults.keepAliveTimeout == .seconds(5))
        #expect(defaults.requestTimeout == .seconds(300) && defaults.maxConnectionsPerAddress == 1000)
        let custom = try ChatifyConfiguration(environment: [
            "HTTP_HEADERS_TIMEOUT": "2", "HTTP_KEEP_ALIVE_TIMEOUT": "0", "HTTP_REQUEST_TIMEOUT": "7",
            "MAX_TCP_CONNECTIONS_PER_IP": "0",
        ]).transport.connectionLimits
        #expect(custom.headersTimeout == .seconds(2) && custom.keepAliveTimeout == nil)
        #expect(custom.requestTimeout == .seconds(7) && custom.maxConnectionsPerAddress == nil)
        for name in [
            "HTTP_HEADERS_TIMEOUT", "HTTP_KEEP_ALIVE_TIMEOUT", "HTTP_REQUEST_TIMEOUT", "MAX_TCP_CONNECTIONS_PER_IP",
        ] {
            let problem = #expect(throws: ChatifyConfiguration.Problem.self) {
                try ChatifyConfiguration(environment: [name: "soon"])
            }
            #expect(problem?.variable == name)
        }
    }

    @Test("only listed origins may post forms; * lists none")
    func origins() {
        #expect(ChatifyServer.listedOrigins("*").isEmpty)
        #expect(
            ChatifyServer.listedOrigins("https://a.example, https://b.example") == [
                "https://a.example", "https://b.example",
            ])
    }
}
