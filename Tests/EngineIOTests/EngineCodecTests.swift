import NIOCore
import Testing

@testable import EngineIO

@Suite("Engine.IO packet and payload codec")
struct EngineCodecTests {
    @Test(
        "every text packet type decodes",
        arguments: [
            ("0{}", EnginePacket.open("{}")),
            ("1", .close),
            ("2", .ping("")),
            ("2probe", .ping("probe")),
            ("3probe", .pong("probe")),
            ("4hello", .message(.text("hello"))),
            ("4", .message(.text(""))),
            ("4é😀", .message(.text("é😀"))),
            ("5", .upgrade),
            ("6", .noop),
        ])
    func decodesTextPackets(_ text: String, _ expected: EnginePacket) throws {
        #expect(try EngineCodec.decode(text: text) == expected)
    }

    @Test("a b-prefixed packet is a base64 binary message")
    func decodesBase64Binary() throws {
        #expect(try EngineCodec.decode(text: "bAQIDBA==") == .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4]))))
        #expect(try EngineCodec.decode(text: "b") == .message(.binary(ByteBuffer())))
    }

    @Test(
        "malformed packets are refused with a reason",
        arguments: [
            ("", EngineDecodingError.emptyPacket),
            ("7", .unknownPacketType(UInt8(ascii: "7"))),
            ("abc", .unknownPacketType(UInt8(ascii: "a"))),
            ("é", .unknownPacketType(0xC3)),
            ("b!!!!", .invalidBase64),
            ("bAQ=x", .invalidBase64),
            ("bA", .invalidBase64),
            ("bAAAAA", .invalidBase64),
            ("bAQ==AQ==", .invalidBase64),
            ("bAQ===", .invalidBase64),
        ])
    func refusesMalformed(_ text: String, _ expected: EngineDecodingError) {
        #expect(throws: expected) { try EngineCodec.decode(text: text) }
    }

    @Test("a payload splits on the record separator")
    func decodesPayload() throws {
        let packets = try EngineCodec.decodePayload("4hello\u{1e}bAQIDBA==\u{1e}3")
        #expect(packets == [.message(.text("hello")), .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4]))), .pong("")])
    }

    @Test("an empty record or invalid UTF-8 makes the whole payload invalid")
    func refusesBadPayload() {
        #expect(throws: EngineDecodingError.emptyPacket) { try EngineCodec.decodePayload("4a\u{1e}\u{1e}4b") }
        #expect(throws: EngineDecodingError.emptyPacket) { try EngineCodec.decodePayload("") }
        #expect(throws: EngineDecodingError.invalidUTF8) {
            try EngineCodec.decodePayload(ByteBuffer(bytes: [0x34, 0xFF, 0xFE]))
        }
    }

    @Test("payload encoding joins packets and base64-encodes binary")
    func encodesPayload() {
        let body = EngineCodec.encodePayload([
            .message(text: "hello"),
            .message(binary: ByteBuffer(bytes: [1, 2, 3, 4])),
            .ping,
        ])
        #expect(String(buffer: body) == "4hello\u{1e}bAQIDBA==\u{1e}2")
    }

    @Test("base64 round-trips every length")
    func base64RoundTrip() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64.encode(bytes)
            #expect(encoded.count == Base64.encodedLength(length))
            #expect(Base64.decode(encoded) == bytes)
            // Node also accepts the unpadded form.
            #expect(Base64.decode(encoded.filter { $0 != UInt8(ascii: "=") }) == bytes)
        }
    }

    @Test("session ids are 20 URL-safe characters and do not repeat")
    func sessionIDs() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = EngineServer.makeID()
            #expect(id.count == 20)
            #expect(id.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test("CORS_ALLOWED_ORIGINS parses to a policy")
    func corsPolicy() {
        #expect(CORSPolicy(allowedOrigins: "*") == .anyOrigin)
        #expect(CORSPolicy(allowedOrigins: "") == .disabled)
        #expect(
            CORSPolicy(allowedOrigins: "http://a.test, https://b.test")
                == .origins(["http://a.test", "https://b.test"]))
        let listed = CORSPolicy.origins(["http://a.test"])
        #expect(listed.allows(origin: "http://a.test"))
        #expect(!listed.allows(origin: "http://evil.test"))
        #expect(listed.allows(origin: nil))
    }
}
