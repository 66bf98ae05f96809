import EngineIO
import NIOCore
import OrderedJSON
import Testing

@testable import SocketIO

@Suite("Socket.IO packet codec")
struct SocketPacketCodecTests {
    @Test(
        "every packet type encodes as the reference encodes it",
        arguments: [
            (SocketPacket(type: .connect), "0"),
            (SocketPacket(type: .connect, data: ["sid": "abc"]), #"0{"sid":"abc"}"#),
            (SocketPacket(type: .connect, namespace: "/custom", data: ["sid": "abc"]), #"0/custom,{"sid":"abc"}"#),
            (SocketPacket(type: .disconnect), "1"),
            (SocketPacket(type: .disconnect, namespace: "/custom"), "1/custom,"),
            (SocketPacket.event("hello", [1, "2", ["3": [true]]]), #"2["hello",1,"2",{"3":[true]}]"#),
            (SocketPacket.event("hello", [], namespace: "/admin", ackID: 12), #"2/admin,12["hello"]"#),
            (SocketPacket.ack([], id: 456), "3456[]"),
            (SocketPacket.ack(["x"], id: 7, namespace: "/n"), #"3/n,7["x"]"#),
            (
                SocketPacket(type: .connectError, data: ["message": "Invalid namespace"]),
                #"4{"message":"Invalid namespace"}"#
            ),
        ])
    func encodes(_ packet: SocketPacket, _ text: String) throws {
        #expect(SocketPacketEncoder.text(of: packet) == text)
        var decoder = SocketPacketDecoder()
        #expect(try decoder.decode(text: text) == packet)
    }

    @Test("binary values make a binary event with placeholders and separate attachments")
    func encodesBinaryEvent() {
        let packet = SocketPacket.event("file", [.binary([1, 2, 3]), ["inner": .binary([4])]], ackID: 9)
        let messages = SocketPacketEncoder.encode(packet)
        #expect(messages.count == 3)
        #expect(
            messages[0].text == #"452-9["file",{"_placeholder":true,"num":0},{"inner":{"_placeholder":true,"num":1}}]"#)
        #expect(messages[1] == .message(binary: ByteBuffer(bytes: [1, 2, 3])))
        #expect(messages[2] == .message(binary: ByteBuffer(bytes: [4])))
        let ack = SocketPacketEncoder.encode(.ack([.binary([5])], id: 3, namespace: "/n"))
        #expect(ack[0].text == #"461-/n,3[{"_placeholder":true,"num":0}]"#)
    }

    @Test("a binary event is complete once all its attachments are in")
    func decodesAttachments() throws {
        var decoder = SocketPacketDecoder()
        #expect(
            try decoder.decode(text: #"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
                == nil)
        #expect(decoder.isAwaitingAttachments)
        #expect(try decoder.decode(binary: ByteBuffer(bytes: [1, 2, 3])) == nil)
        let packet = try decoder.decode(binary: ByteBuffer(bytes: [4, 5, 6]))
        #expect(
            packet == SocketPacket(type: .binaryEvent, data: ["message", .binary([1, 2, 3]), .binary([4, 5, 6])]))
        #expect(!decoder.isAwaitingAttachments)
        let ack = try SocketPacketDecoder().decodeOnce(#"61-/n,789[{"_placeholder":true,"num":0}]"#, [[9]])
        #expect(ack == SocketPacket(type: .binaryAck, namespace: "/n", data: [.binary([9])], ackID: 789))
    }

    @Test("the namespace may end the packet without a comma")
    func namespaceWithoutComma() throws {
        var decoder = SocketPacketDecoder()
        #expect(try decoder.decode(text: "0/random") == SocketPacket(type: .connect, namespace: "/random"))
    }

    @Test(
        "malformed packets are refused with a reason",
        arguments: [
            ("", SocketDecodingError.emptyPacket),
            ("9", .unknownPacketType(UInt8(ascii: "9"))),
            ("abc", .unknownPacketType(UInt8(ascii: "a"))),
            ("2", .invalidPayload(.event)),
            ("2{}", .invalidPayload(.event)),
            ("2[]", .invalidPayload(.event)),
            ("2[null]", .invalidPayload(.event)),
            (#"2["connect"]"#, .invalidPayload(.event)),
            (#"2["disconnect",1]"#, .invalidPayload(.event)),
            (#"2abc["message-with-ack",1]"#, .invalidJSON("unexpected byte 0x61 in JSON at byte 0")),
            ("1{}", .invalidPayload(.disconnect)),
            ("0[]", .invalidPayload(.connect)),
            ("0\"x\"", .invalidPayload(.connect)),
            ("3[1]", .invalidPayload(.ack)),
            ("312{}", .invalidPayload(.ack)),
            ("4[]", .invalidPayload(.connectError)),
            (#"5["a"]"#, .invalidAttachmentCount),
            (#"51["a"]"#, .invalidAttachmentCount),
            (#"5x-["a"]"#, .invalidAttachmentCount),
            ("599-[\"a\"]", .tooManyAttachments(limit: 10)),
            (#"50-["a",{"_placeholder":true,"num":0}]"#, .invalidPlaceholder),
            ("299999999999999999999[\"a\"]", .invalidPayload(.event)),
        ])
    func refusesMalformed(_ text: String, _ expected: SocketDecodingError) {
        var decoder = SocketPacketDecoder()
        #expect(throws: expected) { try decoder.decode(text: text) }
    }

    @Test("a payload past the JSON key or depth limit is refused as invalid JSON")
    func payloadPastJSONLimits() {
        let keys = (0...JSONValue.maximumKeysPerObject).map { #""k\#($0)":0"# }
        var decoder = SocketPacketDecoder()
        #expect {
            try decoder.decode(text: "0{" + keys.joined(separator: ",") + "}")
        } throws: { error in
            guard case .invalidJSON(let detail) = error as? SocketDecodingError else { return false }
            return detail.contains("more than \(JSONValue.maximumKeysPerObject) keys")
        }
        let deep = String(repeating: "[", count: JSONValue.maximumDepth + 1)
        #expect {
            try decoder.decode(text: #"2["message","# + deep)
        } throws: { error in
            guard case .invalidJSON(let detail) = error as? SocketDecodingError else { return false }
            return detail.contains("deeper than \(JSONValue.maximumDepth) levels")
        }
    }

    // Fixtures/fuzz/regressions/socket-event-name-infinity, found by Fuzz/SocketFuzz.
    @Test("an event named by a number out of Double's range is refused: it would re-encode as null")
    func eventNamedByInfinity() throws {
        var decoder = SocketPacketDecoder()
        #expect(throws: SocketDecodingError.invalidPayload(.event)) {
            try decoder.decode(text: "2[12e60266666666666666,{},{}]")
        }
        #expect(throws: SocketDecodingError.invalidPayload(.binaryEvent)) { try decoder.decode(text: "50-[-1e999]") }
        let finite = try #require(try decoder.decode(text: "2[1.5e300,{}]"))
        var again = SocketPacketDecoder()
        #expect(try again.decode(text: SocketPacketEncoder.text(of: finite)) == finite)
    }

    // Fixtures/fuzz/regressions/socket-attachment-reused, found by Fuzz/SocketFuzz.
    @Test("one attachment named by two placeholders is refused: relayed, it would be two attachments")
    func attachmentReused() throws {
        var decoder = SocketPacketDecoder()
        let placeholder = #"{"_placeholder":true,"num":0}"#
        let text = "51-[\"a\"" + String(repeating: "," + placeholder, count: 11) + "]"
        #expect(try decoder.decode(text: text) == nil)
        #expect(throws: SocketDecodingError.invalidPlaceholder) {
            try decoder.decode(binary: ByteBuffer(bytes: [1, 2]))
        }
        #expect(!decoder.isAwaitingAttachments)
        // Each attachment once, in any order, is fine.
        _ = try decoder.decode(text: #"52-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#)
        _ = try decoder.decode(binary: ByteBuffer(bytes: [0]))
        let packet = try #require(try decoder.decode(binary: ByteBuffer(bytes: [1])))
        #expect(packet.data == ["a", .binary([1]), .binary([0])])
    }

    @Test("an attachment with no packet waiting, or a text packet where one was due, is refused")
    func attachmentOutOfPlace() throws {
        var decoder = SocketPacketDecoder()
        #expect(throws: SocketDecodingError.unexpectedAttachment) { try decoder.decode(binary: ByteBuffer(bytes: [1])) }
        _ = try decoder.decode(text: #"51-["a",{"_placeholder":true,"num":0}]"#)
        #expect(throws: SocketDecodingError.unexpectedAttachment) { try decoder.decode(text: #"2["b"]"#) }
    }

    @Test("a placeholder pointing past the attachments is refused")
    func placeholderOutOfRange() throws {
        var decoder = SocketPacketDecoder()
        _ = try decoder.decode(text: #"51-["a",{"_placeholder":true,"num":1}]"#)
        #expect(throws: SocketDecodingError.invalidPlaceholder) { try decoder.decode(binary: ByteBuffer(bytes: [1])) }
    }

    @Test("encode then decode gives the packet back, for assorted payloads")
    func roundTrips() throws {
        let payloads: [JSONValue] = [
            "plain", 0, -17, 3.25, true, false, .null, [], [:],
            ["nested": ["deep": [1, [2, [3, "é😀\u{0}"]]]]],
            .binary([]), .binary(Array(0...255)), [.binary([1]), "x", ["y": .binary([2])]],
        ]
        for (index, payload) in payloads.enumerated() {
            for namespace in ["/", "/chat"] {
                let packet = SocketPacket.event(
                    "e\(index)", [payload], namespace: namespace, ackID: index.isMultiple(of: 2) ? UInt64(index) : nil)
                let messages = SocketPacketEncoder.encode(packet)
                var decoder = SocketPacketDecoder()
                var decoded: SocketPacket?
                for message in messages {
                    switch message.kind {
                    case .text:
                        var text = try #require(message.text)
                        text.removeFirst()  // the Engine.IO message type
                        decoded = try decoder.decode(text: text)
                    case .binary:
                        decoded = try decoder.decode(binary: message.bytes)
                    }
                }
                var expected = packet
                if payload.containsBinary { expected.type = .binaryEvent }
                #expect(decoded == expected)
            }
        }
    }
}

extension SocketPacketDecoder {
    /// Decodes a text packet and its attachments in one go.
    func decodeOnce(_ text: String, _ attachments: [[UInt8]]) throws -> SocketPacket? {
        var decoder = self
        var packet = try decoder.decode(text: text)
        for attachment in attachments { packet = try decoder.decode(binary: ByteBuffer(bytes: attachment)) }
        return packet
    }
}
