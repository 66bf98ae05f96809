import NIOCore

/// A value of the Redis serialization protocol, RESP2 or RESP3.
enum RESPValue: Sendable, Equatable {
    /// `+text`
    case simpleString(String)
    /// `-message`
    case error(String)
    /// `:number`
    case integer(Int64)
    /// `$length` and the bytes.
    case bulkString([UInt8])
    /// `_`, or RESP2's `$-1` and `*-1`.
    case null
    /// `*count`
    case array([RESPValue])
    /// `%count`: keys and values in the order received.
    case map([RESPMapEntry])
    /// `~count`
    case set([RESPValue])
    /// `,number` (also `inf`, `-inf` and `nan`).
    case double(Double)
    /// `#t` or `#f`
    case boolean(Bool)
    /// `(digits`, kept as text: it may not fit any fixed-width integer.
    case bigNumber(String)
    /// `=length` with a three-letter format (`txt`, `mkd`) before the text.
    case verbatimString(format: String, text: [UInt8])
    /// `!length`: an error with a binary-safe message.
    case blobError([UInt8])
    /// `>count`: out-of-band data such as pub/sub messages.
    case push([RESPValue])

    /// The bytes of a bulk, simple or verbatim string.
    var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        case .verbatimString(_, let text): return text
        default: return nil
        }
    }

    /// The text of a bulk, simple or verbatim string (invalid UTF-8 repaired).
    var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// The message of an error reply (simple or blob), nil for any other value.
    var errorMessage: String? {
        switch self {
        case .error(let message): return message
        case .blobError(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    var elements: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): return elements
        default: return nil
        }
    }

    /// A command as Redis expects it: an array of bulk strings.
    static func command(_ arguments: [[UInt8]]) -> RESPValue { .array(arguments.map { .bulkString($0) }) }

    /// Writes the value in its wire form (RESP3 for RESP3-only types).
    func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .simpleString(let text): Self.writeLine(UInt8(ascii: "+"), text, into: &buffer)
        case .error(let message): Self.writeLine(UInt8(ascii: "-"), message, into: &buffer)
        case .integer(let number): Self.writeLine(UInt8(ascii: ":"), String(number), into: &buffer)
        case .bulkString(let bytes): Self.writeBlob(UInt8(ascii: "$"), bytes, into: &buffer)
        case .null: buffer.writeStaticString("_\r\n")
        case .array(let elements): Self.writeAggregate(UInt8(ascii: "*"), elements, into: &buffer)
        case .set(let elements): Self.writeAggregate(UInt8(ascii: "~"), elements, into: &buffer)
        case .push(let elements): Self.writeAggregate(UInt8(ascii: ">"), elements, into: &buffer)
        case .map(let entries):
            Self.writeLine(UInt8(ascii: "%"), String(entries.count), into: &buffer)
            for entry in entries {
                entry.key.encode(into: &buffer)
                entry.value.encode(into: &buffer)
            }
        case .double(let number):
            let text: String
            if number.isNaN {
                text = "nan"
            } else if number.isInfinite {
                text = number < 0 ? "-inf" : "inf"
            } else {
                text = "\(number)"
            }
            Self.writeLine(UInt8(ascii: ","), text, into: &buffer)
        case .boolean(let value): buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let digits): Self.writeLine(UInt8(ascii: "("), digits, into: &buffer)
        case .verbatimString(let format, let text):
            Self.writeBlob(UInt8(ascii: "="), Array(format.utf8) + [UInt8(ascii: ":")] + text, into: &buffer)
        case .blobError(let bytes): Self.writeBlob(UInt8(ascii: "!"), bytes, into: &buffer)
        }
    }

    private static func writeLine(_ type: UInt8, _ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    private static func writeBlob(_ type: UInt8, _ bytes: [UInt8], into buffer: inout ByteBuffer) {
        writeLine(type, String(bytes.count), into: &buffer)
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    private static func writeAggregate(_ type: UInt8, _ elements: [RESPValue], into buffer: inout ByteBuffer) {
        writeLine(type, String(elements.count), into: &buffer)
        for element in elements { element.encode(into: &buffer) }
    }
}

/// One key and value of a RESP3 map.
struct RESPMapEntry: Sendable, Equatable {
    var key: RESPValue
    var value: RESPValue
}
