import CMongoc
import ChatDomain
import Foundation

// Small BSON helpers over libbson.
//
// `bson_t` and `bson_iter_t` are declared 128-byte aligned, so Swift only sees them
// as `OpaquePointer`. Every document we create lives in aligned storage of our own,
// initialised with `bson_init` (or `bson_init_static` for a borrowed view), and is
// given back with `BSON.release`: one allocation path, one release path. The same
// storage serves as the "uninitialized bson_t *reply" out-parameter that libmongoc
// functions fill in (they call `bson_init`/`bson_copy_to` on it; our empty inline
// document owns no heap memory, so overwriting it leaks nothing).
//
// Reading decodes a whole document into Swift values (`BSONFields`) right away, while
// the `bson_t` is still valid, so no pointer into libbson outlives the call that
// produced it. The typed accessors return optionals: a missing field or a field of an
// unexpected type is nil, never a crash.

/// A 12-byte MongoDB ObjectId.
struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    /// The 12 bytes, as libbson stores them.
    let bytes: [UInt8]

    init(_ oid: bson_oid_t) {
        bytes = withUnsafeBytes(of: oid.bytes) { Array($0) }
    }

    /// A new ObjectId (timestamp, process-unique random value, counter).
    static func generate() -> ObjectID {
        var oid = bson_oid_t()
        bson_oid_init(&oid, nil)
        return ObjectID(oid)
    }

    /// Parses 24 hexadecimal digits; nil for anything else (no database is asked).
    init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 24 else { return nil }
        let valid = utf8.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { bson_oid_is_valid($0.baseAddress, 24) }
        }
        guard valid else { return nil }
        var oid = bson_oid_t()
        hex.withCString { bson_oid_init_from_string(&oid, $0) }
        self.init(oid)
    }

    var oid: bson_oid_t {
        var oid = bson_oid_t()
        withUnsafeMutableBytes(of: &oid.bytes) { raw in
            for index in 0..<min(raw.count, bytes.count) { raw[index] = bytes[index] }
        }
        return oid
    }

    /// 24 lowercase hexadecimal digits, as `str(ObjectId(...))` prints in Python.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    var description: String { hex }
}

/// A value to append to a document being built.
indirect enum BSONValue: Sendable {
    case string(String)
    case int32(Int32)
    case int64(Int64)
    case bool(Bool)
    /// A BSON UTC datetime, stored with millisecond precision.
    case date(Date)
    case objectID(ObjectID)
    case document(KeyValuePairs<String, BSONValue>)
    case array([BSONValue])
}

/// A decoded BSON value.
enum BSONElement {
    case string(String)
    case objectID(ObjectID)
    case int32(Int32)
    case int64(Int64)
    case double(Double)
    case bool(Bool)
    /// Milliseconds since the Unix epoch.
    case date(Int64)
    case null
    case document(BSONFields)
    case array([BSONElement])
    /// A type these helpers do not decode (binary, regex, decimal128, ...).
    case unsupported(UInt32)

    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var objectIDValue: ObjectID? {
        if case .objectID(let value) = self { return value }
        return nil
    }

    var dateValue: Date? {
        if case .date(let milliseconds) = self { return BSON.date(milliseconds: milliseconds) }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// Any whole number, whichever numeric type the server chose (int32, int64, double).
    var intValue: Int64? {
        switch self {
        case .int32(let value): return Int64(value)
        case .int64(let value): return value
        case .double(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    var documentValue: BSONFields? {
        if case .document(let value) = self { return value }
        return nil
    }

    var arrayValue: [BSONElement]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// A decoded document: its fields in order.
struct BSONFields {
    var fields: [(key: String, value: BSONElement)]

    /// The first field named `key`.
    subscript(key: String) -> BSONElement? {
        fields.first { $0.key == key }?.value
    }

    var keys: [String] { fields.map(\.key) }

    func string(_ key: String) -> String? { self[key]?.stringValue }
    func objectID(_ key: String) -> ObjectID? { self[key]?.objectIDValue }
    func date(_ key: String) -> Date? { self[key]?.dateValue }
    func bool(_ key: String) -> Bool? { self[key]?.boolValue }
    func int(_ key: String) -> Int64? { self[key]?.intValue }
    func document(_ key: String) -> BSONFields? { self[key]?.documentValue }
    func array(_ key: String) -> [BSONElement]? { self[key]?.arrayValue }
}

enum BSON {
    private static let documentSize = cmongoc_sizeof_bson_t()
    private static let documentAlignment = max(cmongoc_alignof_bson_t(), 16)
    private static let iteratorSize = cmongoc_sizeof_bson_iter_t()
    private static let iteratorAlignment = max(cmongoc_alignof_bson_iter_t(), 16)

    /// A new, empty document (also usable as a reply out-parameter). Give it back with
    /// `release`.
    static func new() -> OpaquePointer {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: documentSize, alignment: documentAlignment)
        let document = OpaquePointer(storage)
        bson_init(document)
        return document
    }

    /// Destroys a document made by `new` (or `document`) and frees its storage.
    static func release(_ document: OpaquePointer) {
        bson_destroy(document)
        UnsafeMutableRawPointer(document).deallocate()
    }

    /// A document with these fields in this order. Give it back with `release`.
    static func document(_ fields: KeyValuePairs<String, BSONValue>) throws(StoreError) -> OpaquePointer {
        let document = new()
        for (key, value) in fields {
            guard append(value, forKey: key, to: document) else {
                release(document)
                throw .unavailable("cannot build a BSON document: the value of \"\(key)\" is too large")
            }
        }
        return document
    }

    /// Appends one field; false when libbson refuses it (a document over 2 GiB).
    static func append(_ value: BSONValue, forKey key: String, to document: OpaquePointer) -> Bool {
        key.withCString { key -> Bool in
            switch value {
            case .string(let string):
                let length = string.utf8.count
                guard length <= Int(Int32.max) else { return false }
                // withCString gives the UTF-8 bytes, embedded NULs included, and a
                // non-null pointer even for "" (libbson would store a null for a NULL).
                return string.withCString { bson_append_utf8(document, key, -1, $0, Int32(length)) }
            case .int32(let number):
                return bson_append_int32(document, key, -1, number)
            case .int64(let number):
                return bson_append_int64(document, key, -1, number)
            case .bool(let flag):
                return bson_append_bool(document, key, -1, flag)
            case .date(let date):
                return bson_append_date_time(document, key, -1, milliseconds(date))
            case .objectID(let id):
                var oid = id.oid
                return bson_append_oid(document, key, -1, &oid)
            case .document(let fields):
                let child = new()
                defer { release(child) }
                for (childKey, childValue) in fields {
                    guard append(childValue, forKey: childKey, to: child) else { return false }
                }
                return bson_append_document(document, key, -1, child)
            case .array(let values):
                let child = new()
                defer { release(child) }
                for (index, element) in values.enumerated() {
                    guard append(element, forKey: String(index), to: child) else { return false }
                }
                return bson_append_array(document, key, -1, child)
            }
        }
    }

    // MARK: Reading

    /// Decodes every field of `document` (borrowed: it is only read during the call).
    static func decode(_ document: OpaquePointer) -> BSONFields {
        withIterator { iterator in
            guard bson_iter_init(iterator, document) else { return BSONFields(fields: []) }
            return decodeFields(iterator)
        }
    }

    /// Runs `body` with iterator storage of the right size and alignment.
    private static func withIterator<R>(_ body: (OpaquePointer) -> R) -> R {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: iteratorSize, alignment: iteratorAlignment)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: iteratorSize)
        return body(OpaquePointer(storage))
    }

    /// Reads the remaining fields of an iterator positioned before its first field.
    private static func decodeFields(_ iterator: OpaquePointer) -> BSONFields {
        var fields: [(key: String, value: BSONElement)] = []
        while bson_iter_next(iterator) {
            let key = bson_iter_key(iterator).map { String(cString: $0) } ?? ""
            fields.append((key, decodeValue(iterator)))
        }
        return BSONFields(fields: fields)
    }

    private static func decodeValue(_ iterator: OpaquePointer) -> BSONElement {
        let type = bson_iter_type(iterator)
        switch type {
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            guard let bytes = bson_iter_utf8(iterator, &length) else { return .unsupported(type.rawValue) }
            let buffer = UnsafeRawBufferPointer(start: bytes, count: Int(length))
            return .string(String(decoding: buffer, as: UTF8.self))
        case BSON_TYPE_OID:
            guard let oid = bson_iter_oid(iterator) else { return .unsupported(type.rawValue) }
            return .objectID(ObjectID(oid.pointee))
        case BSON_TYPE_INT32:
            return .int32(bson_iter_int32(iterator))
        case BSON_TYPE_INT64:
            return .int64(bson_iter_int64(iterator))
        case BSON_TYPE_DOUBLE:
            return .double(bson_iter_double(iterator))
        case BSON_TYPE_BOOL:
            return .bool(bson_iter_bool(iterator))
        case BSON_TYPE_DATE_TIME:
            return .date(bson_iter_date_time(iterator))
        case BSON_TYPE_NULL:
            return .null
        case BSON_TYPE_DOCUMENT:
            return withIterator { child in
                guard bson_iter_recurse(iterator, child) else { return .unsupported(type.rawValue) }
                return .document(decodeFields(child))
            }
        case BSON_TYPE_ARRAY:
            return withIterator { child in
                guard bson_iter_recurse(iterator, child) else { return .unsupported(type.rawValue) }
                return .array(decodeFields(child).fields.map(\.value))
            }
        default:
            return .unsupported(type.rawValue)
        }
    }

    /// Canonical extended JSON, for logs and tests.
    static func json(_ document: OpaquePointer) -> String {
        var length = 0
        guard let text = bson_as_canonical_extended_json(document, &length) else { return "<unprintable>" }
        defer { bson_free(text) }
        return String(cString: text)
    }

    // MARK: Dates

    /// A date as BSON stores it: whole milliseconds since the epoch, rounded to the
    /// nearest, clamped to what an Int64 holds.
    static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return value < 0 ? Int64.min : Int64.max }
        if value >= 9.2e18 { return Int64.max }
        if value <= -9.2e18 { return Int64.min }
        return Int64(value)
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The date a store hands back for `date`: what reading it back from BSON gives.
    static func stored(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }
}

extension bson_error_t {
    /// The message on one line.
    var text: String {
        let raw = withUnsafeBytes(of: message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        let line = raw.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.isEmpty ? "libmongoc error \(domain).\(code)" : line
    }
}
