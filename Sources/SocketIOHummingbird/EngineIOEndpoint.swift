public import EngineIO
import Hummingbird
import HummingbirdCore
import HTTPTypes
import NIOCore

/// An Engine.IO server mounted at a path (`/socket.io`), with or without trailing slash.
public struct EngineIOEndpoint: Sendable {
    public let path: String
    public let engine: EngineServer

    public init(path: String, engine: EngineServer) {
        var path = path.hasPrefix("/") ? path : "/" + path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        self.engine = engine
    }

    func matches(_ requestPath: String) -> Bool {
        requestPath == path || requestPath == path + "/"
    }
}

extension EngineRequest {
    /// The framework-neutral view of a Hummingbird request.
    init(method: HTTPRequest.Method, uri: URI, headers: HTTPFields, authority: String?, remoteAddress: SocketAddress?) {
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
            isSecure: false
        )
    }
}
