import Foundation
import Hummingbird

/// The fields of an `application/x-www-form-urlencoded` body, decoded as browsers
/// encode them (`+` is a space, `%XX` a byte). A field that is missing is a 400 that
/// names it, instead of the old backend's redirect to /login.
public struct FormBody: Sendable {
    public private(set) var fields: [String: String] = [:]

    /// Bodies larger than this are refused with 413.
    public static let maximumSize = 64 * 1024

    public struct MissingField: Error {
        public let name: String
    }

    public init(decoding text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decodeComponent(parts[0])
            let value = parts.count > 1 ? Self.decodeComponent(parts[1]) : ""
            if fields[name] == nil { fields[name] = value }
        }
    }

    static func read(_ request: Request) async throws -> FormBody {
        let buffer = try await request.body.collect(upTo: maximumSize)
        return FormBody(decoding: String(buffer: buffer))
    }

    public func required(_ name: String) throws(MissingField) -> String {
        guard let value = fields[name] else { throw MissingField(name: name) }
        return value
    }

    public subscript(name: String) -> String? { fields[name] }

    static func decodeComponent(_ component: Substring) -> String {
        let spaced = component.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
