/// Where serialized JSON goes: a byte array here, a NIO `ByteBuffer` in the protocol layers.
public protocol JSONOutput {
    /// Appends one byte.
    mutating func writeJSONByte(_ byte: UInt8)
    /// Appends bytes that the serializer has already escaped.
    mutating func writeJSONBytes(_ bytes: UnsafeRawBufferPointer)
}

extension JSONOutput {
    /// Appends the UTF-8 of `string` as it is, unescaped.
    @inlinable
    public mutating func writeJSONString(_ string: String) {
        var string = string
        string.withUTF8 { writeJSONBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Appends a constant piece of JSON syntax, such as `null` or `":"`.
    @inlinable
    public mutating func writeJSONStatic(_ text: StaticString) {
        writeJSONBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// A byte array collects serialized JSON.
extension Array: JSONOutput where Element == UInt8 {
    /// Appends one byte.
    @inlinable public mutating func writeJSONByte(_ byte: UInt8) { append(byte) }
    /// Appends the bytes.
    @inlinable public mutating func writeJSONBytes(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
}

extension JSONValue {
    /// The value as `JSON.stringify` writes it (no spaces, keys in order).
    public var jsonString: String {
        var out: [UInt8] = []
        var noAttachments: [[UInt8]]? = nil
        serialize(into: &out, attachments: &noAttachments)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes the value. With `attachments`, each `.binary` is moved there and written as
    /// the Socket.IO placeholder `{"_placeholder":true,"num":N}`; without, it is written the
    /// way Node writes a Buffer, `{"type":"Buffer","data":[...]}`.
    @inlinable
    public func serialize<Output: JSONOutput>(into out: inout Output, attachments: inout [[UInt8]]?) {
        switch self {
        case .null: out.writeJSONStatic("null")
        case .bool(let value): value ? out.writeJSONStatic("true") : out.writeJSONStatic("false")
        case .integer(let value): JSONValue.writeInteger(value, into: &out)
        case .double(let value): JSONValue.writeDouble(value, into: &out)
        case .string(let value): JSONValue.writeQuoted(value, into: &out)
        case .array(let items):
            out.writeJSONByte(UInt8(ascii: "["))
            var first = true
            for item in items {
                if !first { out.writeJSONByte(UInt8(ascii: ",")) }
                first = false
                item.serialize(into: &out, attachments: &attachments)
            }
            out.writeJSONByte(UInt8(ascii: "]"))
        case .object(let object):
            out.writeJSONByte(UInt8(ascii: "{"))
            var first = true
            for entry in object.entries {
                if !first { out.writeJSONByte(UInt8(ascii: ",")) }
                first = false
                JSONValue.writeQuoted(entry.key, into: &out)
                out.writeJSONByte(UInt8(ascii: ":"))
                entry.value.serialize(into: &out, attachments: &attachments)
            }
            out.writeJSONByte(UInt8(ascii: "}"))
        case .binary(let bytes):
            if attachments != nil {
                out.writeJSONStatic("{\"_placeholder\":true,\"num\":")
                JSONValue.writeInteger(Int64(attachments!.count), into: &out)
                out.writeJSONByte(UInt8(ascii: "}"))
                attachments!.append(bytes)
            } else {
                out.writeJSONStatic("{\"type\":\"Buffer\",\"data\":[")
                for (index, byte) in bytes.enumerated() {
                    if index > 0 { out.writeJSONByte(UInt8(ascii: ",")) }
                    JSONValue.writeInteger(Int64(byte), into: &out)
                }
                out.writeJSONStatic("]}")
            }
        }
    }

    @inlinable
    static func writeInteger<Output: JSONOutput>(_ value: Int64, into out: inout Output) {
        if value >= 0 && value < 10 {
            out.writeJSONByte(UInt8(ascii: "0") + UInt8(value))
            return
        }
        // 20 digits and a sign fit any Int64.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { buffer in
            var magnitude = value.magnitude
            var index = 21
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "-")
            }
            out.writeJSONBytes(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[index..<21])))
        }
    }

    /// Numbers as JavaScript prints them (ECMAScript Number::toString): `2` for 2.0,
    /// `100000000000000000000` for 1e20, `0.000001`, `1e-7`, `1e+21`; `null` for NaN
    /// and the infinities, as `JSON.stringify` writes them.
    @usableFromInline
    static func writeDouble<Output: JSONOutput>(_ value: Double, into out: inout Output) {
        guard value.isFinite else {
            out.writeJSONStatic("null")
            return
        }
        if value == 0 {
            out.writeJSONByte(UInt8(ascii: "0"))
            return
        }
        out.writeJSONString(javaScriptString(value))
    }

    static func javaScriptString(_ value: Double) -> String {
        // Swift's description has the shortest digits that round-trip, as JavaScript
        // needs; only the layout differs.
        let text = value.magnitude.description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        let integerPart = mantissa.prefix { $0 != "." }
        let fractionPart = mantissa.drop { $0 != "." }.dropFirst()
        var digits = Array(integerPart) + Array(fractionPart)
        var point = integerPart.count + exponent  // value = 0.digits × 10^point
        while digits.first == "0" {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let k = digits.count
        let n = point
        var result = value < 0 ? "-" : ""
        if k <= n && n <= 21 {
            result += String(digits) + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            result += String(digits[..<n]) + "." + String(digits[n...])
        } else if -6 < n && n <= 0 {
            result += "0." + String(repeating: "0", count: -n) + String(digits)
        } else {
            let e = n - 1
            result += String(digits[0])
            if k > 1 { result += "." + String(digits[1...]) }
            result += "e" + (e < 0 ? "-" : "+") + String(abs(e))
        }
        return result
    }

    @inlinable
    static func writeQuoted<Output: JSONOutput>(_ string: String, into out: inout Output) {
        out.writeJSONByte(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index {
                    out.writeJSONBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<index])))
                }
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.writeJSONStatic("\\\"")
                case UInt8(ascii: "\\"): out.writeJSONStatic("\\\\")
                case 0x08: out.writeJSONStatic("\\b")
                case 0x0C: out.writeJSONStatic("\\f")
                case 0x0A: out.writeJSONStatic("\\n")
                case 0x0D: out.writeJSONStatic("\\r")
                case 0x09: out.writeJSONStatic("\\t")
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.writeJSONStatic("\\u00")
                    out.writeJSONByte(hex.utf8Start[Int(byte >> 4)])
                    out.writeJSONByte(hex.utf8Start[Int(byte & 0x0F)])
                }
            }
            if runStart < utf8.count {
                out.writeJSONBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count])))
            }
        }
        out.writeJSONByte(UInt8(ascii: "\""))
    }
}

extension JSONValue: CustomStringConvertible {
    /// The value as JSON (``jsonString``).
    public var description: String { jsonString }
}
