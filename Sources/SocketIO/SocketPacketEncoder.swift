public import EngineIO
public import NIOCore
public import OrderedJSON

/// The encoder serializes packet payloads straight into the buffer that goes on the wire.
extension ByteBuffer: JSONOutput {
    /// Appends one byte.
    public mutating func writeJSONByte(_ byte: UInt8) { writeInteger(byte) }
    /// Appends the bytes.
    public mutating func writeJSONBytes(_ bytes: UnsafeRawBufferPointer) { writeBytes(bytes) }
}

/// Turns packets into what Engine.IO sends; an encoded packet is shared by every
/// recipient of a broadcast.
public enum SocketPacketEncoder {
    /// Encodes a packet into Engine.IO messages: the text packet first, then one binary
    /// message per attachment. Binary values in `data` make it a binary event or ack.
    public static func encode(_ packet: SocketPacket) -> [EngineOutgoing] {
        var attachments: [[UInt8]]? = nil
        var json = ByteBuffer()
        if let data = packet.data {
            if data.containsBinary { attachments = [] }
            json.reserveCapacity(64)
            data.serialize(into: &json, attachments: &attachments)
        }
        var type = packet.type
        if let attachments, !attachments.isEmpty {
            if type == .event { type = .binaryEvent }
            if type == .ack { type = .binaryAck }
        } else {
            if type == .binaryEvent { type = .event }
            if type == .binaryAck { type = .ack }
        }

        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.readableBytes + packet.namespace.utf8.count + 24)
        buffer.writeInteger(EnginePacketType.message.rawValue)
        buffer.writeInteger(UInt8(ascii: "0") + type.rawValue)
        if type == .binaryEvent || type == .binaryAck {
            buffer.writeString(String(attachments?.count ?? 0))
            buffer.writeInteger(UInt8(ascii: "-"))
        }
        if packet.namespace != "/" {
            buffer.writeString(packet.namespace)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        if let ackID = packet.ackID {
            buffer.writeString(String(ackID))
        }
        buffer.writeImmutableBuffer(json)

        var messages = [EngineOutgoing(kind: .text, bytes: buffer)]
        for attachment in attachments ?? [] {
            messages.append(.message(binary: ByteBuffer(bytes: attachment)))
        }
        return messages
    }

    /// The packet's text as a client sees it, without the Engine.IO `4` (for tests and logs).
    public static func text(of packet: SocketPacket) -> String {
        guard let first = encode(packet).first, var text = first.text else { return "" }
        text.removeFirst()
        return text
    }
}
