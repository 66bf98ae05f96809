import Foundation
import NIOSSL

/// Where Redis is, from a `REDIS_URL` (`redis[s]://[user:password@]host[:port][/db]`).
public struct RedisConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The server's host name or address.
    public var host: String
    /// The server's TCP port (6379 by default).
    public var port: Int
    /// The ACL user to authenticate as; nil for the default user.
    public var username: String?
    /// The password to authenticate with; nil for none.
    public var password: String?
    /// The database number to select; nil keeps 0.
    public var database: Int?
    /// TLS (`rediss://`) and its files; nil for a plain connection.
    public var tls: RedisTLS?
    /// The channel prefix, `socket.io` as in Node's adapter.
    public var key = "socket.io"
    /// Classic Pub/Sub (Node's `createAdapter`) or sharded Pub/Sub (`createShardedAdapter`).
    public var adapter = RedisAdapterMode.pubsub
    /// With the streams adapter: the stream and its options.
    public var stream = RedisStreamOptions()
    /// With sharded Pub/Sub: which channels each namespace listens to.
    public var subscriptionMode = ClusterSubscriptionMode.dynamic
    /// The URL names a node of a Redis Cluster: sharded channels are published and
    /// listened to on the primary that owns their slot (sharded Pub/Sub only).
    public var cluster = false
    /// How long cluster queries wait for other nodes.
    public var requestsTimeout: Duration = .seconds(5)
    /// How long connecting (TCP, TLS, authentication) may take before it is retried.
    public var connectTimeout: Duration = .seconds(2)
    /// How long a connection may hear nothing from Redis before it sends `PING`; with
    /// no reply within ``connectTimeout`` the connection is taken for dead and reopened.
    public var pingInterval: Duration = .seconds(5)
    /// The most one value read from Redis may take (wire bytes plus a cost per element);
    /// a bigger one is a protocol error that closes the connection. Should be a few
    /// times the largest broadcast payload.
    public var maximumValueBytes = Self.defaultMaximumValueBytes
    /// 64 MiB: many times Engine.IO's default payload limit of 1 MB.
    public static let defaultMaximumValueBytes = 64 * 1024 * 1024

    /// Redis at `host` and `port`, without authentication.
    public init(host: String = "127.0.0.1", port: Int = 6379) {
        self.host = host
        self.port = port
    }

    /// A `REDIS_URL` that is not `redis[s]://[user:password@]host[:port][/db]`.
    public struct InvalidURL: Error, CustomStringConvertible {
        /// The URL as given.
        public let url: String
        /// Names the expected form and the URL as given, without its password.
        public var description: String {
            "REDIS_URL is not redis[s]://[user:password@]host[:port][/db]: \(Self.maskingPassword(url))"
        }

        private static func maskingPassword(_ url: String) -> String {
            guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at,
                let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
            else { return url }
            return String(url[..<url.index(after: colon)]) + "********" + String(url[at...])
        }
    }

    /// Parses `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS; user
    /// and password may be percent-encoded. Any other scheme, a missing host or a database
    /// that is not a non-negative number throws ``InvalidURL``.
    public init(url: String) throws(InvalidURL) {
        guard let components = URLComponents(string: url),
            components.scheme == "redis" || components.scheme == "rediss",
            let host = components.host, !host.isEmpty
        else { throw InvalidURL(url: url) }
        self.init(host: host, port: components.port ?? 6379)
        if components.scheme == "rediss" { tls = RedisTLS() }
        // `user` and `password` come percent-decoded already: decoding again would turn
        // a literal `%41` in a password into `A`.
        if let user = components.user, !user.isEmpty { username = user }
        if let password = components.password { self.password = password }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { throw InvalidURL(url: url) }
            database = number
        }
    }

    /// For logs and string interpolation: never the password.
    public var description: String {
        "\(tls == nil ? "redis" : "rediss")://\(host):\(port)" + (database.map { "/\($0)" } ?? "")
    }

    /// Checks the TLS files can be read and make a TLS context, so a mistake stops the
    /// start instead of failing every connection later.
    public func validateTLSFiles() throws(RedisTLS.Problem) {
        _ = try makeTLSContext()
    }

    /// The TLS context for `rediss://`: the system's trust roots unless a CA file
    /// replaces them, a client certificate when both its files are given, and the
    /// server's name (or address) checked against its certificate. Nil without TLS.
    func makeTLSContext() throws(RedisTLS.Problem) -> NIOSSLContext? {
        guard let tls else { return nil }
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let caFile = tls.caFile {
            do {
                tlsConfiguration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw RedisTLS.Problem(variable: "REDIS_TLS_CA_FILE", file: caFile, error: "\(error)")
            }
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (nil, nil): break
        case (let certificateFile?, let keyFile?):
            do {
                tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
            } catch {
                throw RedisTLS.Problem(variable: "REDIS_TLS_CERT_FILE", file: certificateFile, error: "\(error)")
            }
            do {
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw RedisTLS.Problem(variable: "REDIS_TLS_KEY_FILE", file: keyFile, error: "\(error)")
            }
        case (let certificateFile?, nil):
            throw RedisTLS.Problem(
                variable: "REDIS_TLS_CERT_FILE", file: certificateFile, error: "REDIS_TLS_KEY_FILE is not set")
        case (nil, let keyFile?):
            throw RedisTLS.Problem(
                variable: "REDIS_TLS_KEY_FILE", file: keyFile, error: "REDIS_TLS_CERT_FILE is not set")
        }
        do {
            return try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw RedisTLS.Problem(
                variable: tls.certificateFile == nil ? "REDIS_TLS_CA_FILE" : "REDIS_TLS_CERT_FILE",
                file: tls.certificateFile ?? tls.caFile ?? "", error: "\(error)")
        }
    }
}

/// The files of a `rediss://` connection; without any, the system's trust roots are used
/// and no client certificate is sent.
public struct RedisTLS: Sendable, Equatable {
    /// `REDIS_TLS_CA_FILE`: PEM certificates that replace the system's trust roots.
    public var caFile: String?
    /// `REDIS_TLS_CERT_FILE`: the client certificate (PEM), for servers that require one.
    public var certificateFile: String?
    /// `REDIS_TLS_KEY_FILE`: the client certificate's private key (PEM).
    public var keyFile: String?

    /// TLS with the given files (none: system trust, no client certificate).
    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// A TLS file that cannot be used, with the variable that names it.
    public struct Problem: Error, CustomStringConvertible {
        /// The variable that names the file.
        public let variable: String
        /// The path as given.
        public let file: String
        /// Why it cannot be used.
        public let error: String
        /// `VARIABLE=path cannot be used: why`.
        public var description: String { "\(variable)=\(file) cannot be used: \(error)" }
    }
}

/// A failure talking to Redis, worded for the log.
struct RedisError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Which of Node's Redis adapters the nodes speak.
public enum RedisAdapterMode: String, Sendable, CaseIterable {
    /// `PUBLISH`/`SUBSCRIBE`, as `@socket.io/redis-adapter`'s `createAdapter`.
    case pubsub
    /// `SPUBLISH`/`SSUBSCRIBE` (Redis 7), as its `createShardedAdapter`.
    case sharded
    /// A Redis stream (`XADD`/`XREAD`) plus Pub/Sub for requests, as
    /// `@socket.io/redis-streams-adapter`; connection state recovery works across nodes.
    case streams
}
