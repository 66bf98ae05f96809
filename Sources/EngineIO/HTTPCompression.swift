import CompressNIO
import HTTPTypes
import NIOCore

/// Node's `httpCompression`: polling responses of at least `threshold` bytes go out
/// gzip- or deflate-encoded when the client's `Accept-Encoding` allows it.
public struct HTTPCompression: Sendable, Equatable {
    /// Smallest body, in bytes, worth compressing (Node: 1024).
    public var threshold: Int

    /// Compresses polling responses of at least `threshold` bytes.
    public init(threshold: Int = 1024) {
        self.threshold = threshold
    }

    /// The response with its body encoded as the request accepts. A body under the
    /// threshold is left alone; one over it also gets `Vary: Accept-Encoding`, so caches
    /// do not hand a compressed answer to a client that did not ask for one.
    func compress(_ response: EngineResponse, for request: EngineRequest) -> EngineResponse {
        guard response.body.readableBytes >= threshold else { return response }
        var response = response
        response.headers[.vary] = "Accept-Encoding"
        let accepted = request.headers[values: .acceptEncoding].joined(separator: ",")
        guard let coding = ContentCoding.preferred(acceptEncoding: accepted) else { return response }
        var input = response.body
        // zlib cannot fail on a complete in-memory buffer short of running out of memory;
        // if it does, the plain body is still a correct answer.
        guard let compressed = try? input.compress(with: coding.algorithm) else { return response }
        response.body = compressed
        response.headers[.contentEncoding] = coding.rawValue
        return response
    }
}

/// The two HTTP content codings the server can produce.
public enum ContentCoding: String, Sendable, CaseIterable {
    /// `gzip` (RFC 1952).
    case gzip
    /// HTTP's `deflate` is the zlib format (RFC 1950), as Node's `zlib.createDeflate` writes.
    case deflate

    var algorithm: CompressionAlgorithm {
        switch self {
        case .gzip: return .gzip()
        case .deflate: return .zlib()
        }
    }

    /// The coding an `Accept-Encoding` value prefers (highest q-value; gzip on a tie),
    /// or nil when it accepts neither. `*` stands for codings not named; `q=0` refuses.
    public static func preferred(acceptEncoding: String) -> ContentCoding? {
        var named: [String: Double] = [:]
        var wildcard: Double?
        for item in acceptEncoding.split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let token = parts.first?.trimmingCharacters(in: " \t").lowercased(), !token.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.trimmingCharacters(in: " \t")
                guard pair.lowercased().hasPrefix("q=") else { continue }
                // A malformed q-value refuses the coding rather than guessing.
                quality = Double(pair.dropFirst(2)).map { min(max($0, 0), 1) } ?? 0
            }
            if token == "*" {
                wildcard = quality
            } else if named[token] == nil {
                named[token] = quality
            }
        }
        var best: (coding: ContentCoding, quality: Double)?
        for coding in allCases {
            let quality = named[coding.rawValue] ?? named[coding == .gzip ? "x-gzip" : ""] ?? wildcard ?? 0
            if quality > 0, quality > (best?.quality ?? 0) { best = (coding, quality) }
        }
        return best?.coding
    }
}
