public import HTTPTypes
public import NIOCore

/// The part of an HTTP request Engine.IO looks at, independent of the HTTP framework.
public struct EngineRequest: Sendable {
    /// The HTTP method.
    public var method: HTTPRequest.Method
    /// The path, without the query.
    public var path: String
    /// Query parameters; for a repeated name the first value counts.
    public var query: [String: String]
    /// The request's header fields.
    public var headers: HTTPFields
    /// The `Host` the client addressed (`127.0.0.1:5000`).
    public var host: String?
    /// The peer's address (`127.0.0.1`), when the framework knows it.
    public var remoteAddress: String?
    /// True when the request came over TLS.
    public var isSecure: Bool

    /// A request as the HTTP framework received it.
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

    /// The `Origin` header, checked against ``EngineConfiguration/cors``.
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
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The header fields, CORS and content type included.
    public var headers: HTTPFields
    /// The body: a polling payload, or a JSON error.
    public var body: ByteBuffer

    /// An answer with `status`, `headers` and `body`.
    public init(status: HTTPResponse.Status, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The protocol errors of the reference server, with its codes and messages.
public enum EngineProtocolError: Int, Error, Sendable, CustomStringConvertible {
    /// The `transport` query parameter is missing, unknown, not the request's kind, or not
    /// offered (code 0).
    case unknownTransport = 0
    /// No open session has the `sid` (code 1).
    case unknownSession = 1
    /// A polling handshake that is not a GET (code 2).
    case badHandshakeMethod = 2
    /// A request the session cannot take now: polling on an upgraded session, a second
    /// pending poll, an upgrade when upgrades are off, a malformed body (code 3).
    case badRequest = 3
    /// An origin the CORS policy refuses, or a client address over its session limit (code 4).
    case forbidden = 4
    /// `EIO` is neither 4 nor, with `allowEIO3`, 3 (code 5).
    case unsupportedProtocolVersion = 5

    /// The reference server's message for the error.
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

    /// The HTTP status it is answered with: 403 for ``forbidden``, 400 for the others.
    public var status: HTTPResponse.Status { self == .forbidden ? .forbidden : .badRequest }

    /// The reference server's message (``message``).
    public var description: String { message }

    /// `{"code":N,"message":"..."}`, as the reference answers.
    var jsonBody: String { "{\"code\":\(rawValue),\"message\":\"\(message)\"}" }
}
