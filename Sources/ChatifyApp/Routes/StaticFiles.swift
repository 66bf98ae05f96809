import Foundation
import Hummingbird
import Logging

/// The page assets and the stock Socket.IO client, read once at start-up from the
/// folders `ChatifyResources` found. Nothing is loaded from the internet.
struct StaticFiles: Sendable {
    struct Asset: Sendable {
        var contentType: String
        var bytes: ByteBuffer

        init(contentType: String, data: Data) {
            self.contentType = contentType
            self.bytes = ByteBuffer(bytes: data)
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
        router.get("/static/:name") { _, context in
            guard let name = context.parameters.get("name"), let asset = self.assets[name] else {
                throw HTTPError(.notFound)
            }
            return Response(
                status: .ok,
                headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=3600"],
                body: ResponseBody(byteBuffer: asset.bytes)
            )
        }
        router.get("/socket.io/socket.io.min.js") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: self.socketIOClient.contentType, .cacheControl: "public, max-age=86400"],
                body: ResponseBody(byteBuffer: self.socketIOClient.bytes)
            )
        }
    }
}
