import NIOCore
import Testing

@testable import SocketIORedisAdapter

@Suite("RESP2 and RESP3 parsing and encoding")
struct RESPParserTests {
    /// One wire form per type, with the value it is.
    static let samples: [(wire: String, value: RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("-ERR unknown command\r\n", .error("ERR unknown command")),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$5\r\nhe\r\no\r\n", .bulkString(Array("he\r\no".utf8))),
        ("$0\r\n\r\n", .bulkString([])),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("*2\r\n:1\r\n$1\r\na\r\n", .array([.integer(1), .bulkString([97])])),
        ("*0\r\n", .array([])),
        (
            "%2\r\n+a\r\n:1\r\n+b\r\n#f\r\n",
            .map([
                RESPMapEntry(key: .simpleString("a"), value: .integer(1)),
                RESPMapEntry(key: .simpleString("b"), value: .boolean(false)),
            ])
        ),
        ("~2\r\n+x\r\n+y\r\n", .set([.simpleString("x"), .simpleString("y")])),
        (",3.25\r\n", .double(3.25)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("=8\r\ntxt:Some\r\n", .verbatimString(format: "txt", text: Array("Some".utf8))),
        ("!8\r\nSYNTAX x\r\n", .blobError(Array("SYNTAX x".utf8))),
        (
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            .push([.bulkString(Array("message".utf8)), .bulkString(Array("ch".utf8)), .bulkString(Array("hi".utf8))])
        ),
        // An attribute decorates the value after it and is dropped.
        ("|1\r\n+ttl\r\n:3600\r\n*1\r\n:2\r\n", .array([.integer(2)])),
        ("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n", .array([.integer(1), .integer(2)])),
    ]

    static func parseAll(_ bytes: [UInt8], limits: RESPParser.Limits = RESPParser.Limits()) throws -> [RESPValue] {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(bytes: bytes)
        var values: [RESPValue] = []
        while let value = try parser.next(from: &buffer) { values.append(value) }
        return values
    }

    @Test("each type parses", arguments: 0..<samples.count)
    func eachType(_ index: Int) throws {
        let sample = Self.samples[index]
        #expect(try Self.parseAll(Array(sample.wire.utf8)) == [sample.value])
    }

    @Test("each type split at every byte boundary parses the same", arguments: 0..<samples.count)
    func everySplit(_ index: Int) throws {
        let bytes = Array(Self.samples[index].wire.utf8)
        for cut in 0...bytes.count {
            var parser = RESPParser()
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            let early = try parser.next(from: &buffer)
            if cut < bytes.count { #expect(early == nil, "a value before its last byte, cut at \(cut)") }
            buffer.writeBytes(bytes[cut...])
            let value = try early ?? parser.next(from: &buffer)
            #expect(value == Self.samples[index].value, "cut at \(cut)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("every encodable value encodes to what parses back to it")
    func encodeRoundTrip() throws {
        for sample in Self.samples where !sample.wire.hasPrefix("|") && !sample.wire.hasPrefix("*2\r\n|") {
            var buffer = ByteBuffer()
            sample.value.encode(into: &buffer)
            #expect(try Self.parseAll(Array(buffer.readableBytesView)) == [sample.value])
        }
        var command = ByteBuffer()
        RESPValue.command([Array("SET".utf8), Array("k".utf8)]).encode(into: &command)
        #expect(String(buffer: command) == "*2\r\n$3\r\nSET\r\n$1\r\nk\r\n")
    }

    @Test("values arriving one byte at a time come out in order")
    func pipelined() throws {
        let wire = Array(Self.samples.map(\.wire).joined().utf8)
        let values = try RESPFuzz.feed(wire, pieces: Array(repeating: 1, count: wire.count))
        #expect(values == Self.samples.map(\.value))
    }

    @Test(
        "malformed input is a protocol error",
        arguments: [
            "?x\r\n", ":12a\r\n", ":\r\n", ":99999999999999999999\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "#x\r\n",
            ",1.5x\r\n", ",0x10\r\n", "(12a\r\n", "=2\r\nab\r\n", "*-2\r\n", "+OK\n", "\r\n", "_x\r\n",
        ]
    )
    func malformed(_ wire: String) {
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array(wire.utf8)) }
    }

    @Test("lengths, counts and nesting beyond the limits are refused before anything is allocated")
    func limits() throws {
        var limits = RESPParser.Limits()
        limits.maximumBulkLength = 10
        limits.maximumAggregateCount = 4
        limits.maximumDepth = 3
        limits.maximumLineLength = 32
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array("$11\r\n".utf8), limits: limits) }
        #expect(try Self.parseAll(Array("$10\r\n0123456789\r\n".utf8), limits: limits).count == 1)
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array("*5\r\n".utf8), limits: limits) }
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array("%3\r\n".utf8), limits: limits) }
        #expect(throws: RESPProtocolError.self) {
            try Self.parseAll(Array("*9223372036854775807\r\n".utf8))
        }
        #expect(throws: RESPProtocolError.self) {
            try Self.parseAll(Array("$9223372036854775807\r\n".utf8))
        }
        #expect(throws: RESPProtocolError.self) {
            try Self.parseAll(Array("*1\r\n*1\r\n*1\r\n*1\r\n".utf8), limits: limits)
        }
        #expect(try Self.parseAll(Array("*1\r\n*1\r\n*1\r\n:1\r\n".utf8), limits: limits).count == 1)
        // A line that never ends is refused once it is longer than allowed, not buffered forever.
        #expect(throws: RESPProtocolError.self) {
            try Self.parseAll(Array(("+" + String(repeating: "a", count: 40)).utf8), limits: limits)
        }
        // The default depth limit: 10,000 nested arrays are an error, not a stack overflow.
        #expect(throws: RESPProtocolError.self) {
            try Self.parseAll(Array(String(repeating: "*1\r\n", count: 10_000).utf8))
        }
    }

    @Test("one value's total size is bounded, however it is split into strings and elements")
    func valueBudget() throws {
        var limits = RESPParser.Limits()
        limits.maximumValueBytes = 100
        limits.costPerElement = 10
        // Many strings each under the bulk limit, together over the budget.
        let bulks = "*3\r\n" + String(repeating: "$30\r\n" + String(repeating: "x", count: 30) + "\r\n", count: 3)
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array(bulks.utf8), limits: limits) }
        // Many tiny nested elements: small on the wire, but each costs an element.
        let tiny = "*8\r\n" + String(repeating: ":1\r\n", count: 8)
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array(tiny.utf8), limits: limits) }
        // A string announced over the budget is refused before its bytes arrive.
        #expect(throws: RESPProtocolError.self) { try Self.parseAll(Array("$200\r\n".utf8), limits: limits) }
        // The budget is per top-level value: values that each fit keep parsing.
        let small = String(repeating: "*2\r\n:1\r\n:2\r\n", count: 20)
        #expect(try Self.parseAll(Array(small.utf8), limits: limits).count == 20)
        // By default, two strings that each pass the bulk limit are too much for one value.
        let defaults = RESPParser.Limits()
        let huge = "*2\r\n$\(defaults.maximumBulkLength)\r\n"
        var parser = RESPParser()
        var buffer = ByteBuffer(string: huge)
        buffer.writeRepeatingByte(UInt8(ascii: "x"), count: defaults.maximumBulkLength)
        buffer.writeString("\r\n$\(defaults.maximumBulkLength)\r\n")
        #expect(throws: RESPProtocolError.self) { while try parser.next(from: &buffer) != nil {} }
    }

    @Test("a long line arriving byte by byte is scanned once, not from its start each time")
    func linearScan() throws {
        // 60,000 one-byte reads of a 60,000-byte line: re-scanning from the line's start
        // would look at 1.8 billion bytes; resuming looks at each byte once.
        let line = Array(("+" + String(repeating: "a", count: 60_000) + "\r\n").utf8)
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in line {
            buffer.writeInteger(byte)
            while let value = try parser.next(from: &buffer) { values.append(value) }
        }
        #expect(values == [.simpleString(String(repeating: "a", count: 60_000))])
        #expect(parser.searchedBytes == line.count)
    }

    @Test("fuzz: random values round-trip through random splits; garbage never crashes or hangs")
    func fuzz() throws {
        for seed in UInt64(1)...3000 { try RESPFuzz.run(seed: seed) }
    }
}
