/// The two Engine.IO transports.
public enum EngineTransport: String, Sendable, Hashable, CaseIterable {
    /// HTTP long-polling (`transport=polling`).
    case polling
    /// WebSocket (`transport=websocket`).
    case websocket
}

/// Which origins may call the server from a browser page of another origin.
public enum CORSPolicy: Sendable, Equatable {
    /// No CORS headers: only same-origin pages can read responses.
    case disabled
    /// `Access-Control-Allow-Origin: *`, without credentials (browsers send no cookies).
    case anyOrigin
    /// Listed origins only (`https://chat.example.com`), echoed back with credentials allowed.
    case origins(Set<String>)

    /// Parses the `CORS_ALLOWED_ORIGINS` form: `*`, or origins separated by commas.
    public init(allowedOrigins: String) {
        let trimmed = allowedOrigins.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }.filter {
            !$0.isEmpty
        }
        if trimmed.isEmpty {
            self = .disabled
        } else if trimmed.contains("*") {
            self = .anyOrigin
        } else {
            self = .origins(Set(trimmed.map(String.init)))
        }
    }

    /// Whether a request carrying this `Origin` may be served (requests without one always may).
    public func allows(origin: String?) -> Bool {
        guard let origin else { return true }
        switch self {
        case .disabled: return false
        case .anyOrigin: return true
        case .origins(let allowed): return allowed.contains(origin)
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> Substring {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice.removeFirst() }
        while let last = slice.last, characters.contains(last) { slice.removeLast() }
        return slice
    }
}

/// Engine.IO server options, named and defaulted as in Node's `engine.io`.
public struct EngineConfiguration: Sendable {
    /// How often the server pings each client.
    public var pingInterval: Duration = .seconds(25)
    /// How long a client has to answer a ping before its session is closed.
    public var pingTimeout: Duration = .seconds(20)
    /// Largest polling POST body and WebSocket message accepted, in bytes.
    public var maxPayload: Int = 1_000_000
    /// How long a WebSocket has to complete an upgrade (`2probe` ... `5`).
    public var upgradeTimeout: Duration = .seconds(10)
    /// Transports a client may use.
    public var transports: Set<EngineTransport> = [.polling, .websocket]
    /// Whether a polling session may move to WebSocket.
    public var allowUpgrades = true
    /// At most this many packets go out in one polling response; the rest wait for the
    /// next GET. Python's Engine.IO client drops a connection on more than 16.
    public var maxPacketsPerPoll = 16
    /// CORS for polling requests.
    public var cors: CORSPolicy = .anyOrigin
    /// Packets waiting for a slow client before its session is closed, so one client cannot
    /// make the server's memory grow without bound.
    public var maxBufferedPackets = 10_000
    /// A `Set-Cookie` value sent with every polling handshake, as Node's `cookie`
    /// option does: lets a load balancer keep a client on the node that holds its
    /// session (`chatify_node=node2; Path=/; HttpOnly; SameSite=Lax`).
    public var handshakeCookie: String?
    /// Sessions one client address may hold at once (nil: no limit, as in Node). A new
    /// one beyond it is refused with 403 `{"code":4,"message":"Forbidden"}`.
    public var maxSessionsPerAddress: Int?
    /// The address sessions are counted by: the peer's, unless the application knows
    /// better (a trusted proxy's `X-Forwarded-For`).
    public var clientAddress: @Sendable (EngineRequest) -> String? = { $0.remoteAddress }
    /// Accepts Engine.IO v3 clients (`EIO=3`: socket.io-client 2.x), as Node's
    /// `allowEIO3`; off, they get "Unsupported protocol version".
    public var allowEIO3 = false
    /// Node's `httpCompression`: gzip/deflate of polling responses from 1024 bytes on, for
    /// clients that accept it (nil: never).
    public var httpCompression: HTTPCompression? = HTTPCompression()
    /// Node's `perMessageDeflate` (off by default, as there): WebSocket messages from
    /// `threshold` bytes on are sent compressed when the client offers the extension.
    public var perMessageDeflate: PerMessageDeflate?

    /// The defaults, which are Node's.
    public init() {}

    /// The `upgrades` list a client is offered on the given transport.
    func upgrades(from transport: EngineTransport) -> [EngineTransport] {
        guard allowUpgrades, transport == .polling, transports.contains(.websocket) else { return [] }
        return [.websocket]
    }
}

/// The `permessage-deflate` WebSocket extension's options (RFC 7692), as Node names them.
public struct PerMessageDeflate: Sendable, Equatable {
    /// Smallest message, in bytes, sent compressed (Node: 1024).
    public var threshold: Int

    /// Compresses messages of at least `threshold` bytes.
    public init(threshold: Int = 1024) {
        self.threshold = threshold
    }
}
