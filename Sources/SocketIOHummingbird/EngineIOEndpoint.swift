public import EngineIO
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// An Engine.IO server mounted at a path (`/socket.io`), with or without trailing slash.
public struct EngineIOEndpoint: Sendable {
    /// The path, with a leading slash and without a trailing one.
    public let path: String
    /// The server that answers requests on ``path``.
    public let engine: EngineServer
    /// Whether the server in front of it speaks TLS itself (HTTPS/WSS), which the
    /// handshake reports to Socket.IO as `secure`.
    public let isSecure: Bool

    /// Mounts `engine` at `path`; a missing leading slash is added and trailing slashes are
    /// dropped, so `socket.io/` and `/socket.io` are the same endpoint.
    public init(path: String, engine: EngineServer, isSecure: Bool = false) {
        var path = path.hasPrefix("/") ? path : "/" + path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        self.engine = engine
        self.isSecure = isSecure
    }

    func matches(_ requestPath: String) -> Bool {
        requestPath == path || requestPath == path + "/"
    }
}

extension EngineRequest {
    /// The framework-neutral view of a Hummingbird request.
    init(
        method: HTTPRequest.Method, uri: URI, headers: HTTPFields, authority: String?, remoteAddress: SocketAddress?,
        isSecure: Bool
    ) {
        var query: [String: String] = [:]
        for (key, value) in uri.queryParameters where query[String(key)] == nil {
            query[String(key)] = String(value)
        }
        self.init(
            method: method,
            path: uri.path,
            query: query,
            headers: headers,
            host: authority,
            remoteAddress: remoteAddress?.ipAddress,
            isSecure: isSecure
        )
    }
}
