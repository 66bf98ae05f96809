import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the pages from the Mustache templates bundled with the module. Mustache
/// escapes every `{{value}}`; the templates never use the raw `{{{value}}}` form, so no
/// user text reaches a page as HTML.
public struct PageRenderer: Sendable {
    let library: MustacheLibrary

    public enum LoadError: Error, CustomStringConvertible {
        case templatesMissing(String)
        public var description: String {
            switch self {
            case .templatesMissing(let detail): return "page templates not found: \(detail)"
            }
        }
    }

    public static func load() async throws -> PageRenderer {
        guard let folder = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw LoadError.templatesMissing("no Templates folder in the ChatifyApp resources")
        }
        return PageRenderer(library: try await MustacheLibrary(directory: folder.path))
    }

    /// A page, 200 unless told otherwise.
    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        guard let html = library.render(model, withTemplate: template) else {
            return Pages.plain(.internalServerError, "Internal Server Error", "The page template \(template) is missing.")
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
        let escaped = escape(location)
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
    static func plain(_ status: HTTPResponse.Status, _ title: String, _ message: String, headers: HTTPFields = [:]) -> Response {
        let body = """
            <!doctype html>
            <html lang=en>
            <title>\(status.code) \(escape(title))</title>
            <h1>\(escape(title))</h1>
            <p>\(escape(message))</p>

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

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
