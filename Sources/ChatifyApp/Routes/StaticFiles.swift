import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The page assets and the stock Socket.IO client, read once at start-up from the
/// folders `ChatifyResources` found. Nothing is loaded from the internet.
///
/// Each file carries a strong `ETag` (a hash of its bytes) and `Cache-Control: no-cache`:
/// browsers keep their copy but ask before using it, and get `304` while it is unchanged,
/// so a new release is never hidden behind a cached file while the URLs the templates
/// (and any page written for the Flask backend) use stay as they are.
struct StaticFiles: Sendable {
    struct Asset: Sendable {
        var contentType: String
        var bytes: ByteBuffer
        /// Quoted, as the header carries it.
        var entityTag: String

        init(contentType: String, data: Data) {
            self.contentType = contentType
            self.bytes = ByteBuffer(bytes: data)
            self.entityTag =
                "\"" + SHA256.hash(data: data).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
        }
    }

    let assets: [String: Asset]
    let socketIOClient: Asset

    static func load(_ resources: ChatifyResources, logger: Logger) throws -> StaticFiles {
        var assets: [String: Asset] = [:]
        let folder = URL(fileURLWithPath: resources.staticFiles, isDirectory: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            assets[name] = Asset(contentType: contentType(of: name), data: data)
        }
        let client = try Data(contentsOf: URL(fileURLWithPath: resources.socketIOClient))
        logger.info("serving templates from \(resources.templates)")
        logger.info("serving static files from \(resources.staticFiles)")
        logger.info("serving the Socket.IO client from \(resources.socketIOClient)")
        return StaticFiles(assets: assets, socketIOClient: Asset(contentType: contentType(of: ".js"), data: client))
    }

    static func contentType(of name: String) -> String {
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        return "application/octet-stream"
    }

    func add(to router: Router<ChatifyRequestContext>) {
        router.get("/static/:name") { request, context in
            guard let name = context.parameters.get("name"), let asset = self.assets[name] else {
                throw HTTPError(.notFound)
            }
            return Self.response(asset, request: request)
        }
        router.get("/socket.io/socket.io.min.js") { request, _ in
            Self.response(self.socketIOClient, request: request)
        }
    }

    static func response(_ asset: Asset, request: Request) -> Response {
        var headers: HTTPFields = [.eTag: asset.entityTag, .cacheControl: "no-cache"]
        if let condition = request.headers[.ifNoneMatch], matches(condition, asset.entityTag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.bytes))
    }

    /// `If-None-Match`: `*` or a comma-separated list of tags, compared weakly as
    /// RFC 9110 asks (a `W/` prefix is ignored). One pass over the header.
    static func matches(_ condition: String, _ entityTag: String) -> Bool {
        condition.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == entityTag
        }
    }
}
