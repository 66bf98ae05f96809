import CMsgpack
import OrderedJSON

/// MessagePack through msgpack-c (Debian libmsgpack-dev), in the shapes notepack.io
/// (what Node's redis adapter and emitter use) writes: maps with string keys, JS numbers
/// as integers or float64, Buffers as `bin`.
enum MessagePack {
    enum DecodingError: Error, Equatable {
        case malformed
        case tooDeep
        case unsupportedKey
    }

    static let maximumDepth = 64

    static func encode(_ value: JSONValue) -> [UInt8] {
        guard let buffer = msgpack_sbuffer_new() else { return [] }
        defer { msgpack_sbuffer_free(buffer) }
        guard let packer = chatify_msgpack_packer_new(buffer) else { return [] }
        defer { msgpack_packer_free(packer) }
        pack(value, packer)
        guard let data = buffer.pointee.data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: buffer.pointee.size))
    }

    private static func pack(_ value: JSONValue, _ packer: UnsafeMutablePointer<msgpack_packer>) {
        switch value {
        case .null: msgpack_pack_nil(packer)
        case .bool(let flag): _ = flag ? msgpack_pack_true(packer) : msgpack_pack_false(packer)
        case .integer(let number): msgpack_pack_int64(packer, number)
        case .double(let number):
            // notepack writes whole numbers as integers, whatever their JS type.
            if number.rounded() == number, let exact = Int64(exactly: number) {
                msgpack_pack_int64(packer, exact)
            } else {
                msgpack_pack_double(packer, number)
            }
        case .string(let text):
            var text = text
            text.withUTF8 { bytes in
                msgpack_pack_str(packer, bytes.count)
                msgpack_pack_str_body(packer, bytes.baseAddress, bytes.count)
            }
        case .binary(let bytes):
            msgpack_pack_bin(packer, bytes.count)
            bytes.withUnsafeBytes { _ = msgpack_pack_bin_body(packer, $0.baseAddress, $0.count) }
        case .array(let items):
            msgpack_pack_array(packer, items.count)
            for item in items { pack(item, packer) }
        case .object(let object):
            msgpack_pack_map(packer, object.count)
            for entry in object.entries {
                pack(.string(entry.key), packer)
                pack(entry.value, packer)
            }
        }
    }

    /// Decodes one MessagePack value. Anything but a complete, well-formed value with
    /// string (or number) map keys is refused.
    static func decode(_ bytes: [UInt8]) throws(DecodingError) -> JSONValue {
        guard !bytes.isEmpty else { throw .malformed }
        var unpacked = msgpack_unpacked()
        msgpack_unpacked_init(&unpacked)
        defer { msgpack_unpacked_destroy(&unpacked) }
        var offset = 0
        let result = bytes.withUnsafeBufferPointer { buffer in
            UnsafeRawBufferPointer(buffer).withMemoryRebound(to: CChar.self) { characters in
                msgpack_unpack_next(&unpacked, characters.baseAddress, characters.count, &offset)
            }
        }
        guard result == MSGPACK_UNPACK_SUCCESS, offset == bytes.count else { throw .malformed }
        return try convert(unpacked.data, depth: 0)
    }

    private static func convert(_ object: msgpack_object, depth: Int) throws(DecodingError) -> JSONValue {
        guard depth <= maximumDepth else { throw .tooDeep }
        switch object.type {
        case MSGPACK_OBJECT_NIL: return .null
        case MSGPACK_OBJECT_BOOLEAN: return .bool(object.via.boolean)
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if let exact = Int64(exactly: object.via.u64) { return .integer(exact) }
            return .double(Double(object.via.u64))
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return .integer(object.via.i64)
        case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64: return .double(object.via.f64)
        case MSGPACK_OBJECT_STR:
            let str = object.via.str
            let raw = UnsafeRawBufferPointer(start: str.ptr, count: Int(str.size))
            return .string(String(decoding: raw, as: UTF8.self))
        case MSGPACK_OBJECT_BIN:
            let bin = object.via.bin
            return .binary(Array(UnsafeRawBufferPointer(start: bin.ptr, count: Int(bin.size))))
        case MSGPACK_OBJECT_ARRAY:
            let array = object.via.array
            var items: [JSONValue] = []
            items.reserveCapacity(Int(array.size))
            for index in 0..<Int(array.size) {
                guard let element = array.ptr?[index] else { throw .malformed }
                items.append(try convert(element, depth: depth + 1))
            }
            return .array(items)
        case MSGPACK_OBJECT_MAP:
            let map = object.via.map
            var result = JSONObject()
            for index in 0..<Int(map.size) {
                guard let pair = map.ptr?[index] else { throw .malformed }
                let key: String
                switch try convert(pair.key, depth: depth + 1) {
                case .string(let text): key = text
                case .integer(let number): key = String(number)
                default: throw .unsupportedKey
                }
                result[key] = try convert(pair.val, depth: depth + 1)
            }
            return .object(result)
        case MSGPACK_OBJECT_EXT:
            // notepack writes `undefined` as an extension; it means "absent".
            return .null
        default:
            throw .malformed
        }
    }
}
