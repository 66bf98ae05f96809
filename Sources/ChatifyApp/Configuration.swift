public import Foundation
public import Logging

/// Every setting of the old backend, with its defaults, read from the environment and
/// from a `.env` file in the working directory (the environment wins, as with
/// python-dotenv).
public struct ChatifyConfiguration: Sendable, Equatable {
    public var secretKey = "your-secret-key-change-this"
    public var jwtSecretKey = ChatifyConfiguration.defaultJWTSecretKey
    /// The old backend's placeholder: known to everyone, so a start with it is warned about.
    public static let defaultJWTSecretKey = "jwt-secret-key-change-this"
    /// Where the token is read from: `cookies` and/or `headers` (`Authorization: Bearer`).
    public var jwtTokenLocation: Set<String> = ["cookies"]
    public var jwtAccessCookiePath = "/"
    public var jwtCookieCSRFProtect = false
    public var jwtAccessCookieName = "access_token_cookie"
    /// Token lifetime in seconds (Flask-JWT-Extended's default: 15 minutes).
    public var jwtAccessTokenExpires = 900
    public var mongoAtlasURI: String?
    public var mongoLocalURI = "mongodb://localhost:27017/"
    public var databaseName = "chatify_db"
    public var usersCollection = "users"
    public var roomsCollection = "rooms"
    public var corsAllowedOrigins = "*"
    public var host = "127.0.0.1"
    public var port = 5000
    /// `FLASK_DEBUG`: read and shown for compatibility; it no longer sets the log level.
    public var debug = true
    /// `LOG_LEVEL`: the lowest level logged.
    public var logLevel: Logger.Level = .info
    /// `LOG_FORMAT`: swift-log's text lines, or one JSON object per line.
    public var logFormat: LogFormat = .text
    /// `CHATIFY_RESOURCES`: a folder holding `Templates/` and `Static/` (and possibly the
    /// client), instead of the lookup `ChatifyResources.locate` describes.
    public var resourcesDirectory: String?
    /// `SOCKETIO_CLIENT_JS`: the stock socket.io client file the chat page loads.
    public var socketIOClientScript: String?
    /// `REDIS_URL`: when set, nodes share rooms and broadcasts through Redis.
    public var redisURL: String?
    /// `REDIS_TLS_CA_FILE`: for a `rediss://` URL, PEM CA certificates that replace the
    /// system's trust roots.
    public var redisTLSCAFile: String?
    /// `REDIS_TLS_CERT_FILE`: for a `rediss://` URL, the client certificate (with its key).
    public var redisTLSCertificateFile: String?
    /// `REDIS_TLS_KEY_FILE`: the client certificate's private key.
    public var redisTLSKeyFile: String?
    /// `REDIS_ADAPTER`: `pubsub` (Redis Pub/Sub, as Node's `createAdapter`) or `sharded`
    /// (sharded Pub/Sub of Redis 7, as `createShardedAdapter`).
    public var redisAdapter = "pubsub"
    /// `REDIS_SUBSCRIPTION_MODE`: with `sharded`, `static`, `dynamic` or `dynamic-private`
    /// (which channels each namespace listens to, as Node's `subscriptionMode`).
    public var redisSubscriptionMode = "dynamic"
    /// `REDIS_CLUSTER`: the URL names a node of a Redis Cluster (needs `REDIS_ADAPTER=sharded`).
    public var redisCluster = false
    /// `REDIS_STREAM_NAME`: with `REDIS_ADAPTER=streams`, the stream the nodes share.
    public var redisStreamName = "socket.io"
    /// `REDIS_STREAM_MAXLEN`: with `REDIS_ADAPTER=streams`, the stream is trimmed to about
    /// this many entries (how far back a recovering client can be served).
    public var redisStreamMaxLength = 10_000
    /// `REDIS_STREAM_COUNT`: with `REDIS_ADAPTER=streams`, how many streams the namespaces
    /// are spread over (Node's `streamCount`).
    public var redisStreamCount = 1
    /// `REDIS_STREAM_SHARDED_PUBSUB`: with `REDIS_ADAPTER=streams`, requests and responses
    /// over sharded Pub/Sub (Redis 7, Node's `useShardedPubSub`).
    public var redisStreamShardedPubSub = false
    /// `CHATIFY_NODE_ID`: this node's name in a cluster, sent as the `chatify_node`
    /// cookie at the Socket.IO handshake so a load balancer can keep polling clients here.
    public var nodeID: String?
    /// `LOGIN_SLOW_AFTER`: failed logins per username (×4 per address) in 15 minutes
    /// after which each attempt is answered more slowly.
    public var loginSlowAfter = 5
    /// `LOGIN_REFUSE_AFTER`: failed logins per username (×5 per address) in 15 minutes
    /// after which attempts get 429 until the window has passed.
    public var loginRefuseAfter = 10
    /// `REGISTRATIONS_PER_HOUR`: registrations accepted per client address per hour.
    public var registrationsPerHour = 20
    /// `TRUST_PROXY_HEADERS`: take the client address from `X-Forwarded-For` and HTTPS
    /// from `X-Forwarded-Proto` (only behind a proxy that sets them).
    public var trustProxyHeaders = false
    /// `TRUSTED_PROXY_COUNT`: proxies in front of the server when `TRUST_PROXY_HEADERS`
    /// is on; the client address is the entry that many from the right of
    /// `X-Forwarded-For` (the one the outermost proxy appended), the scheme likewise.
    public var trustedProxyCount = 1
    /// `SHUTDOWN_GRACE`: seconds SIGTERM waits for sessions to close and writes to finish.
    public var shutdownGrace = 10
    /// `SOCKET_EVENTS_PER_SECOND`, `USER_EVENTS_PER_SECOND`, `MAX_ROOMS_PER_SOCKET`,
    /// `MAX_CONNECTIONS_PER_USER` (0: no limit): what one socket and one user may do.
    public var eventLimits = EventLimits()
    /// `MAX_CONNECTIONS_PER_IP`: Engine.IO sessions one client address may hold (0: no
    /// limit). Behind a proxy, set `TRUST_PROXY_HEADERS` so addresses are the clients'.
    public var maxConnectionsPerAddress = 500
    /// `MAX_PAYLOAD`: largest polling body or WebSocket message, in bytes (Node's
    /// `maxHttpBufferSize`).
    public var maxPayload = 1_000_000
    /// `CONNECTION_STATE_RECOVERY`: seconds a disconnected chat socket can be recovered
    /// with its rooms and missed messages (0: off, old clients see unchanged packets).
    public var connectionStateRecovery = 0
    /// `ALLOW_EIO3`: accept Engine.IO v3 clients (socket.io-client 2.x), as Node's `allowEIO3`.
    public var allowEIO3 = false
    /// Compression and TLS (`HTTP_COMPRESSION*`, `WS_PER_MESSAGE_DEFLATE*`, `TLS_*_FILE`).
    public var transport = TransportSettings()

    public init() {}

    /// Every variable `init(environment:)` reads, in the order of docs/configuration.md.
    /// Reading a name missing here trips an assertion, so this list cannot fall behind.
    public static let variableNames: [String] = [
        "SECRET_KEY", "JWT_SECRET_KEY", "JWT_TOKEN_LOCATION", "JWT_ACCESS_COOKIE_PATH",
        "JWT_ACCESS_COOKIE_NAME", "JWT_COOKIE_CSRF_PROTECT", "JWT_ACCESS_TOKEN_EXPIRES",
        "MONGODB_ATLAS_URI", "MONGODB_LOCAL_URI", "DATABASE_NAME", "USERS_COLLECTION",
        "ROOMS_COLLECTION", "CORS_ALLOWED_ORIGINS", "HOST", "PORT", "FLASK_DEBUG",
        "LOG_LEVEL", "LOG_FORMAT", "CHATIFY_RESOURCES", "SOCKETIO_CLIENT_JS", "REDIS_URL",
        "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_ADAPTER", "REDIS_SUBSCRIPTION_MODE",
        "REDIS_CLUSTER", "REDIS_STREAM_NAME", "REDIS_STREAM_MAXLEN", "REDIS_STREAM_COUNT",
        "REDIS_STREAM_SHARDED_PUBSUB",
        "CHATIFY_NODE_ID", "TRUST_PROXY_HEADERS",
        "TRUSTED_PROXY_COUNT", "SHUTDOWN_GRACE", "MAX_PAYLOAD", "MAX_CONNECTIONS_PER_IP",
        "MAX_TCP_CONNECTIONS_PER_IP", "HTTP_HEADERS_TIMEOUT", "HTTP_KEEP_ALIVE_TIMEOUT",
        "HTTP_REQUEST_TIMEOUT", "MAX_CONNECTIONS_PER_USER", "SOCKET_EVENTS_PER_SECOND",
        "USER_EVENTS_PER_SECOND", "MAX_ROOMS_PER_SOCKET", "LOGIN_SLOW_AFTER", "LOGIN_REFUSE_AFTER",
        "REGISTRATIONS_PER_HOUR", "CONNECTION_STATE_RECOVERY", "ALLOW_EIO3", "HTTP_COMPRESSION",
        "HTTP_COMPRESSION_THRESHOLD", "WS_PER_MESSAGE_DEFLATE", "WS_PER_MESSAGE_DEFLATE_THRESHOLD",
        "TLS_CERT_FILE", "TLS_KEY_FILE",
    ]

    /// The values `REDIS_ADAPTER` takes.
    public static let redisAdapters: Set<String> = ["pubsub", "sharded", "streams"]
    /// The values `REDIS_SUBSCRIPTION_MODE` takes.
    public static let redisSubscriptionModes: Set<String> = ["static", "dynamic", "dynamic-private"]

    /// How much of the `X-Forwarded-*` headers to believe.
    var trustedProxies: TrustedProxies { TrustedProxies(count: trustProxyHeaders ? trustedProxyCount : 0) }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var variable: String
        public var value: String
        public var expected: String
        public var description: String { "\(variable)=\(value) is not valid: expected \(expected)" }
    }

    /// Reads the variables; unknown ones are ignored, malformed ones are an error that
    /// names the variable.
    public init(environment: [String: String]) throws(Problem) {
        func string(_ name: String) -> String? {
            assert(Self.variableNames.contains(name), "\(name) is read but missing from variableNames")
            guard let value = environment[name] else { return nil }
            return value
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(Problem) -> Int? {
            guard let value = string(name) else { return nil }
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw Problem(variable: name, value: value, expected: "a whole number in \(range)")
            }
            return number
        }
        func boolean(_ name: String) throws(Problem) -> Bool? {
            guard let value = string(name) else { return nil }
            switch value.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off", "": return false
            default: throw Problem(variable: name, value: value, expected: "True or False")
            }
        }
        if let value = string("SECRET_KEY") { secretKey = value }
        if let value = string("JWT_SECRET_KEY") {
            // An empty key signs tokens anyone can forge.
            guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Problem(variable: "JWT_SECRET_KEY", value: value, expected: "a secret that is not empty")
            }
            jwtSecretKey = value
        }
        if let value = string("JWT_TOKEN_LOCATION") {
            let locations = Set(
                value.split(whereSeparator: {
                    $0 == "," || $0 == " " || $0 == "[" || $0 == "]" || $0 == "'" || $0 == "\""
                })
                .map { $0.lowercased() }
            )
            guard !locations.isEmpty, locations.isSubset(of: ["cookies", "headers"]) else {
                throw Problem(variable: "JWT_TOKEN_LOCATION", value: value, expected: "cookies and/or headers")
            }
            jwtTokenLocation = locations
        }
        if let value = string("JWT_ACCESS_COOKIE_PATH") { jwtAccessCookiePath = value }
        if let value = try boolean("JWT_COOKIE_CSRF_PROTECT") { jwtCookieCSRFProtect = value }
        if let value = string("JWT_ACCESS_COOKIE_NAME"), !value.isEmpty { jwtAccessCookieName = value }
        if let value = try integer("JWT_ACCESS_TOKEN_EXPIRES", 1...31_536_000) { jwtAccessTokenExpires = value }
        if let value = string("MONGODB_ATLAS_URI"), !value.isEmpty { mongoAtlasURI = value }
        if let value = string("MONGODB_LOCAL_URI") { mongoLocalURI = value }
        if let value = string("DATABASE_NAME"), !value.isEmpty { databaseName = value }
        if let value = string("USERS_COLLECTION"), !value.isEmpty { usersCollection = value }
        if let value = string("ROOMS_COLLECTION"), !value.isEmpty { roomsCollection = value }
        if let value = string("CORS_ALLOWED_ORIGINS") { corsAllowedOrigins = value }
        if let value = string("HOST"), !value.isEmpty { host = value }
        if let value = try integer("PORT", 0...65535) { port = value }
        if let value = try boolean("FLASK_DEBUG") { debug = value }
        if let value = string("LOG_LEVEL"), !value.isEmpty {
            guard let level = Logger.Level(rawValue: value.trimmingCharacters(in: .whitespaces).lowercased()) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw Problem(variable: "LOG_LEVEL", value: value, expected: "one of \(levels)")
            }
            logLevel = level
        }
        if let value = string("LOG_FORMAT"), !value.isEmpty {
            guard let format = LogFormat(rawValue: value.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw Problem(variable: "LOG_FORMAT", value: value, expected: "text or json")
            }
            logFormat = format
        }
        if let value = string("CHATIFY_RESOURCES"), !value.isEmpty { resourcesDirectory = value }
        if let value = string("SOCKETIO_CLIENT_JS"), !value.isEmpty { socketIOClientScript = value }
        if let value = string("REDIS_URL"), !value.isEmpty { redisURL = value }
        try readRedisTLS(string)
        if let value = string("REDIS_ADAPTER"), !value.isEmpty {
            let adapter = value.trimmingCharacters(in: .whitespaces).lowercased()
            guard Self.redisAdapters.contains(adapter) else {
                throw Problem(variable: "REDIS_ADAPTER", value: value, expected: "pubsub, sharded or streams")
            }
            redisAdapter = adapter
        }
        if let value = string("REDIS_SUBSCRIPTION_MODE"), !value.isEmpty {
            let mode = value.trimmingCharacters(in: .whitespaces).lowercased()
            guard Self.redisSubscriptionModes.contains(mode) else {
                throw Problem(
                    variable: "REDIS_SUBSCRIPTION_MODE", value: value, expected: "static, dynamic or dynamic-private")
            }
            redisSubscriptionMode = mode
        }
        if let value = try boolean("REDIS_CLUSTER") { redisCluster = value }
        // The streams adapter's keys (stream, sessions) are not routed by slot.
        if redisCluster, redisAdapter == "streams" {
            throw Problem(
                variable: "REDIS_CLUSTER", value: "true",
                expected: "false with REDIS_ADAPTER=streams (its stream and session keys are not routed by slot)")
        }
        // Classic Pub/Sub in a Redis Cluster sends every message to every shard, and
        // counts subscribers per node: only sharded channels are routed by slot.
        if redisCluster, redisAdapter != "sharded" {
            throw Problem(
                variable: "REDIS_CLUSTER", value: "true",
                expected: "false unless REDIS_ADAPTER=sharded (a Redis Cluster needs sharded Pub/Sub)")
        }
        if let value = string("REDIS_STREAM_NAME"), !value.isEmpty {
            // A Redis key: any bytes would do, but a name that shows in logs stays printable.
            guard (1...256).contains(value.unicodeScalars.count),
                value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f })
            else {
                throw Problem(
                    variable: "REDIS_STREAM_NAME", value: value,
                    expected: "1 to 256 characters, without spaces or control characters")
            }
            redisStreamName = value
        }
        if let value = try integer("REDIS_STREAM_MAXLEN", 1...100_000_000) { redisStreamMaxLength = value }
        // Node's nodes read every one of the streams: a bound keeps a mistyped count sane.
        if let value = try integer("REDIS_STREAM_COUNT", 1...1024) { redisStreamCount = value }
        if let value = try boolean("REDIS_STREAM_SHARDED_PUBSUB") { redisStreamShardedPubSub = value }
        if let value = string("CHATIFY_NODE_ID"), !value.isEmpty {
            guard value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw Problem(variable: "CHATIFY_NODE_ID", value: value, expected: "letters, digits, - and _")
            }
            nodeID = value
        }
        if let value = try integer("LOGIN_SLOW_AFTER", 1...1_000_000) { loginSlowAfter = value }
        if let value = try integer("LOGIN_REFUSE_AFTER", 1...1_000_000) { loginRefuseAfter = value }
        if let value = try integer("REGISTRATIONS_PER_HOUR", 1...1_000_000) { registrationsPerHour = value }
        if let value = try boolean("TRUST_PROXY_HEADERS") { trustProxyHeaders = value }
        if let value = try integer("TRUSTED_PROXY_COUNT", 1...32) { trustedProxyCount = value }
        if let value = try integer("SHUTDOWN_GRACE", 0...3600) { shutdownGrace = value }
        if let value = try integer("SOCKET_EVENTS_PER_SECOND", 1...1_000_000) {
            eventLimits.eventsPerSocketPerSecond = value
        }
        if let value = try integer("USER_EVENTS_PER_SECOND", 1...1_000_000) {
            eventLimits.eventsPerUserPerSecond = value
        }
        if let value = try integer("MAX_ROOMS_PER_SOCKET", 1...1_000_000) { eventLimits.roomsPerSocket = value }
        if let value = try integer("MAX_CONNECTIONS_PER_USER", 0...1_000_000) { eventLimits.connectionsPerUser = value }
        if let value = try integer("MAX_CONNECTIONS_PER_IP", 0...10_000_000) { maxConnectionsPerAddress = value }
        if let value = try integer("MAX_PAYLOAD", 1024...100_000_000) { maxPayload = value }
        if let value = try integer("CONNECTION_STATE_RECOVERY", 0...86_400) { connectionStateRecovery = value }
        if let value = try boolean("ALLOW_EIO3") { allowEIO3 = value }
        if let value = try boolean("HTTP_COMPRESSION") { transport.httpCompression = value }
        if let value = try integer("HTTP_COMPRESSION_THRESHOLD", 0...100_000_000) {
            transport.httpCompressionThreshold = value
        }
        if let value = try boolean("WS_PER_MESSAGE_DEFLATE") { transport.perMessageDeflate = value }
        if let value = try integer("WS_PER_MESSAGE_DEFLATE_THRESHOLD", 0...100_000_000) {
            transport.perMessageDeflateThreshold = value
        }
        if let value = try integer("HTTP_HEADERS_TIMEOUT", 0...86_400) {
            transport.connectionLimits.headersTimeout = value > 0 ? .seconds(value) : nil
        }
        if let value = try integer("HTTP_KEEP_ALIVE_TIMEOUT", 0...86_400) {
            transport.connectionLimits.keepAliveTimeout = value > 0 ? .seconds(value) : nil
        }
        if let value = try integer("HTTP_REQUEST_TIMEOUT", 0...86_400) {
            transport.connectionLimits.requestTimeout = value > 0 ? .seconds(value) : nil
        }
        if let value = try integer("MAX_TCP_CONNECTIONS_PER_IP", 0...10_000_000) {
            transport.connectionLimits.maxConnectionsPerAddress = value > 0 ? value : nil
        }
        switch (
            string("TLS_CERT_FILE").flatMap { $0.isEmpty ? nil : $0 },
            string("TLS_KEY_FILE").flatMap { $0.isEmpty ? nil : $0 }
        ) {
        case (nil, nil): break
        case (let certificate?, let key?): transport.tls = TLSFiles(certificateFile: certificate, keyFile: key)
        case (nil, let key?): throw Problem(variable: "TLS_KEY_FILE", value: key, expected: "TLS_CERT_FILE set as well")
        case (let certificate?, nil):
            throw Problem(variable: "TLS_CERT_FILE", value: certificate, expected: "TLS_KEY_FILE set as well")
        }
    }

    /// The `REDIS_TLS_*` files: only with a `rediss://` URL (with `redis://` they would
    /// silently do nothing), the client certificate and its key together.
    private mutating func readRedisTLS(_ string: (String) -> String?) throws(Problem) {
        func file(_ name: String) throws(Problem) -> String? {
            guard let value = string(name), !value.isEmpty else { return nil }
            guard redisURL?.lowercased().hasPrefix("rediss://") == true else {
                throw Problem(variable: name, value: value, expected: "REDIS_URL set to a rediss:// URL as well")
            }
            return value
        }
        redisTLSCAFile = try file("REDIS_TLS_CA_FILE")
        redisTLSCertificateFile = try file("REDIS_TLS_CERT_FILE")
        redisTLSKeyFile = try file("REDIS_TLS_KEY_FILE")
        switch (redisTLSCertificateFile, redisTLSKeyFile) {
        case (let certificate?, nil):
            throw Problem(
                variable: "REDIS_TLS_CERT_FILE", value: certificate, expected: "REDIS_TLS_KEY_FILE set as well")
        case (nil, let key?):
            throw Problem(variable: "REDIS_TLS_KEY_FILE", value: key, expected: "REDIS_TLS_CERT_FILE set as well")
        default: break
        }
    }

    /// The process environment over the `.env` file at `dotEnvPath`. A missing file is
    /// fine unless `dotEnvRequired`; one that exists but cannot be read, or has a malformed
    /// line, is an error naming the file (and the line).
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvPath: String = ".env",
        dotEnvRequired: Bool = false
    ) throws -> ChatifyConfiguration {
        var merged: [String: String] = [:]
        if dotEnvRequired || FileManager.default.fileExists(atPath: dotEnvPath) {
            merged = try DotEnv.parse(contentsOf: dotEnvPath)
        }
        merged.merge(environment) { _, fromEnvironment in fromEnvironment }
        return try ChatifyConfiguration(environment: merged)
    }
}

/// The `.env` format python-dotenv reads: `KEY=value` lines, `#` comments, optional
/// `export `, single or double quotes (escapes inside double quotes).
public enum DotEnv {
    /// A `.env` file that cannot be used; `line` is 1-based, nil when the file is unreadable.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var path: String?
        public var line: Int?
        public var reason: String
        public var description: String {
            var place = path ?? ".env"
            if let line { place += ":\(line)" }
            return "\(place): \(reason)"
        }
    }

    public static func parse(contentsOf path: String) throws(Problem) -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problem(path: path, line: nil, reason: "cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
        do {
            return try parse(text)
        } catch var problem {
            problem.path = path
            throw problem
        }
    }

    /// Malformed, conservatively: a line that is neither blank nor a comment nor a bare
    /// name and has no `=`, or whose name is not letters, digits, `_`, `.` and `-` (not
    /// starting with a digit).
    public static func parse(_ text: String) throws(Problem) -> [String: String] {
        var values: [String: String] = [:]
        // Split on the scalar so that line numbers count every line, blank ones included.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, scalars) in lines.enumerated() {
            var line = String(scalars).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "=") else {
                // python-dotenv takes a bare name as a variable without a value and sets
                // nothing: a `.env` the Flask backend read must still start.
                if isVariableName(line) { continue }
                throw Problem(path: nil, line: index + 1, reason: "expected NAME=value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard isVariableName(key) else {
                throw Problem(path: nil, line: index + 1, reason: "not a variable name before '='")
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let quote = value.first, quote == "\"" || quote == "'", value.last == quote {
                value = String(value.dropFirst().dropLast())
                if quote == "\"" {
                    value = value.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(
                        of: "\\\"", with: "\"")
                }
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            values[key] = value
        }
        return values
    }

    private static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else {
            return false
        }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || "_.-".unicodeScalars.contains(scalar))
        }
    }
}
