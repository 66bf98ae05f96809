import NIOCore

@testable import SocketIORedisAdapter

/// A small deterministic generator (SplitMix64), so a failing seed can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// The RESP parser's fuzz entry point: what one seed checks, as a plain function.
enum RESPFuzz {
    /// What went wrong for a seed, with what is needed to replay it.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Random valid values, encoded and fed to the parser in random pieces, must come back
    /// equal and in order; random garbage must end in values, need-more or an error.
    static func run(seed: UInt64) throws(Failure) {
        var generator = SeededGenerator(seed: seed)
        let values = (0..<Int.random(in: 1...8, using: &generator)).map { _ in
            randomValue(depth: 0, using: &generator)
        }
        var encoded = ByteBuffer()
        for value in values { value.encode(into: &encoded) }
        let bytes = Array(encoded.readableBytesView)
        let parsed: [RESPValue]
        do {
            parsed = try feed(bytes, pieces: randomCuts(bytes.count, using: &generator))
        } catch {
            throw Failure(description: "seed \(seed): valid input refused: \(error)")
        }
        guard parsed == values else {
            throw Failure(description: "seed \(seed): \(values) came back as \(parsed)")
        }

        // Garbage: mostly type bytes, digits and CRLF so that it gets past the first line.
        let alphabet = Array("+-:$*_#,(=!%~>|0123456789-\r\n\r\ntfabc?".utf8)
        let garbage = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
            Bool.random(using: &generator)
                ? alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
                : UInt8.random(in: 0...255, using: &generator)
        }
        // Either outcome is fine; only a crash or a hang is not.
        _ = try? feed(garbage, pieces: randomCuts(garbage.count, using: &generator))
    }

    /// Feeds the bytes in pieces of the given sizes, collecting every value.
    static func feed(_ bytes: [UInt8], pieces: [Int]) throws(RESPProtocolError) -> [RESPValue] {
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        var offset = 0
        for size in pieces {
            buffer.writeBytes(bytes[offset..<offset + size])
            offset += size
            while let value = try parser.next(from: &buffer) { values.append(value) }
        }
        return values
    }

    /// Sizes of random pieces that add up to `count`.
    static func randomCuts(_ count: Int, using generator: inout SeededGenerator) -> [Int] {
        var pieces: [Int] = []
        var left = count
        while left > 0 {
            let size = Int.random(in: 1...min(left, 16), using: &generator)
            pieces.append(size)
            left -= size
        }
        return pieces
    }

    static func randomValue(depth: Int, using generator: inout SeededGenerator) -> RESPValue {
        let kinds = depth < 4 ? 15 : 10
        switch Int.random(in: 0..<kinds, using: &generator) {
        case 0: return .simpleString(randomLine(using: &generator))
        case 1: return .error("ERR " + randomLine(using: &generator))
        case 2: return .integer(Int64.random(in: .min ... .max, using: &generator))
        case 3: return .bulkString(randomBytes(using: &generator))
        case 4: return .null
        case 5: return .double(Double(Int32.random(in: .min ... .max, using: &generator)) / 64)
        case 6: return .boolean(Bool.random(using: &generator))
        case 7: return .bigNumber(String(repeating: "9", count: Int.random(in: 1...40, using: &generator)))
        case 8: return .verbatimString(format: "txt", text: randomBytes(using: &generator))
        case 9: return .blobError(randomBytes(using: &generator))
        case 10: return .array(randomElements(depth: depth, using: &generator))
        case 11: return .set(randomElements(depth: depth, using: &generator))
        case 12: return .push(randomElements(depth: depth, using: &generator))
        default:
            let elements = randomElements(depth: depth, using: &generator)
            let keys = randomElements(depth: depth, using: &generator)
            return .map(zip(keys, elements).map { RESPMapEntry(key: $0, value: $1) })
        }
    }

    static func randomElements(depth: Int, using generator: inout SeededGenerator) -> [RESPValue] {
        (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) }
    }

    /// Printable text without CR or LF, as simple strings must be.
    static func randomLine(using generator: inout SeededGenerator) -> String {
        String(
            decoding: (0..<Int.random(in: 0...20, using: &generator)).map { _ in
                UInt8.random(in: 32...126, using: &generator)
            }, as: UTF8.self)
    }

    /// Any bytes, CR and LF included: bulk strings are binary-safe.
    static func randomBytes(using generator: inout SeededGenerator) -> [UInt8] {
        (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
