import EngineIO
import NIOCore

/// Engine.IO payloads and packets. Invariants: the String and ByteBuffer decoders agree;
/// a one-record payload decodes as `decode(text:)` does; what decodes re-encodes (with
/// `encodePayload`) into a payload that decodes to the same packets.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let buffer = ByteBuffer(bytes: bytes)

    let text = String(validating: bytes, as: UTF8.self)
    let fromBuffer = Result { () throws(EngineDecodingError) in try EngineCodec.decodePayload(buffer) }
    guard let text else {
        guard case .failure(.invalidUTF8) = fromBuffer else { fatalError("invalid UTF-8 accepted: \(fromBuffer)") }
        return 0
    }
    let fromString = Result { () throws(EngineDecodingError) in try EngineCodec.decodePayload(text) }
    precondition(fromString == fromBuffer, "String and ByteBuffer decoders disagree")

    if !bytes.contains(EngineCodec.recordSeparator) {
        let single = Result { () throws(EngineDecodingError) in try EngineCodec.decode(text: text) }
        precondition(single.map { [$0] } == fromString, "decode(text:) and decodePayload disagree")
    }

    guard case .success(let packets) = fromString else { return 0 }
    precondition(!packets.isEmpty, "a payload decoded to no packets")
    let again = Result { () throws(EngineDecodingError) in
        try EngineCodec.decodePayload(EngineCodec.encodePayload(packets.map(outgoing)))
    }
    precondition(again == .success(packets), "re-encoded payload decodes differently: \(packets) -> \(again)")
    return 0
}

func outgoing(_ packet: EnginePacket) -> EngineOutgoing {
    func text(_ type: EnginePacketType, _ data: String = "") -> EngineOutgoing {
        var buffer = ByteBuffer()
        buffer.writeInteger(type.rawValue)
        buffer.writeString(data)
        return EngineOutgoing(kind: .text, bytes: buffer)
    }
    switch packet {
    case .open(let data): return text(.open, data)
    case .close: return text(.close)
    case .ping(let data): return text(.ping, data)
    case .pong(let data): return text(.pong, data)
    case .message(.text(let data)): return .message(text: data)
    case .message(.binary(let data)): return .message(binary: data)
    case .upgrade: return text(.upgrade)
    case .noop: return text(.noop)
    }
}
