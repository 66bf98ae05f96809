public import NIOCore

/// The Engine.IO v4 packet types, by the digit that starts a text packet.
public enum EnginePacketType: UInt8, Sendable {
    /// `0`: the server's handshake, with the session's parameters as JSON.
    case open = 0x30  // "0"
    /// `1`: the session ends.
    case close = 0x31
    /// `2`: a heartbeat, or `2probe` from a client testing a WebSocket before upgrading.
    case ping = 0x32
    /// `3`: the answer to a ping.
    case pong = 0x33
    /// `4`: application data.
    case message = 0x34
    /// `5`: the client switches the session to the transport it probed.
    case upgrade = 0x35
    /// `6`: nothing; ends a pending poll during an upgrade.
    case noop = 0x36
}

/// Application data carried by a `message` packet.
public enum EngineMessage: Sendable, Equatable {
    /// A text message, without the `4` type digit.
    case text(String)
    /// A binary message (a WebSocket binary frame, or a base64 `b` record over polling).
    case binary(ByteBuffer)
}

/// A decoded packet received from a client.
public enum EnginePacket: Sendable, Equatable {
    /// `open` with its data (clients do not send it; decoded so it can be refused).
    case open(String)
    /// The client closes the session.
    case close
    /// A ping with its data (`probe` during an upgrade).
    case ping(String)
    /// A pong with its data: an answer to the server's heartbeat, or `probe`.
    case pong(String)
    /// Application data.
    case message(EngineMessage)
    /// The client completes an upgrade to WebSocket.
    case upgrade
    /// A no-op.
    case noop
}

/// Why bytes from a client are not an Engine.IO packet or payload.
public enum EngineDecodingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A packet with no bytes, not even a type.
    case emptyPacket
    /// A first byte that is neither a packet type digit nor `b`.
    case unknownPacketType(UInt8)
    /// A `b` record whose rest is not base64.
    case invalidBase64
    /// A polling body that is not UTF-8.
    case invalidUTF8

    /// The problem in words, for logs and for the error the client is sent.
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
    /// How the bytes go on the wire.
    public enum Kind: Sendable, Equatable {
        /// A text packet, type digit included.
        case text
        /// A raw binary message.
        case binary
    }

    /// How ``bytes`` go on the wire.
    public let kind: Kind
    /// The encoded packet: the whole text packet, or the raw binary message.
    public let bytes: ByteBuffer

    /// A packet already encoded as `kind`.
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

    /// A binary `message` packet carrying `binary` unchanged.
    public static func message(binary: ByteBuffer) -> EngineOutgoing {
        EngineOutgoing(kind: .binary, bytes: binary)
    }

    static func control(_ type: EnginePacketType, _ data: String = "") -> EngineOutgoing {
        var buffer = ByteBuffer()
        buffer.writeInteger(type.rawValue)
        buffer.writeString(data)
        return EngineOutgoing(kind: .text, bytes: buffer)
    }

    /// A `ping` with no data: the server's heartbeat.
    public static let ping = control(.ping)
    /// A `noop`.
    public static let noop = control(.noop)
    /// A `close`.
    public static let close = control(.close)
    static let probeAnswer = control(.pong, "probe")

    /// The text packet as a string, `nil` for binary.
    public var text: String? {
        kind == .text ? String(buffer: bytes) : nil
    }
}

/// The Engine.IO v4 wire codec: single packets, and polling payloads of several packets
/// separated by ``recordSeparator``. Decoding is linear in the input and throws
/// ``EngineDecodingError`` on anything malformed.
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

    /// Decodes one text packet given as a string, as the `Substring.UTF8View` overload does.
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

    /// Decodes a polling payload already known to be UTF-8: packets separated by 0x1E; an
    /// empty record is ``EngineDecodingError/emptyPacket``.
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
            size +=
                packet.kind == .text ? packet.bytes.readableBytes : 1 + Base64.encodedLength(packet.bytes.readableBytes)
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
