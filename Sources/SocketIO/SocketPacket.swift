public import OrderedJSON

/// The Socket.IO v5 packet types, by their digit on the wire.
public enum SocketPacketType: UInt8, Sendable {
    /// `0`: a client joins a namespace; the server's answer carries the socket id.
    case connect = 0
    /// `1`: either side leaves a namespace.
    case disconnect = 1
    /// `2`: an event, `[name, ...args]`.
    case event = 2
    /// `3`: the answer to an event that asked for one, `[...args]`.
    case ack = 3
    /// `4`: the server refuses a CONNECT, `{"message": ..., "data": ...}`.
    case connectError = 4
    /// `5`: an event with binary attachments.
    case binaryEvent = 5
    /// `6`: an ack with binary attachments.
    case binaryAck = 6
}

/// A Socket.IO packet with its attachments already in place: binary values sit in
/// `data` as `JSONValue.binary`, so `event` and `binaryEvent` differ only on the wire.
public struct SocketPacket: Sendable, Equatable {
    /// The packet type; the encoder picks the binary variant when ``data`` holds binary.
    public var type: SocketPacketType
    /// The namespace, `/` by default.
    public var namespace: String
    /// The payload: an event's `[name, ...args]`, an ack's arguments, a CONNECT's `auth`.
    public var data: JSONValue?
    /// The ack id: on an event, asks for an answer; on an ack, the event it answers.
    public var ackID: UInt64?

    /// A packet of any type.
    public init(type: SocketPacketType, namespace: String = "/", data: JSONValue? = nil, ackID: UInt64? = nil) {
        self.type = type
        self.namespace = namespace
        self.data = data
        self.ackID = ackID
    }

    /// An event `name` with `args`; an `ackID` asks the client to answer.
    public static func event(_ name: String, _ args: [JSONValue], namespace: String = "/", ackID: UInt64? = nil)
        -> SocketPacket
    {
        SocketPacket(type: .event, namespace: namespace, data: .array([.string(name)] + args), ackID: ackID)
    }

    /// The answer, with `args`, to the event with ack id `id`.
    public static func ack(_ args: [JSONValue], id: UInt64, namespace: String = "/") -> SocketPacket {
        SocketPacket(type: .ack, namespace: namespace, data: .array(args), ackID: id)
    }

    /// Event name and arguments of an event packet.
    public var event: (name: String, args: [JSONValue])? {
        guard type == .event || type == .binaryEvent, case .array(let items) = data, let first = items.first,
            case .string(let name) = first
        else { return nil }
        return (name, Array(items.dropFirst()))
    }
}

/// Why a client's bytes are not a valid Socket.IO packet.
public enum SocketDecodingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A message with no packet type.
    case emptyPacket
    /// A first byte that is not a packet type digit.
    case unknownPacketType(UInt8)
    /// The attachment count of a binary packet is missing or malformed.
    case invalidAttachmentCount
    /// A binary packet announces more attachments than ``SocketIOConfiguration/maxAttachments``.
    case tooManyAttachments(limit: Int)
    /// The payload is not JSON; the detail says where.
    case invalidJSON(String)
    /// The payload is not what the type requires (an event without a name, a reserved event
    /// name, an ack id out of range, a CONNECT payload that is not an object).
    case invalidPayload(SocketPacketType)
    /// A binary message with no packet waiting for one, or a text packet while attachments
    /// are still due.
    case unexpectedAttachment
    /// A placeholder refers to an attachment the packet does not have.
    case invalidPlaceholder
    /// The text is not UTF-8.
    case invalidUTF8

    /// The problem in words, for logs.
    public var description: String {
        switch self {
        case .emptyPacket: return "empty Socket.IO packet"
        case .unknownPacketType(let byte): return "unknown Socket.IO packet type \(Character(Unicode.Scalar(byte)))"
        case .invalidAttachmentCount: return "invalid attachment count"
        case .tooManyAttachments(let limit): return "more than \(limit) attachments in one packet"
        case .invalidJSON(let detail): return "invalid JSON payload: \(detail)"
        case .invalidPayload(let type): return "payload not allowed for a \(type) packet"
        case .unexpectedAttachment: return "binary attachment with no packet waiting for one"
        case .invalidPlaceholder: return "attachment placeholder out of range"
        case .invalidUTF8: return "Socket.IO packet is not valid UTF-8"
        }
    }
}
