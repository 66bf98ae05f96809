import Foundation
import Testing

@testable import ChatifyApp

@Suite("Access tokens compatible with Flask-JWT-Extended")
struct AccessTokenTests {
    let signer = AccessTokenSigner(secret: "test-jwt-secret", lifetime: 900)
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("a token carries the claims Flask-JWT-Extended writes and verifies")
    func claims() throws {
        let (token, claims) = signer.issue(subject: "user-1", now: now)
        #expect(claims.issuedAt == 1_700_000_000)
        #expect(claims.notBefore == claims.issuedAt)
        #expect(claims.expires == claims.issuedAt + 900)
        #expect(!claims.fresh)
        let parts = token.split(separator: ".")
        #expect(parts.count == 3)
        #expect(String(decoding: Base64URL.decode(parts[0]) ?? [], as: UTF8.self) == #"{"alg":"HS256","typ":"JWT"}"#)
        let payload = String(decoding: Base64URL.decode(parts[1]) ?? [], as: UTF8.self)
        #expect(payload.hasPrefix(#"{"fresh":false,"iat":1700000000,"jti":""#))
        // The sign-in id comes last, where Flask-JWT-Extended puts additional claims.
        let sessionID = try #require(claims.session)
        #expect(
            payload.hasSuffix(
                #"","type":"access","sub":"user-1","nbf":1700000000,"exp":1700000900,"sid":""# + sessionID + #""}"#))
        #expect(try signer.verify(token, now: now) == claims)
    }

    @Test("a refresh carries the sign-in on; a token without the claim is a sign-in of its own")
    func signIns() throws {
        let (_, first) = signer.issue(subject: "u", now: now)
        let (token, refreshed) = signer.issue(subject: "u", now: now, session: first.sessionID)
        #expect(refreshed.sessionID == first.sessionID && refreshed.tokenID != first.tokenID)
        #expect(try signer.verify(token, now: now).sessionID == first.sessionID)
        let flask = try signer.verify(FlaskTokens.user1, now: Date(timeIntervalSince1970: FlaskTokens.user1IssuedAt))
        #expect(flask.session == nil && flask.sessionID == flask.tokenID)
    }

    @Test("a short secret works (jwt-kit would assert in debug builds)")
    func shortSecret() throws {
        let short = AccessTokenSigner(secret: "abc")
        let (token, _) = short.issue(subject: "u", now: now)
        #expect(try short.verify(token, now: now).subject == "u")
    }

    @Test("expired, early, wrongly signed, malformed and non-access tokens are refused")
    func refusals() throws {
        let (token, _) = signer.issue(subject: "u", now: now)
        #expect(throws: TokenError.expired) { try signer.verify(token, now: now.addingTimeInterval(900)) }
        #expect(throws: TokenError.notYetValid) { try signer.verify(token, now: now.addingTimeInterval(-1)) }
        #expect(throws: TokenError.badSignature) {
            try AccessTokenSigner(secret: "other").verify(token, now: now)
        }
        for garbage in ["", "garbage.not.ajwt", "a.b", "a.b.c.d", "!!!.###.$$$"] {
            #expect(throws: TokenError.self) { try signer.verify(garbage, now: now) }
        }
        // alg "none" must not be honoured.
        let none =
            Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + token.split(separator: ".")[1] + "."
        #expect(throws: TokenError.unsupportedAlgorithm) { try signer.verify(String(none), now: now) }
    }

    @Test("a token Flask-JWT-Extended wrote is accepted while valid")
    func flaskToken() throws {
        let issued = Date(timeIntervalSince1970: FlaskTokens.user1IssuedAt)
        #expect(try signer.verify(FlaskTokens.user1, now: issued.addingTimeInterval(10)).subject == "user-1")
        #expect(throws: TokenError.expired) {
            try signer.verify(FlaskTokens.user1, now: issued.addingTimeInterval(900))
        }
    }
}

@Suite("Configuration and .env")
struct ConfigurationTests {
    @Test("defaults are the old backend's")
    func defaults() throws {
        let configuration = try ChatifyConfiguration(environment: [:])
        #expect(configuration.jwtSecretKey == "jwt-secret-key-change-this")
        #expect(configuration.jwtAccessCookieName == "access_token_cookie")
        #expect(configuration.mongoLocalURI == "mongodb://localhost:27017/")
        #expect(configuration.databaseName == "chatify_db")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 5000)
        #expect(configuration.jwtAccessTokenExpires == 900)
        #expect(configuration.corsAllowedOrigins == "*")
        #expect(!configuration.jwtCookieCSRFProtect)
    }

    @Test("values are read and malformed ones name the variable")
    func parsing() throws {
        let configuration = try ChatifyConfiguration(environment: [
            "PORT": "8080", "FLASK_DEBUG": "False", "JWT_COOKIE_CSRF_PROTECT": "True",
            "JWT_TOKEN_LOCATION": "cookies,headers", "JWT_ACCESS_TOKEN_EXPIRES": "60",
        ])
        #expect(configuration.port == 8080)
        #expect(!configuration.debug)
        #expect(configuration.jwtCookieCSRFProtect)
        #expect(configuration.jwtTokenLocation == ["cookies", "headers"])
        #expect(configuration.jwtAccessTokenExpires == 60)
        #expect(throws: ChatifyConfiguration.Problem.self) { try ChatifyConfiguration(environment: ["PORT": "http"]) }
        #expect(throws: ChatifyConfiguration.Problem.self) {
            try ChatifyConfiguration(environment: ["FLASK_DEBUG": "maybe"])
        }
    }

    @Test("an empty JWT secret is refused, naming the variable")
    func emptyJWTSecret() {
        for empty in ["", "  "] {
            #expect {
                try ChatifyConfiguration(environment: ["JWT_SECRET_KEY": empty])
            } throws: { error in
                (error as? ChatifyConfiguration.Problem)?.variable == "JWT_SECRET_KEY"
            }
        }
    }

    @Test(".env lines as python-dotenv reads them; the environment wins")
    func dotEnv() throws {
        let values = try DotEnv.parse(
            """
            # comment
            SECRET_KEY=change-me
            export HOST = 0.0.0.0
            JWT_SECRET_KEY="quoted # not a comment"
            DATABASE_NAME='single'
            PORT=6000 # trailing comment
            """)
        #expect(values["SECRET_KEY"] == "change-me")
        #expect(values["HOST"] == "0.0.0.0")
        #expect(values["JWT_SECRET_KEY"] == "quoted # not a comment")
        #expect(values["DATABASE_NAME"] == "single")
        #expect(values["PORT"] == "6000")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chatify-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(".env").path
        try "PORT=6000\nHOST=0.0.0.0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try ChatifyConfiguration.load(environment: ["PORT": "7000"], dotEnvPath: path)
        #expect(configuration.port == 7000)
        #expect(configuration.host == "0.0.0.0")
    }
}

@Suite("Form bodies")
struct FormBodyTests {
    @Test("fields decode as browsers encode them; the first of a repeated name wins")
    func decoding() throws {
        let form = FormBody(
            decoding: "username=al+ice&email=a%40x.test&room_name=%3Cb%3Ex%3C%2Fb%3E&username=second&flag")
        #expect(form["username"] == "al ice")
        #expect(form["email"] == "a@x.test")
        #expect(form["room_name"] == "<b>x</b>")
        #expect(form["flag"] == "")
        #expect(throws: FormBody.MissingField.self) { try form.required("password") }
    }
}
