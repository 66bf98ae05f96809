public import HTTPTypes
public import NIOCore

/// The part of an HTTP request Engine.IO looks at, independent of the HTTP framework.
public struct EngineRequest: Sendable {
    /// The HTTP method.
    public var method: HTTPRequest.Method
    /// The path, without the query.
    public var path: String
    /// Query parameters; for a repeated name the first value counts.
    public var query: [String: String] {
        get {
            switch parts {
            case .expanded(let query, _): query
            case .packed(let packed): packed.query
            }
        }
        set { parts = .expanded(query: newValue, headers: headers) }
    }
    /// The request's header fields.
    public var headers: HTTPFields {
        get {
            switch parts {
            case .expanded(_, let headers): headers
            case .packed(let packed): packed.headers
            }
        }
        set { parts = .expanded(query: query, headers: newValue) }
    }
    /// The `Host` the client addressed (`127.0.0.1:5000`).
    public var host: String?
    /// The peer's address (`127.0.0.1`), when the framework knows it.
    public var remoteAddress: String?
    /// True when the request came over TLS.
    public var isSecure: Bool

    private var parts: Parts

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
        self.parts = .expanded(query: query, headers: headers)
        self.host = host
        self.remoteAddress = remoteAddress
        self.isSecure = isSecure
    }

    /// The same request with its query and headers packed into one buffer, for a request
    /// kept as long as its session: a parsed field list, its strings and the query's
    /// dictionary cost several times their bytes, and are read only now and then. They
    /// read back as they were.
    func compacted() -> EngineRequest {
        guard case .expanded(let query, let headers) = parts else { return self }
        var compact = self
        compact.parts = .packed(PackedRequestParts(query: query, headers: headers))
        return compact
    }

    /// The same request with its query and headers parsed once: a kept request rebuilds
    /// them on every read, so a caller that reads them several times takes this first.
    public func expanded() -> EngineRequest {
        guard case .packed = parts else { return self }
        var expanded = self
        expanded.parts = .expanded(query: query, headers: headers)
        return expanded
    }

    private enum Parts: Sendable {
        case expanded(query: [String: String], headers: HTTPFields)
        case packed(PackedRequestParts)
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

/// A request's query parameters and header fields in one byte array: each string as its
/// length (7 bits a byte, low bits first) and its bytes; the query's names and values
/// first, then each field's raw name and raw value bytes, in order.
struct PackedRequestParts: Sendable {
    private let queryCount: Int
    private let bytes: [UInt8]

    init(query: [String: String], headers: HTTPFields) {
        var size = 0
        for (name, value) in query { size += Self.packedSize(name.utf8.count) + Self.packedSize(value.utf8.count) }
        for field in headers {
            size += Self.packedSize(field.name.rawName.utf8.count)
            size += field.withUnsafeBytesOfValue { Self.packedSize($0.count) }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for (name, value) in query {
            Self.append(name.utf8, to: &bytes)
            Self.append(value.utf8, to: &bytes)
        }
        for field in headers {
            Self.append(field.name.rawName.utf8, to: &bytes)
            field.withUnsafeBytesOfValue { Self.append($0, to: &bytes) }
        }
        self.queryCount = query.count
        self.bytes = bytes
    }

    var query: [String: String] {
        var query: [String: String] = [:]
        query.reserveCapacity(queryCount)
        var reader = Reader(bytes: bytes)
        for _ in 0..<queryCount {
            guard let name = reader.next(), let value = reader.next() else { break }
            query[string(name)] = string(value)
        }
        return query
    }

    var headers: HTTPFields {
        var reader = Reader(bytes: bytes)
        for _ in 0..<(queryCount * 2) { _ = reader.next() }
        var headers = HTTPFields()
        while let rawName = reader.next(), let value = reader.next() {
            // Every name was a valid field name when it was packed.
            guard let name = HTTPField.Name(string(rawName)) else { continue }
            // Lenient: the value was a field's value, so it comes back byte for byte.
            headers.append(HTTPField(name: name, lenientValue: bytes[value]))
        }
        return headers
    }

    private func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    private static func packedSize(_ length: Int) -> Int {
        var length = length
        var size = length + 1
        while length >= 0x80 {
            length >>= 7
            size += 1
        }
        return size
    }

    private static func append(_ string: some Collection<UInt8>, to bytes: inout [UInt8]) {
        var length = string.count
        while length >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        bytes.append(UInt8(length))
        bytes.append(contentsOf: string)
    }

    /// Walks the packed strings, giving each one's place in the bytes.
    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func next() -> Range<Int>? {
            var length = 0
            var shift = 0
            while offset < bytes.count, shift < 63 {
                let byte = bytes[offset]
                offset += 1
                length |= Int(byte & 0x7F) << shift
                guard byte & 0x80 != 0 else {
                    guard length <= bytes.count - offset else { return nil }
                    defer { offset += length }
                    return offset..<(offset + length)
                }
                shift += 7
            }
            return nil
        }
    }
}
