public import NIOCore

/// The Engine.IO v4 packet types, by the digit that starts a text packet.
public enum EnginePacketType: UInt8, Sendable {
    case open = 0x30  // "0"
    case close = 0x31
    case ping = 0x32
    case pong = 0x33
    case message = 0x34
    case upgrade = 0x35
    case noop = 0x36
}

/// Application data carried by a `message` packet.
public enum EngineMessage: Sendable, Equatable {
    case text(String)
    case binary(ByteBuffer)
}

/// A decoded packet received from a client.
public enum EnginePacket: Sendable, Equatable {
    case open(String)
    case close
    case ping(String)
    case pong(String)
    case message(EngineMessage)
    case upgrade
    case noop
}

/// Why bytes from a client are not an Engine.IO packet or payload.
public enum EngineDecodingError: Error, Equatable, CustomStringConvertible, Sendable {
    case emptyPacket
    case unknownPacketType(UInt8)
    case invalidBase64
    case invalidUTF8

    public var description: String {
        switch self {
        case .emptyPacket: return "empty Engine.IO packet"
        case .unknownPacketType(let byte):
            return "unknown Engine.IO packet type 0x\(String(byte, radix: 16))"
        case .invalidBase64: return "invalid base64 in binary Engine.IO packet"
        case .invalidUTF8: return "Engine.IO payload is not valid UTF-8"
        }
    }
}

/// A packet ready for the wire, encoded once and shared by every recipient.
///
/// `text` bytes are the whole text packet, type digit included (what a WebSocket text
/// frame carries); `binary` bytes are the raw message (what a binary frame carries,
/// base64-encoded behind a `b` over polling).
public struct EngineOutgoing: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case text
        case binary
    }

    public let kind: Kind
    public let bytes: ByteBuffer

    public init(kind: Kind, bytes: ByteBuffer) {
        self.kind = kind
        self.bytes = bytes
    }

    /// A `message` packet from its UTF-8 payload.
    public static func message(text: String) -> EngineOutgoing {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.utf8.count + 1)
        buffer.writeInteger(EnginePacketType.message.rawValue)
        buffer.writeString(text)
        return EngineOutgoing(kind: .text, bytes: buffer)
    }

    public static func message(binary: ByteBuffer) -> EngineOutgoing {
        EngineOutgoing(kind: .binary, bytes: binary)
    }

    static func control(_ type: EnginePacketType, _ data: String = "") -> EngineOutgoing {
        var buffer = ByteBuffer()
        buffer.writeInteger(type.rawValue)
        buffer.writeString(data)
        return EngineOutgoing(kind: .text, bytes: buffer)
    }

    public static let ping = control(.ping)
    public static let noop = control(.noop)
    public static let close = control(.close)
    static let probeAnswer = control(.pong, "probe")

    /// The text packet as a string, `nil` for binary.
    public var text: String? {
        kind == .text ? String(buffer: bytes) : nil
    }
}

public enum EngineCodec {
    /// The record separator between packets of a polling payload.
    public static let recordSeparator: UInt8 = 0x1E

    /// Decodes one text packet (a WebSocket text frame or one record of a payload).
    /// A leading `b` marks a base64 binary message, as Engine.IO v4 allows over polling.
    public static func decode(text: Substring.UTF8View) throws(EngineDecodingError) -> EnginePacket {
        guard let first = text.first else { throw .emptyPacket }
        if first == UInt8(ascii: "b") {
            guard let bytes = Base64.decode(text.dropFirst()) else { throw .invalidBase64 }
            return .message(.binary(ByteBuffer(bytes: bytes)))
        }
        guard let type = EnginePacketType(rawValue: first) else { throw .unknownPacketType(first) }
        // The type digit is ASCII, so what follows starts on a character boundary.
        let rest = Substring(text.dropFirst())
        switch type {
        case .open: return .open(String(rest))
        case .close: return .close
        case .ping: return .ping(String(rest))
        case .pong: return .pong(String(rest))
        case .message: return .message(.text(String(rest)))
        case .upgrade: return .upgrade
        case .noop: return .noop
        }
    }

    public static func decode(text: String) throws(EngineDecodingError) -> EnginePacket {
        try decode(text: Substring(text).utf8)
    }

    /// Decodes a polling payload: packets separated by 0x1E.
    public static func decodePayload(_ body: ByteBuffer) throws(EngineDecodingError) -> [EnginePacket] {
        guard let string = String(validating: body.readableBytesView, as: UTF8.self) else {
            throw .invalidUTF8
        }
        return try decodePayload(string)
    }

    public static func decodePayload(_ payload: String) throws(EngineDecodingError) -> [EnginePacket] {
        var packets: [EnginePacket] = []
        for record in payload.utf8.split(separator: recordSeparator, omittingEmptySubsequences: false) {
            packets.append(try decode(text: Substring(record).utf8))
        }
        return packets
    }

    /// Encodes packets into one polling payload.
    public static func encodePayload(_ packets: some Collection<EngineOutgoing>) -> ByteBuffer {
        var size = 0
        for packet in packets {
            size += packet.kind == .text ? packet.bytes.readableBytes : 1 + Base64.encodedLength(packet.bytes.readableBytes)
            size += 1
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        var first = true
        for packet in packets {
            if !first { buffer.writeInteger(recordSeparator) }
            first = false
            switch packet.kind {
            case .text:
                buffer.writeImmutableBuffer(packet.bytes)
            case .binary:
                buffer.writeInteger(UInt8(ascii: "b"))
                let length = Base64.encodedLength(packet.bytes.readableBytes)
                packet.bytes.withUnsafeReadableBytes { input in
                    _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
                        Base64.encode(input, into: output)
                        return length
                    }
                }
            }
        }
        return buffer
    }
}
