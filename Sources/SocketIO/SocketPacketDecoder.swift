public import NIOCore
import OrderedJSON

/// Decodes the packets of one connection. Stateful: a binary packet is complete only
/// once its attachments, which arrive as separate Engine.IO messages, are in.
public struct SocketPacketDecoder: Sendable {
    /// The reserved event names a client may not emit.
    static let reservedEvents: Set<String> = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    /// The most attachments one packet may announce; more is ``SocketDecodingError/tooManyAttachments(limit:)``.
    public let maxAttachments: Int
    private var pending: (packet: SocketPacket, expected: Int, attachments: [[UInt8]])?

    /// A decoder that accepts up to `maxAttachments` attachments per packet.
    public init(maxAttachments: Int = 10) {
        self.maxAttachments = maxAttachments
    }

    /// True while a binary packet waits for attachments.
    public var isAwaitingAttachments: Bool { pending != nil }

    /// Decodes a text message. Returns nil when the packet waits for attachments.
    public mutating func decode(text: String) throws(SocketDecodingError) -> SocketPacket? {
        if pending != nil { throw .unexpectedAttachment }  // a text message where binary was due
        var text = text
        let result = text.withUTF8 { bytes in
            Result { () throws(SocketDecodingError) in
                try Self.parseHeaderAndPayload(UnsafeRawBufferPointer(bytes), maxAttachments: maxAttachments)
            }
        }
        let (packet, attachmentCount) = try result.get()
        if attachmentCount > 0 {
            pending = (packet, attachmentCount, [])
            return nil
        }
        if packet.type == .binaryEvent || packet.type == .binaryAck {
            return try Self.substituted(packet, attachments: [])
        }
        return packet
    }

    /// Takes a binary message as the next attachment of the pending packet.
    public mutating func decode(binary: ByteBuffer) throws(SocketDecodingError) -> SocketPacket? {
        guard var current = pending else { throw .unexpectedAttachment }
        current.attachments.append(Array(binary.readableBytesView))
        if current.attachments.count < current.expected {
            pending = current
            return nil
        }
        pending = nil
        return try Self.substituted(current.packet, attachments: current.attachments)
    }

    static func parseHeaderAndPayload(
        _ bytes: UnsafeRawBufferPointer,
        maxAttachments: Int
    ) throws(SocketDecodingError) -> (SocketPacket, attachments: Int) {
        guard !bytes.isEmpty else { throw .emptyPacket }
        let typeByte = bytes[0]
        guard typeByte >= UInt8(ascii: "0"), let type = SocketPacketType(rawValue: typeByte &- UInt8(ascii: "0")) else {
            throw .unknownPacketType(typeByte)
        }
        var index = 1
        var attachments = 0
        if type == .binaryEvent || type == .binaryAck {
            let start = index
            var count = 0
            while index < bytes.count, isDigit(bytes[index]) {
                count = count * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                if count > maxAttachments { throw .tooManyAttachments(limit: maxAttachments) }
                index += 1
            }
            guard index > start, index < bytes.count, bytes[index] == UInt8(ascii: "-") else {
                throw .invalidAttachmentCount
            }
            index += 1
            attachments = count
        }
        var namespace = "/"
        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            guard let name = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            else { throw .invalidUTF8 }
            namespace = name
            if index < bytes.count { index += 1 }  // the comma
        }
        var ackID: UInt64?
        if index < bytes.count, isDigit(bytes[index]) {
            var id: UInt64 = 0
            while index < bytes.count, isDigit(bytes[index]) {
                let (times10, overflow1) = id.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                // Ids beyond 2^53 cannot come from a JavaScript client.
                guard !overflow1, !overflow2, sum <= 9_007_199_254_740_991 else { throw .invalidPayload(type) }
                id = sum
                index += 1
            }
            ackID = id
        }
        var data: JSONValue?
        if index < bytes.count {
            do {
                data = try JSONValue(parsing: UnsafeRawBufferPointer(rebasing: bytes[index...]))
            } catch {
                throw .invalidJSON(error.description)
            }
        }
        let packet = SocketPacket(type: type, namespace: namespace, data: data, ackID: ackID)
        guard isPayloadValid(packet) else { throw .invalidPayload(type) }
        return (packet, attachments)
    }

    /// The reference parser's rules for what each packet type may carry.
    static func isPayloadValid(_ packet: SocketPacket) -> Bool {
        switch packet.type {
        case .connect:
            if case .object = packet.data ?? .object([:]) { return true }
            return false
        case .disconnect:
            return packet.data == nil
        case .connectError:
            switch packet.data {
            case .string, .object: return true
            default: return false
            }
        case .event, .binaryEvent:
            guard case .array(let items) = packet.data, let first = items.first else { return false }
            switch first {
            case .integer: return true
            // 1e999 parses to infinity, which the encoder (like JSON.stringify) writes as
            // null: a name no client, nor this decoder, accepts. Found by Fuzz/SocketFuzz.
            case .double(let number): return number.isFinite
            case .string(let name): return !reservedEvents.contains(name)
            default: return false
            }
        case .ack, .binaryAck:
            guard packet.ackID != nil, case .array = packet.data else { return false }
            return true
        }
    }

    /// Puts attachments where their placeholders are.
    static func substituted(_ packet: SocketPacket, attachments: [[UInt8]]) throws(SocketDecodingError) -> SocketPacket
    {
        var packet = packet
        if let data = packet.data {
            var used = [Bool](repeating: false, count: attachments.count)
            packet.data = try replacePlaceholders(in: data, attachments: attachments, used: &used)
        }
        return packet
    }

    /// Each attachment may stand in one place only. Otherwise one attachment named by
    /// thousands of placeholders becomes thousands of copies, each its own attachment
    /// when the packet is relayed (past `maxAttachments`, and as many times the bytes).
    /// Found by Fuzz/SocketFuzz.
    static func replacePlaceholders(
        in value: JSONValue, attachments: [[UInt8]], used: inout [Bool]
    ) throws(SocketDecodingError) -> JSONValue {
        switch value {
        case .array(let items):
            var result: [JSONValue] = []
            result.reserveCapacity(items.count)
            for item in items {
                result.append(try replacePlaceholders(in: item, attachments: attachments, used: &used))
            }
            return .array(result)
        case .object(let object):
            if object["_placeholder"] == .bool(true), let num = object["num"] {
                guard let index = num.integerValue, index >= 0, index < attachments.count, !used[Int(index)] else {
                    throw .invalidPlaceholder
                }
                used[Int(index)] = true
                return .binary(attachments[Int(index)])
            }
            var result = JSONObject()
            for entry in object.entries {
                result[entry.key] = try replacePlaceholders(in: entry.value, attachments: attachments, used: &used)
            }
            return .object(result)
        default:
            return value
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
