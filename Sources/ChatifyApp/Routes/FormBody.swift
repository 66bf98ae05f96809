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
        // Cut by bytes, as cookies are: a combining mark after `&` or `=` would otherwise
        // form one Character with it and hide the separator.
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decodeComponent(Substring(parts[0]))
            let value = parts.count > 1 ? Self.decodeComponent(Substring(parts[1])) : ""
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

    /// `+` as a space and `%XX` as that byte. A component with a broken escape, or whose
    /// bytes are not UTF-8, keeps its escapes as written (only `+` becomes a space), as
    /// Foundation's `removingPercentEncoding` fallback did. Byte-wise: Foundation's
    /// string replacing and unescaping were most of a form's parsing cost.
    static func decodeComponent(_ component: Substring) -> String {
        var spaced = [UInt8]()
        var decoded = [UInt8]()
        spaced.reserveCapacity(component.utf8.count)
        decoded.reserveCapacity(component.utf8.count)
        var escapesValid = true
        var pendingEscape: [UInt8] = []
        for byte in component.utf8 {
            let plain = byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte
            spaced.append(plain)
            guard escapesValid else { continue }
            if !pendingEscape.isEmpty || byte == UInt8(ascii: "%") {
                pendingEscape.append(byte)
                if pendingEscape.count == 3 {
                    if let high = hexValue(pendingEscape[1]), let low = hexValue(pendingEscape[2]) {
                        decoded.append(high << 4 | low)
                    } else {
                        escapesValid = false
                    }
                    pendingEscape.removeAll(keepingCapacity: true)
                }
            } else {
                decoded.append(plain)
            }
        }
        if escapesValid, pendingEscape.isEmpty, let text = String(validating: decoded, as: UTF8.self) { return text }
        return String(decoding: spaced, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
