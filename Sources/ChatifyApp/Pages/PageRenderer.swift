import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the pages from the Mustache templates in the resource folder. Every
/// `{{value}}` is escaped by `HTMLEscaping` (see `ByteWiseHTMLContentType`); the templates
/// never use the raw `{{{value}}}` form, so no user text reaches a page as HTML.
public struct PageRenderer: Sendable {
    let library: MustacheLibrary

    public enum LoadError: Error, CustomStringConvertible {
        case templatesMissing(String)
        case invalidTemplate(name: String, detail: String)
        public var description: String {
            switch self {
            case .templatesMissing(let detail): return "page templates not found: \(detail)"
            case .invalidTemplate(let name, let detail): return "page template \(name) is invalid: \(detail)"
            }
        }
    }

    public static func load(templatesFolder: String) async throws -> PageRenderer {
        PageRenderer(library: try library(templates: templateFiles(in: templatesFolder)))
    }

    /// The templates in `folder`, each named by its file name without `.mustache`.
    static func templateFiles(in folder: String) throws -> [(name: String, text: String)] {
        let folderURL = URL(fileURLWithPath: folder, isDirectory: true)
        let files = try FileManager.default.contentsOfDirectory(at: folderURL, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "mustache" }
        guard !files.isEmpty else { throw LoadError.templatesMissing("no .mustache file in \(folder)") }
        return try files.map { file in
            (file.deletingPathExtension().lastPathComponent, try String(contentsOf: file, encoding: .utf8))
        }
    }

    /// The templates, each switched to `ByteWiseHTMLContentType` before its first tag.
    /// The switch lasts to the end of the template and covers the blocks a page puts in
    /// `base`; the library starts every template and partial on its own HTML escaping
    /// otherwise, so it is added here rather than left to each file to remember.
    static func library(templates: [(name: String, text: String)]) throws -> MustacheLibrary {
        MustacheContentTypes.register(ByteWiseHTMLContentType(), named: ByteWiseHTMLContentType.name)
        var library = MustacheLibrary()
        for (name, text) in templates {
            do {
                try library.register("{{% CONTENT_TYPE: \(ByteWiseHTMLContentType.name) }}" + text, named: name)
            } catch {
                throw LoadError.invalidTemplate(name: name, detail: "\(error)")
            }
        }
        return library
    }

    /// A page, 200 unless told otherwise.
    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        guard let html = library.render(model, withTemplate: template) else {
            return Pages.plain(
                .internalServerError, "Internal Server Error", "The page template \(template) is missing.")
        }
        return Pages.html(html, status: status)
    }
}

/// Responses that are not templates: redirects, error pages, JSON.
enum Pages {
    static func html(_ html: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A 302 with the body Flask writes, so a client that shows it sees the same thing.
    static func redirect(to location: String, setCookies: [String] = []) -> Response {
        let escaped = HTMLEscaping.escape(location)
        let body = """
            <!doctype html>
            <html lang=en>
            <title>Redirecting...</title>
            <h1>Redirecting...</h1>
            <p>You should be redirected automatically to the target URL: <a href="\(escaped)">\(escaped)</a>. If not, click the link.

            """
        var headers: HTTPFields = [.location: location]
        for cookie in setCookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return html(body, status: .found, headers: headers)
    }

    /// A short error page in the style of Werkzeug's, with a message saying what to do.
    static func plain(_ status: HTTPResponse.Status, _ title: String, _ message: String, headers: HTTPFields = [:])
        -> Response
    {
        let body = """
            <!doctype html>
            <html lang=en>
            <title>\(status.code) \(HTMLEscaping.escape(title))</title>
            <h1>\(HTMLEscaping.escape(title))</h1>
            <p>\(HTMLEscaping.escape(message))</p>

            """
        return html(body, status: status, headers: headers)
    }

    static func badRequest(_ message: String) -> Response {
        plain(.badRequest, "Bad Request", message)
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n"))
        )
    }

    static func json(_ text: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n"))
        )
    }
}
