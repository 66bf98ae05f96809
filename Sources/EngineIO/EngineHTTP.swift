public import HTTPTypes
public import NIOCore

/// The part of an HTTP request Engine.IO looks at, independent of the HTTP framework.
public struct EngineRequest: Sendable {
    public var method: HTTPRequest.Method
    public var path: String
    /// Query parameters; for a repeated name the first value counts.
    public var query: [String: String]
    public var headers: HTTPFields
    /// The `Host` the client addressed (`127.0.0.1:5000`).
    public var host: String?
    /// The peer's address (`127.0.0.1`), when the framework knows it.
    public var remoteAddress: String?
    /// True when the request came over TLS.
    public var isSecure: Bool

    public init(
        method: HTTPRequest.Method,
        path: String,
        query: [String: String],
        headers: HTTPFields,
        host: String? = nil,
        remoteAddress: String? = nil,
        isSecure: Bool = false
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.host = host
        self.remoteAddress = remoteAddress
        self.isSecure = isSecure
    }

    public var origin: String? { headers[.origin] }

    /// Cookies sent with the request, by name (first one wins).
    public var cookies: [String: String] {
        var cookies: [String: String] = [:]
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: " \t")
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                let name = String(trimmed[..<equals])
                var value = trimmed[trimmed.index(after: equals)...]
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                if cookies[name] == nil { cookies[name] = String(value) }
            }
        }
        return cookies
    }
}

/// An answer to a polling request, ready to be written by the HTTP framework.
public struct EngineResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ByteBuffer

    public init(status: HTTPResponse.Status, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The protocol errors of the reference server, with its codes and messages.
public enum EngineProtocolError: Int, Error, Sendable, CustomStringConvertible {
    case unknownTransport = 0
    case unknownSession = 1
    case badHandshakeMethod = 2
    case badRequest = 3
    case forbidden = 4
    case unsupportedProtocolVersion = 5

    public var message: String {
        switch self {
        case .unknownTransport: return "Transport unknown"
        case .unknownSession: return "Session ID unknown"
        case .badHandshakeMethod: return "Bad handshake method"
        case .badRequest: return "Bad request"
        case .forbidden: return "Forbidden"
        case .unsupportedProtocolVersion: return "Unsupported protocol version"
        }
    }

    public var status: HTTPResponse.Status { self == .forbidden ? .forbidden : .badRequest }

    public var description: String { message }

    /// `{"code":N,"message":"..."}`, as the reference answers.
    var jsonBody: String { "{\"code\":\(rawValue),\"message\":\"\(message)\"}" }
}
