/// Why a text is not the JSON it was expected to be, and where (byte offset).
public struct JSONParseError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What was wrong at ``JSONParseError/offset``.
    public enum Reason: Equatable, Sendable {
        /// The text ended inside a value (or was empty).
        case unexpectedEnd
        /// A byte that cannot start or continue a value here.
        case unexpectedByte(UInt8)
        /// A number that does not follow the JSON grammar (leading zero, lone `-`, missing digits).
        case invalidNumber
        /// A backslash escape JSON does not define, or a malformed `\u` escape.
        case invalidEscape
        /// Bytes that are not well-formed UTF-8.
        case invalidUTF8
        /// A byte below 0x20 inside a string; JSON requires it escaped.
        case controlCharacterInString
        /// Arrays and objects nested deeper than `limit` (``JSONValue/maximumDepth``).
        case tooDeep(limit: Int)
        /// An object with more than `limit` keys (``JSONValue/maximumKeysPerObject``).
        case tooManyKeys(limit: Int)
        /// Something other than whitespace after a complete value.
        case trailingData
    }

    /// What was wrong.
    public var reason: Reason
    /// Byte offset into the parsed text where the problem was found.
    public var offset: Int

    /// One line naming the problem and the byte offset, for logs and error replies.
    public var description: String {
        switch reason {
        case .unexpectedEnd: return "JSON ends early at byte \(offset)"
        case .unexpectedByte(let byte):
            return "unexpected byte 0x\(String(byte, radix: 16)) in JSON at byte \(offset)"
        case .invalidNumber: return "invalid JSON number at byte \(offset)"
        case .invalidEscape: return "invalid escape in JSON string at byte \(offset)"
        case .invalidUTF8: return "invalid UTF-8 in JSON at byte \(offset)"
        case .controlCharacterInString: return "unescaped control character in JSON string at byte \(offset)"
        case .tooDeep(let limit): return "JSON nested deeper than \(limit) levels at byte \(offset)"
        case .tooManyKeys(let limit): return "JSON object with more than \(limit) keys at byte \(offset)"
        case .trailingData: return "unexpected data after JSON value at byte \(offset)"
        }
    }
}

extension JSONValue {
    /// Nesting limit: deep enough for any real payload, shallow enough that a hostile
    /// payload cannot exhaust the stack (of the parser, and of everything that walks the
    /// value recursively afterwards: serializing, comparing, freeing it).
    public static let maximumDepth = 128

    /// Keys one object may have. Parsing is linear, so this is not about CPU time: it
    /// bounds the hash index and the per-key work of whoever handles the object (relaying,
    /// serializing, the Redis adapter) far below what a 1 MB payload could hold (~100,000
    /// keys), while staying far above what a chat or Socket.IO payload ever carries.
    public static let maximumKeysPerObject = 10_000

    /// Parses one complete JSON text (RFC 8259, as `JSON.parse` accepts it).
    public init(parsing text: String) throws(JSONParseError) {
        var text = text
        let result = text.withUTF8 { bytes in
            Result { () throws(JSONParseError) in try JSONValue(parsing: UnsafeRawBufferPointer(bytes)) }
        }
        self = try result.get()
    }

    /// Parses one complete JSON text from UTF-8 bytes; copies them once only when the
    /// collection has no contiguous storage.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) in try JSONValue(parsing: UnsafeRawBufferPointer(buffer)) }
        }
        if let contiguous {
            self = try contiguous.get()
            return
        }
        let copy = Array(bytes)
        let result = copy.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) in try JSONValue(parsing: buffer) }
        }
        self = try result.get()
    }

    /// Parses one complete JSON text from UTF-8 bytes in memory the caller keeps alive for
    /// the call.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(JSONParseError) {
        var parser = JSONParser(bytes: bytes)
        self = try parser.parseDocument()
    }

    /// Parses the JSON value that starts at `offset` and returns it with the offset
    /// just past it; what follows is left to the caller.
    public static func parsePrefix(_ bytes: UnsafeRawBufferPointer, from offset: Int) throws(JSONParseError) -> (
        JSONValue, end: Int
    ) {
        var parser = JSONParser(bytes: bytes, position: offset)
        let value = try parser.parseValue(depth: 0)
        return (value, parser.position)
    }
}

struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var position: Int

    init(bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw fail(.trailingData) }
        return value
    }

    func fail(_ reason: JSONParseError.Reason) -> JSONParseError {
        JSONParseError(reason: reason, offset: position)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw fail(.unexpectedEnd) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        case let byte:
            throw fail(.unexpectedByte(byte))
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw fail(.unexpectedEnd) }
        let start = literal.utf8Start
        for index in 0..<count where bytes[position + index] != start[index] {
            position += index
            throw fail(.unexpectedByte(bytes[position]))
        }
        position += count
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw fail(.tooDeep(limit: JSONValue.maximumDepth)) }
        position += 1  // {
        var object = JSONObject()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[position] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(bytes[position])) }
            let keyStart = position
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[position] == UInt8(ascii: ":") else { throw fail(.unexpectedByte(bytes[position])) }
            position += 1
            let value = try parseValue(depth: depth)
            object[key] = value
            guard object.count <= JSONValue.maximumKeysPerObject else {
                throw JSONParseError(reason: .tooManyKeys(limit: JSONValue.maximumKeysPerObject), offset: keyStart)
            }
            skipWhitespace()
            guard position < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(object)
            case let byte: throw fail(.unexpectedByte(byte))
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw fail(.tooDeep(limit: JSONValue.maximumDepth)) }
        position += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(items)
            case let byte: throw fail(.unexpectedByte(byte))
            }
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        var isInteger = true
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { throw fail(.unexpectedEnd) }
        // int: 0 | [1-9][0-9]*
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if isDigit(bytes[position]) {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        } else {
            throw fail(.invalidNumber)
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail(.invalidNumber) }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail(.invalidNumber) }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let value = Int64(text) {
            return .integer(value)
        }
        guard let value = Double(text) else { throw JSONParseError(reason: .invalidNumber, offset: start) }
        return .double(value)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func parseString() throws(JSONParseError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes; the bytes between the quotes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                guard let string = String(validating: slice, as: UTF8.self) else {
                    throw JSONParseError(reason: .invalidUTF8, offset: start)
                }
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail(.controlCharacterInString) }
            position += 1
        }
        guard position < bytes.count else { throw fail(.unexpectedEnd) }
        var utf8: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw JSONParseError(reason: .invalidUTF8, offset: start)
                }
                return string
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw fail(.unexpectedEnd) }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try parseUnicodeEscape()
                    utf8.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    position -= 1
                    throw fail(.invalidEscape)
                }
            default:
                if byte < 0x20 { throw fail(.controlCharacterInString) }
                utf8.append(byte)
                position += 1
            }
        }
        throw fail(.unexpectedEnd)
    }

    /// After `\u`: four hex digits, and a second escape when they are a high surrogate.
    /// A lone surrogate becomes U+FFFD: JavaScript allows it, Swift strings cannot hold it.
    mutating func parseUnicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        let first = try parseHex4()
        if (0xD800...0xDBFF).contains(first) {
            if bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                bytes[position + 1] == UInt8(ascii: "u")
            {
                let saved = position
                position += 2
                let second = try parseHex4()
                if (0xDC00...0xDFFF).contains(second) {
                    let value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
                    return Unicode.Scalar(value) ?? "\u{FFFD}"
                }
                position = saved
            }
            return "\u{FFFD}"
        }
        if (0xDC00...0xDFFF).contains(first) { return "\u{FFFD}" }
        return Unicode.Scalar(UInt32(first)) ?? "\u{FFFD}"
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - position >= 4 else { throw fail(.unexpectedEnd) }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }
}
