public import OrderedJSON

/// The Socket.IO v5 packet types, by their digit on the wire.
public enum SocketPacketType: UInt8, Sendable {
    case connect = 0
    case disconnect = 1
    case event = 2
    case ack = 3
    case connectError = 4
    case binaryEvent = 5
    case binaryAck = 6
}

/// A Socket.IO packet with its attachments already in place: binary values sit in
/// `data` as `JSONValue.binary`, so `event` and `binaryEvent` differ only on the wire.
public struct SocketPacket: Sendable, Equatable {
    public var type: SocketPacketType
    public var namespace: String
    public var data: JSONValue?
    public var ackID: UInt64?

    public init(type: SocketPacketType, namespace: String = "/", data: JSONValue? = nil, ackID: UInt64? = nil) {
        self.type = type
        self.namespace = namespace
        self.data = data
        self.ackID = ackID
    }

    public static func event(_ name: String, _ args: [JSONValue], namespace: String = "/", ackID: UInt64? = nil)
        -> SocketPacket
    {
        SocketPacket(type: .event, namespace: namespace, data: .array([.string(name)] + args), ackID: ackID)
    }

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
    case emptyPacket
    case unknownPacketType(UInt8)
    case invalidAttachmentCount
    case tooManyAttachments(limit: Int)
    case invalidJSON(String)
    case invalidPayload(SocketPacketType)
    case unexpectedAttachment
    case invalidPlaceholder
    case invalidUTF8

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
