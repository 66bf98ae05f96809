/// Standard base64 (RFC 4648 §4, padded), the encoding of binary packets over polling.
enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    static func encode<Output: RangeReplaceableCollection>(_ bytes: some Collection<UInt8>, into out: inout Output)
    where Output.Element == UInt8 {
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            out.append(b1.map { alphabet[Int(($0 & 0x0F) << 2 | (b2 ?? 0) >> 6)] } ?? UInt8(ascii: "="))
            out.append(b2.map { alphabet[Int($0 & 0x3F)] } ?? UInt8(ascii: "="))
        }
    }

    /// Strict decoding: the length is a multiple of four, padding only at the end.
    /// Unpadded input is accepted too, as Node's `Buffer.from(s, "base64")` does.
    static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        var quad: [UInt8] = []
        quad.reserveCapacity(4)
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var padding = 0
        for byte in input {
            if byte == UInt8(ascii: "=") {
                padding += 1
                if padding > 2 { return nil }
                continue
            }
            if padding > 0 { return nil }  // data after padding
            let value = decodeTable[Int(byte)]
            if value == 0xFF { return nil }
            quad.append(value)
            if quad.count == 4 {
                output.append(quad[0] << 2 | quad[1] >> 4)
                output.append(quad[1] << 4 | quad[2] >> 2)
                output.append(quad[2] << 6 | quad[3])
                quad.removeAll(keepingCapacity: true)
            }
        }
        switch quad.count {
        case 0: break
        case 1: return nil
        case 2: output.append(quad[0] << 2 | quad[1] >> 4)
        case 3:
            output.append(quad[0] << 2 | quad[1] >> 4)
            output.append(quad[1] << 4 | quad[2] >> 2)
        default: break
        }
        if padding > 0 && (quad.count + padding) != 4 { return nil }
        return output
    }
}
