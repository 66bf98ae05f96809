/// Standard base64 (RFC 4648 §4, padded), the encoding of binary packets over polling.
///
/// Works on raw buffers: a polling client may send or receive close to `maxPayload`
/// bytes of it, and byte-by-byte collection code is too slow for that in debug builds.
/// Package-wide: the app's JWT code builds its URL-safe variant on it.
package enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Writes the encoding of `input` into `output`, which holds `encodedLength(input.count)` bytes.
    static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        alphabet.withUnsafeBufferPointer { table in
            var out = 0
            var index = 0
            let count = input.count
            while index + 3 <= count {
                let b0 = input[index]
                let b1 = input[index + 1]
                let b2 = input[index + 2]
                output[out] = table[Int(b0 >> 2)]
                output[out + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
                output[out + 2] = table[Int((b1 & 0x0F) << 2 | b2 >> 6)]
                output[out + 3] = table[Int(b2 & 0x3F)]
                index += 3
                out += 4
            }
            let remaining = count - index
            if remaining > 0 {
                let b0 = input[index]
                let b1: UInt8 = remaining > 1 ? input[index + 1] : 0
                output[out] = table[Int(b0 >> 2)]
                output[out + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
                output[out + 2] = remaining > 1 ? table[Int((b1 & 0x0F) << 2)] : UInt8(ascii: "=")
                output[out + 3] = UInt8(ascii: "=")
            }
        }
    }

    package static func encode(_ bytes: [UInt8]) -> [UInt8] {
        let length = encodedLength(bytes.count)
        return bytes.withUnsafeBytes { input in
            [UInt8](unsafeUninitializedCapacity: length) { output, initialized in
                encode(input, into: UnsafeMutableRawBufferPointer(output))
                initialized = length
            }
        }
    }

    /// Strict decoding: only the alphabet, padding only at the end. Unpadded input is
    /// accepted too, as Node's `Buffer.from(s, "base64")` accepts it.
    static func decode(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        var end = input.count
        var padding = 0
        while end > 0, input[end - 1] == UInt8(ascii: "=") {
            end -= 1
            padding += 1
        }
        guard padding <= 2 else { return nil }
        if padding > 0, input.count % 4 != 0 { return nil }
        let remainder = end % 4
        guard remainder != 1 else { return nil }
        let length = end / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        var valid = true
        let output = decodeTable.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: length) { output, initialized in
                var index = 0
                var out = 0
                while index + 4 <= end {
                    let c0 = table[Int(input[index])]
                    let c1 = table[Int(input[index + 1])]
                    let c2 = table[Int(input[index + 2])]
                    let c3 = table[Int(input[index + 3])]
                    if (c0 | c1 | c2 | c3) & 0x80 != 0 {
                        valid = false
                        break
                    }
                    output[out] = c0 << 2 | c1 >> 4
                    output[out + 1] = c1 << 4 | c2 >> 2
                    output[out + 2] = c2 << 6 | c3
                    index += 4
                    out += 3
                }
                if valid, remainder >= 2 {
                    let c0 = table[Int(input[index])]
                    let c1 = table[Int(input[index + 1])]
                    let c2 = remainder == 3 ? table[Int(input[index + 2])] : 0
                    if (c0 | c1 | c2) & 0x80 != 0 {
                        valid = false
                    } else {
                        output[out] = c0 << 2 | c1 >> 4
                        if remainder == 3 { output[out + 1] = c1 << 4 | c2 >> 2 }
                    }
                }
                initialized = valid ? length : 0
            }
        }
        return valid ? output : nil
    }

    package static func decode(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        if let result = bytes.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { decode($0) }
    }
}
