import Foundation
import Hummingbird
import Logging

/// The page assets bundled with the module, and the stock Socket.IO client, read once
/// at start-up. Nothing is loaded from the internet.
struct StaticFiles: Sendable {
    let assets: [String: (contentType: String, bytes: ByteBuffer)]
    let socketIOClient: ByteBuffer?

    static func load(socketIOClientPath: String?, logger: Logger) throws -> StaticFiles {
        var assets: [String: (String, ByteBuffer)] = [:]
        if let folder = Bundle.module.url(forResource: "Static", withExtension: nil) {
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                let data = try Data(contentsOf: folder.appendingPathComponent(name))
                assets[name] = (contentType(of: name), ByteBuffer(bytes: data))
            }
        }
        var client: ByteBuffer?
        for candidate in socketIOClientCandidates(socketIOClientPath) {
            if let data = FileManager.default.contents(atPath: candidate) {
                client = ByteBuffer(bytes: data)
                logger.info("serving the Socket.IO client from \(candidate)")
                break
            }
        }
        if client == nil {
            logger.warning(
                "socket.io.min.js not found (set SOCKETIO_CLIENT_JS or run scripts/setup): the chat page cannot connect"
            )
        }
        return StaticFiles(assets: assets, socketIOClient: client)
    }

    /// SOCKETIO_CLIENT_JS, else where `scripts/setup` puts it, from the working directory.
    static func socketIOClientCandidates(_ configured: String?) -> [String] {
        if let configured { return [configured] }
        return ["Vendor/socket.io.min.js"]
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
            guard let client = self.socketIOClient else { throw HTTPError(.notFound) }
            return Response(
                status: .ok,
                headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=86400"],
                body: ResponseBody(byteBuffer: client)
            )
        }
    }
}
