import Mustache

/// Escaping of text for HTML content and quoted attribute values.
///
/// It works on UTF-8 bytes, not on Characters: a grapheme cluster such as U+06DD followed
/// by `<`, or `>` followed by U+0301, is not equal to the Character "<" or ">", yet the
/// browser still reads the `<` or `>` in it. The five ASCII bytes below never occur inside
/// a multi-byte UTF-8 sequence, so replacing them byte by byte keeps the rest intact.
enum HTMLEscaping {
    static func escape(_ text: String) -> String {
        var text = text
        let escaped = text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.contains(where: needsEscaping) else { return nil }
            var escaped: [UInt8] = []
            escaped.reserveCapacity(utf8.count + 16)
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "&"): escaped.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "<"): escaped.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): escaped.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "\""): escaped.append(contentsOf: "&quot;".utf8)
                case UInt8(ascii: "'"): escaped.append(contentsOf: "&#39;".utf8)
                default: escaped.append(byte)
                }
            }
            return escaped
        }
        guard let escaped else { return text }
        return String(decoding: escaped, as: UTF8.self)
    }

    static func needsEscaping(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'"): return true
        default: return false
        }
    }
}

/// The content type every page template renders with, so that `{{value}}` is escaped by
/// `HTMLEscaping` instead of the Mustache library's own escaping, which compares Characters.
struct ByteWiseHTMLContentType: MustacheContentType {
    /// The name the templates' `{{% CONTENT_TYPE: … }}` pragma selects it by.
    static let name = "CHATIFY_HTML"

    func escapeText(_ text: String) -> String { HTMLEscaping.escape(text) }
}
