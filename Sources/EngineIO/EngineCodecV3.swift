public import NIOCore

/// The Engine.IO protocol revision a session speaks: 4, or 3 for old clients
/// (socket.io-client 2.x, python-engineio 3.x) when `allowEIO3` is on.
public enum EngineProtocolVersion: Int, Sendable, Equatable {
    /// Engine.IO v3 (`EIO=3`), accepted only with ``EngineConfiguration/allowEIO3``.
    case v3 = 3
    /// Engine.IO v4 (`EIO=4`).
    case v4 = 4
}

/// Engine.IO v3 framing. Packets are the same as in v4 except binary ones, which carry
/// their type: a raw type byte before the data in binary frames, `b4<base64>` in text.
/// A polling payload is `<length>:<packet>` repeated (length in UTF-16 code units, as
/// JavaScript counts), or records of `<0 text | 1 binary><length as decimal digit
/// bytes><0xFF><packet>` (length in bytes) for clients that read binary.
public enum EngineCodecV3 {
    /// Why a v3 payload is malformed.
    public enum PayloadError: Error, Equatable, Sendable {
        /// A record's length is missing, not decimal, too long, or its type marker is unknown.
        case badLength
        /// A record's length runs past the end of the payload.
        case truncated
        /// A record is not a packet.
        case packet(EngineDecodingError)
    }

    /// Decodes one v3 text packet: like v4, but a base64 binary packet is `b4…`.
    public static func decode(text: Substring.UTF8View) throws(EngineDecodingError) -> EnginePacket {
        guard text.first == UInt8(ascii: "b") else { return try EngineCodec.decode(text: text) }
        let rest = text.dropFirst()
        guard rest.first == EnginePacketType.message.rawValue else {
            throw .unknownPacketType(rest.first ?? UInt8(ascii: "b"))
        }
        guard let bytes = Base64.decode(rest.dropFirst()) else { throw .invalidBase64 }
        return .message(.binary(ByteBuffer(bytes: bytes)))
    }

    /// A binary WebSocket frame of a v3 client: its first byte is the packet type.
    public static func decode(binaryFrame: ByteBuffer) throws(EngineDecodingError) -> EnginePacket {
        var frame = binaryFrame
        guard let type = frame.readInteger(as: UInt8.self) else { throw .emptyPacket }
        guard type == EnginePacketType.message.rawValue - UInt8(ascii: "0") else { throw .unknownPacketType(type) }
        return .message(.binary(frame))
    }

    /// What a v3 WebSocket sends for a packet: binary messages get their type byte.
    public static func webSocketFrame(_ packet: EngineOutgoing) -> EngineOutgoing {
        guard packet.kind == .binary else { return packet }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(packet.bytes.readableBytes + 1)
        bytes.writeInteger(EnginePacketType.message.rawValue - UInt8(ascii: "0"))
        bytes.writeImmutableBuffer(packet.bytes)
        return EngineOutgoing(kind: .binary, bytes: bytes)
    }

    /// Decodes a polling POST body in either v3 framing.
    public static func decodePayload(_ body: ByteBuffer) throws(PayloadError) -> [EnginePacket] {
        let bytes = Array(body.readableBytesView)
        guard let first = bytes.first else { return [] }
        if first <= 1 { return try decodeBinaryPayload(bytes) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .packet(.invalidUTF8) }
        return try decodeTextPayload(text)
    }

    private static func decodeBinaryPayload(_ bytes: [UInt8]) throws(PayloadError) -> [EnginePacket] {
        var packets: [EnginePacket] = []
        var index = 0
        while index < bytes.count {
            let isBinary = bytes[index] == 1
            guard bytes[index] <= 1 else { throw .badLength }
            index += 1
            var length = 0
            var digits = 0
            while index < bytes.count, bytes[index] != 0xFF {
                guard bytes[index] <= 9, digits < 10 else { throw .badLength }
                length = length * 10 + Int(bytes[index])
                digits += 1
                index += 1
            }
            guard digits > 0, index < bytes.count else { throw .badLength }
            index += 1
            guard length <= bytes.count - index else { throw .truncated }
            let record = bytes[index..<(index + length)]
            index += length
            do throws(EngineDecodingError) {
                if isBinary {
                    packets.append(try decode(binaryFrame: ByteBuffer(bytes: record)))
                } else {
                    guard let text = String(validating: record, as: UTF8.self) else { throw .invalidUTF8 }
                    packets.append(try decode(text: Substring(text).utf8))
                }
            } catch {
                throw .packet(error)
            }
        }
        return packets
    }

    private static func decodeTextPayload(_ text: String) throws(PayloadError) -> [EnginePacket] {
        var packets: [EnginePacket] = []
        let units = Array(text.utf16)
        var index = 0
        while index < units.count {
            var length = 0
            var digits = 0
            while index < units.count, units[index] != UInt16(UInt8(ascii: ":")) {
                let unit = units[index]
                guard unit >= 0x30, unit <= 0x39, digits < 10 else { throw .badLength }
                length = length * 10 + Int(unit - 0x30)
                digits += 1
                index += 1
            }
            guard digits > 0, index < units.count else { throw .badLength }
            index += 1
            guard length <= units.count - index else { throw .truncated }
            let record = String(decoding: units[index..<(index + length)], as: UTF16.self)
            index += length
            // "0:" is the empty payload.
            if length == 0 { continue }
            do throws(EngineDecodingError) {
                packets.append(try decode(text: Substring(record).utf8))
            } catch {
                throw .packet(error)
            }
        }
        return packets
    }

    /// Encodes a polling response. Binary framing (byte lengths, unambiguous whatever
    /// the characters) unless the client asked for base64 (`b64=1`): then text framing
    /// with binary messages as `b4<base64>`.
    public static func encodePayload(_ packets: some Collection<EngineOutgoing>, base64: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        if packets.isEmpty, base64 {
            buffer.writeString("0:")
            return buffer
        }
        for packet in packets {
            if base64 {
                let text: String
                switch packet.kind {
                case .text: text = String(buffer: packet.bytes)
                case .binary:
                    text = "b4" + String(decoding: Base64.encode(Array(packet.bytes.readableBytesView)), as: UTF8.self)
                }
                buffer.writeString(String(text.utf16.count))
                buffer.writeInteger(UInt8(ascii: ":"))
                buffer.writeString(text)
            } else {
                let isBinary = packet.kind == .binary
                buffer.writeInteger(UInt8(isBinary ? 1 : 0))
                for digit in String(packet.bytes.readableBytes + (isBinary ? 1 : 0)).utf8 {
                    buffer.writeInteger(digit - UInt8(ascii: "0"))
                }
                buffer.writeInteger(UInt8(0xFF))
                if isBinary { buffer.writeInteger(EnginePacketType.message.rawValue - UInt8(ascii: "0")) }
                buffer.writeImmutableBuffer(packet.bytes)
            }
        }
        return buffer
    }
}
