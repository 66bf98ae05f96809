import NIOCore

/// What a Redis server sent that is not valid RESP, or exceeds the parser's limits. The
/// connection it came on cannot be trusted any more and is closed.
struct RESPProtocolError: Error, CustomStringConvertible, Equatable {
    let message: String
    var description: String { "Redis protocol error: \(message)" }
}

/// Reads RESP2 and RESP3 values from bytes as they arrive. Each byte is looked at once:
/// a value split over many reads is resumed where the previous read stopped, never
/// re-scanned from its start. Attributes (`|`) are read and dropped.
struct RESPParser {
    /// Bounds on what one value may hold, so a broken or hostile server cannot make
    /// this process allocate without limit or recurse without end.
    struct Limits: Sendable {
        /// The longest bulk, verbatim or blob-error string, in bytes. Redis allows 512
        /// MiB, but the adapter only reads broadcasts and cluster replies, which
        /// Engine.IO's payload limit keeps far smaller.
        var maximumBulkLength: Int
        /// The most one top-level value may cost: its bytes on the wire plus
        /// ``costPerElement`` for each value in it, so neither many big strings in one
        /// array nor many tiny nested elements can grow memory without bound.
        var maximumValueBytes: Int
        /// What each element counts against ``maximumValueBytes`` beyond its wire bytes:
        /// roughly what a parsed value occupies in memory.
        var costPerElement = 32
        /// The longest simple string, error, number or length line, in bytes.
        var maximumLineLength = 64 * 1024
        /// The most elements one array, set, push or map (keys and values) may announce.
        var maximumAggregateCount = 16 * 1024 * 1024
        /// How deeply aggregates may nest.
        var maximumDepth = 32

        /// Limits for values of at most `maximumValueBytes`; one string may take half of it.
        init(maximumValueBytes: Int = RedisConfiguration.defaultMaximumValueBytes) {
            self.maximumValueBytes = maximumValueBytes
            self.maximumBulkLength = maximumValueBytes / 2
        }
    }

    private enum AggregateKind {
        case array, set, push, map, attribute
    }

    /// An aggregate whose elements are still arriving.
    private struct Frame {
        let kind: AggregateKind
        var remaining: Int
        var elements: [RESPValue]
    }

    private enum BlobKind {
        case bulkString, verbatimString, blobError
    }

    let limits: Limits
    /// Open aggregates, innermost last.
    private var frames: [Frame] = []
    /// A blob whose header was read and whose bytes (and CRLF) are awaited.
    private var pendingBlob: (kind: BlobKind, length: Int)?
    /// How many bytes of the current line were already searched for its end.
    private var scannedLineBytes = 0
    /// Bytes looked at in search of line ends, over the parser's life: what shows the
    /// search is linear in the input however it is split.
    private(set) var searchedBytes = 0
    /// What the top-level value being read has cost so far, against `maximumValueBytes`.
    private var valueCost = 0

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The next complete value, consuming its bytes; nil when more bytes are needed (what
    /// was read so far is kept). After an error the parser must not be used again.
    mutating func next(from buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        while true {
            let value: RESPValue
            if let blob = pendingBlob {
                guard buffer.readableBytes >= blob.length + 2, let bytes = buffer.readBytes(length: blob.length),
                    let terminator = buffer.readBytes(length: 2)
                else { return nil }
                guard terminator == [13, 10] else {
                    throw RESPProtocolError(message: "a string is not followed by CRLF")
                }
                pendingBlob = nil
                value = try Self.makeBlob(blob.kind, bytes)
            } else {
                guard let line = try readLine(from: &buffer) else { return nil }
                try charge(line.count + 2)
                guard let parsed = try parseLine(line) else { continue }
                value = parsed
            }
            try charge(limits.costPerElement)
            if let complete = add(value) {
                valueCost = 0
                return complete
            }
        }
    }

    /// Counts bytes against the current top-level value's budget.
    private mutating func charge(_ bytes: Int) throws(RESPProtocolError) {
        valueCost += bytes
        guard valueCost <= limits.maximumValueBytes else {
            throw RESPProtocolError(message: "a value of more than \(limits.maximumValueBytes) bytes")
        }
    }

    /// Adds a finished value to the open aggregates; returns it (or the top-level
    /// aggregate it finished) when a whole value is done.
    private mutating func add(_ value: RESPValue) -> RESPValue? {
        var finished = value
        while !frames.isEmpty {
            frames[frames.count - 1].elements.append(finished)
            frames[frames.count - 1].remaining -= 1
            guard frames[frames.count - 1].remaining == 0 else { return nil }
            let frame = frames.removeLast()
            guard let built = Self.build(frame) else {
                // An attribute finished: it only decorates the value after it.
                return nil
            }
            finished = built
        }
        return finished
    }

    private static func build(_ frame: Frame) -> RESPValue? {
        switch frame.kind {
        case .array: return .array(frame.elements)
        case .set: return .set(frame.elements)
        case .push: return .push(frame.elements)
        case .attribute: return nil
        case .map:
            var entries: [RESPMapEntry] = []
            entries.reserveCapacity(frame.elements.count / 2)
            var index = 0
            while index + 1 < frame.elements.count {
                entries.append(RESPMapEntry(key: frame.elements[index], value: frame.elements[index + 1]))
                index += 2
            }
            return .map(entries)
        }
    }

    /// The bytes of the next line without its CRLF, consumed; nil when its end has not
    /// arrived yet.
    private mutating func readLine(from buffer: inout ByteBuffer) throws(RESPProtocolError) -> [UInt8]? {
        let readable = buffer.readableBytesView
        let searchStart = readable.index(readable.startIndex, offsetBy: scannedLineBytes)
        let newline = readable[searchStart...].firstIndex(of: 10)
        searchedBytes += (newline.map { $0 + 1 } ?? readable.endIndex) - searchStart
        guard let newline else {
            scannedLineBytes = readable.count
            if scannedLineBytes > limits.maximumLineLength + 1 {
                throw RESPProtocolError(message: "a line longer than \(limits.maximumLineLength) bytes")
            }
            return nil
        }
        let length = newline - readable.startIndex
        guard length >= 1, readable[newline - 1] == 13 else {
            throw RESPProtocolError(message: "a line is not terminated by CRLF")
        }
        guard length - 1 <= limits.maximumLineLength else {
            throw RESPProtocolError(message: "a line longer than \(limits.maximumLineLength) bytes")
        }
        scannedLineBytes = 0
        let line = buffer.readBytes(length: length - 1) ?? []
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// The value a line is, or nil when it opens something still to come (an aggregate,
    /// a blob, an attribute).
    private mutating func parseLine(_ line: [UInt8]) throws(RESPProtocolError) -> RESPValue? {
        guard let type = line.first else { throw RESPProtocolError(message: "an empty line") }
        let content = line.dropFirst()
        switch type {
        case UInt8(ascii: "+"): return .simpleString(String(decoding: content, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: content, as: UTF8.self))
        case UInt8(ascii: ":"): return .integer(try Self.integer(content))
        case UInt8(ascii: "_"):
            guard content.isEmpty else { throw RESPProtocolError(message: "a null with content") }
            return .null
        case UInt8(ascii: "#"):
            switch content.first {
            case UInt8(ascii: "t") where content.count == 1: return .boolean(true)
            case UInt8(ascii: "f") where content.count == 1: return .boolean(false)
            default: throw RESPProtocolError(message: "a boolean that is neither t nor f")
            }
        case UInt8(ascii: ","): return .double(try Self.double(content))
        case UInt8(ascii: "("): return .bigNumber(try Self.bigNumber(content))
        case UInt8(ascii: "$"): return try openBlob(.bulkString, content)
        case UInt8(ascii: "="): return try openBlob(.verbatimString, content)
        case UInt8(ascii: "!"): return try openBlob(.blobError, content)
        case UInt8(ascii: "*"): return try openAggregate(.array, content)
        case UInt8(ascii: "~"): return try openAggregate(.set, content)
        case UInt8(ascii: ">"): return try openAggregate(.push, content)
        case UInt8(ascii: "%"): return try openAggregate(.map, content)
        case UInt8(ascii: "|"): return try openAggregate(.attribute, content)
        default: throw RESPProtocolError(message: "unknown type byte \(type)")
        }
    }

    private mutating func openBlob(_ kind: BlobKind, _ content: ArraySlice<UInt8>) throws(RESPProtocolError)
        -> RESPValue?
    {
        let length = try Self.integer(content)
        if length == -1, kind == .bulkString { return .null }
        guard length >= 0 else { throw RESPProtocolError(message: "a negative string length") }
        guard length <= Int64(limits.maximumBulkLength) else {
            throw RESPProtocolError(message: "a string of \(length) bytes, over the \(limits.maximumBulkLength) limit")
        }
        // Charged when announced, so an over-budget string is refused before it is buffered.
        try charge(Int(length) + 2)
        pendingBlob = (kind, Int(length))
        return nil
    }

    private mutating func openAggregate(_ kind: AggregateKind, _ content: ArraySlice<UInt8>)
        throws(RESPProtocolError) -> RESPValue?
    {
        let count = try Self.integer(content)
        if count == -1, kind == .array { return .null }
        guard count >= 0 else { throw RESPProtocolError(message: "a negative element count") }
        let perEntry: Int64 = kind == .map || kind == .attribute ? 2 : 1
        guard count <= Int64(limits.maximumAggregateCount) / perEntry else {
            throw RESPProtocolError(message: "\(count) elements, over the \(limits.maximumAggregateCount) limit")
        }
        let elements = Int(count * perEntry)
        guard elements > 0 else { return Self.build(Frame(kind: kind, remaining: 0, elements: [])) }
        guard frames.count < limits.maximumDepth else {
            throw RESPProtocolError(message: "aggregates nested deeper than \(limits.maximumDepth)")
        }
        var elementsSoFar: [RESPValue] = []
        // The announced count is only a promise: memory grows with what actually arrives.
        elementsSoFar.reserveCapacity(min(elements, 64))
        frames.append(Frame(kind: kind, remaining: elements, elements: elementsSoFar))
        return nil
    }

    private static func makeBlob(_ kind: BlobKind, _ bytes: [UInt8]) throws(RESPProtocolError) -> RESPValue {
        switch kind {
        case .bulkString: return .bulkString(bytes)
        case .blobError: return .blobError(bytes)
        case .verbatimString:
            guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else {
                throw RESPProtocolError(message: "a verbatim string without its format")
            }
            return .verbatimString(
                format: String(decoding: bytes[0..<3], as: UTF8.self), text: Array(bytes[4...]))
        }
    }

    /// A decimal `Int64` with an optional minus sign; anything else (or an overflow) throws.
    private static func integer(_ digits: ArraySlice<UInt8>) throws(RESPProtocolError) -> Int64 {
        var rest = digits[...]
        let negative = rest.first == UInt8(ascii: "-")
        if negative || rest.first == UInt8(ascii: "+") { rest = rest.dropFirst() }
        guard !rest.isEmpty else { throw RESPProtocolError(message: "a number without digits") }
        var value: Int64 = 0
        for byte in rest {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RESPProtocolError(message: "a number with a non-digit")
            }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) =
                negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw RESPProtocolError(message: "a number out of range") }
            value = sum
        }
        return value
    }

    private static func double(_ content: ArraySlice<UInt8>) throws(RESPProtocolError) -> Double {
        let text = String(decoding: content, as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            // Double(String) also takes hexadecimal and "infinity"; RESP allows only decimal.
            let allowed = content.allSatisfy { byte in
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                    || byte == UInt8(ascii: "E")
            }
            guard allowed, let number = Double(text) else { throw RESPProtocolError(message: "a malformed double") }
            return number
        }
    }

    private static func bigNumber(_ content: ArraySlice<UInt8>) throws(RESPProtocolError) -> String {
        let digits =
            content.first == UInt8(ascii: "-") || content.first == UInt8(ascii: "+") ? content.dropFirst() : content
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw RESPProtocolError(message: "a malformed big number")
        }
        return String(decoding: content, as: UTF8.self)
    }
}
