import EngineIO
public import SocketIOHummingbird

/// How bytes travel: compression of polling responses and WebSocket messages, TLS, and
/// what slow clients may hold. Defaults as Node's engine.io: polling compression on from
/// 1024 bytes, `permessage-deflate` off, no TLS; timeouts as Node's `http.Server`.
public struct TransportSettings: Sendable, Equatable {
    /// `HTTP_COMPRESSION`: gzip/deflate polling responses for clients that accept it.
    public var httpCompression = true
    /// `HTTP_COMPRESSION_THRESHOLD`: smallest polling response compressed, in bytes.
    public var httpCompressionThreshold = 1024
    /// `WS_PER_MESSAGE_DEFLATE`: accept the `permessage-deflate` WebSocket extension.
    public var perMessageDeflate = false
    /// `WS_PER_MESSAGE_DEFLATE_THRESHOLD`: smallest WebSocket message compressed, in bytes.
    public var perMessageDeflateThreshold = 1024
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`: serve HTTPS and WSS on `PORT` with them.
    public var tls: TLSFiles?
    /// `HTTP_HEADERS_TIMEOUT`, `HTTP_KEEP_ALIVE_TIMEOUT`, `HTTP_REQUEST_TIMEOUT` (seconds)
    /// and `MAX_TCP_CONNECTIONS_PER_IP`, each 0 for off.
    public var connectionLimits = HTTPConnectionLimits()

    public init() {}

    /// The Engine.IO options these settings stand for.
    func apply(to engine: inout EngineConfiguration) {
        engine.httpCompression = httpCompression ? HTTPCompression(threshold: httpCompressionThreshold) : nil
        engine.perMessageDeflate = perMessageDeflate ? PerMessageDeflate(threshold: perMessageDeflateThreshold) : nil
    }
}
