/// A JSON value that keeps object keys in the order they were written or parsed.
///
/// Socket.IO payloads are compared byte for byte by clients and recordings, so the
/// order of keys matters. Numbers keep the integer/float distinction so that `1`
/// round-trips as `1`, not `1.0`. `binary` stands for a Socket.IO attachment; plain
/// JSON has no such value and the serializer only writes it through a placeholder.
public enum JSONValue: Sendable, Equatable {
    /// JSON `null`.
    case null
    /// JSON `true` or `false`.
    case bool(Bool)
    /// A number written without a fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, keys in order.
    case object(JSONObject)
    /// A Socket.IO binary attachment (not JSON; serialized through a placeholder or as a
    /// Node `Buffer`).
    case binary([UInt8])
}

/// An ordered JSON object.
///
/// Small objects (most Socket.IO payloads) are searched by a scan of their entries; past
/// `indexedFrom` entries a hash index of positions is kept, so that building or reading an
/// object of n keys costs O(n), not O(n²), even when a client sends thousands of keys.
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// The members in order; a repeated key keeps the position where it was first set.
    public private(set) var entries: [Entry]
    /// Where each key is in `entries`; nil while the object is small enough to scan.
    private var positions: [String: Int]?

    /// Below this many entries a scan is cheaper than hashing the key.
    static let indexedFrom = 16

    #if DEBUG
        /// Keys compared, looked up or indexed while setting keys, so tests can check that the
        /// work grows in proportion to the keys (debug builds only).
        var keyWork = 0
    #endif

    /// One member of an object.
    public struct Entry: Sendable, Equatable {
        /// The member's name.
        public var key: String
        /// The member's value.
        public var value: JSONValue
        /// A member named `key` with `value`.
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// An empty object.
    public init() {
        entries = []
        positions = nil
    }

    /// An object of `pairs` in order; a repeated key replaces the earlier value in its place,
    /// as `JSON.parse` does.
    public init(_ pairs: [(String, JSONValue)]) {
        self.init()
        entries.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    /// An object of the literal's pairs in order; see ``init(_:)``.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    /// Objects are equal when they have the same entries in the same order; the index is
    /// only a cache of the positions.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.entries == rhs.entries
    }

    /// How many members the object has.
    public var count: Int { entries.count }
    /// True when the object has no members.
    public var isEmpty: Bool { entries.isEmpty }
    /// The member names in order.
    public var keys: [String] { entries.map(\.key) }

    /// Setting an existing key replaces its value in place (as `JSON.parse` does for
    /// a repeated key); setting `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            #if DEBUG
                keyWork += positions == nil ? entries.count : 1
            #endif
            if let index = position(of: key) {
                if let newValue {
                    entries[index].value = newValue
                } else {
                    // Removal shifts the later entries: rare, so the index is rebuilt.
                    entries.remove(at: index)
                    rebuildPositions()
                }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
                if positions != nil {
                    positions?[key] = entries.count - 1
                } else if entries.count >= Self.indexedFrom {
                    rebuildPositions()
                }
            }
        }
    }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return entries.firstIndex(where: { $0.key == key })
    }

    private mutating func rebuildPositions() {
        guard entries.count >= Self.indexedFrom else {
            positions = nil
            return
        }
        var rebuilt: [String: Int] = [:]
        rebuilt.reserveCapacity(entries.count)
        #if DEBUG
            keyWork += entries.count
        #endif
        for (index, entry) in entries.enumerated() { rebuilt[entry.key] = index }
        positions = rebuilt
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    /// `nil` is ``null``.
    public init(nilLiteral: ()) { self = .null }
    /// A Boolean literal is ``bool(_:)``.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer literal is ``integer(_:)``.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A float literal is ``double(_:)``.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal is ``string(_:)``.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array literal is ``array(_:)``.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A dictionary literal is an ``object(_:)`` with the pairs in the order written.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

extension JSONValue {
    /// The string, when the value is a ``string(_:)``.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The object, when the value is an ``object(_:)``.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements, when the value is an ``array(_:)``.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The Boolean, when the value is a ``bool(_:)``.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an integer when it is one exactly (`2` or `2.0`).
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value):
            guard value.rounded() == value, let exact = Int64(exactly: value) else { return nil }
            return exact
        default: return nil
        }
    }

    /// True for ``null``.
    public var isNull: Bool { self == .null }

    /// Member of an object, `nil` for anything else.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// True when the value or anything inside it is an attachment.
    public var containsBinary: Bool {
        switch self {
        case .binary: return true
        case .array(let items): return items.contains(where: \.containsBinary)
        case .object(let object): return object.entries.contains(where: { $0.value.containsBinary })
        default: return false
        }
    }
}
