import EngineIO
import NIOCore
import OrderedJSON
import SocketIO

/// The separator between the text message and the binary attachments in an input.
/// 0xFF never occurs in UTF-8, so the text part can be any text.
let separator: UInt8 = 0xFF

/// Socket.IO packets with attachments: the input is `text 0xFF binary 0xFF binary ...`.
/// The text goes to `decode(text:)`, each binary part to `decode(binary:)`.
/// Invariants: a packet completes exactly when its attachments are in, a binary message
/// beyond them is refused, and a decoded packet re-encodes (`SocketPacketEncoder`) into
/// messages that decode to a packet encoding the same way.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let parts = bytes.split(separator: separator, omittingEmptySubsequences: false)
    guard let textPart = parts.first, let text = String(validating: textPart, as: UTF8.self) else { return 0 }
    let binaries = parts.dropFirst().map { ByteBuffer(bytes: $0) }

    var decoder = SocketPacketDecoder(maxAttachments: 10)
    var packet: SocketPacket?
    do {
        packet = try decoder.decode(text: text)
    } catch {
        precondition(!decoder.isAwaitingAttachments, "a refused text left the decoder waiting")
        return 0
    }
    var used = 0
    for binary in binaries {
        if packet != nil || !decoder.isAwaitingAttachments {
            // Complete: more binary is an error, and stays one.
            do {
                _ = try decoder.decode(binary: binary)
                fatalError("an attachment nobody waited for was accepted")
            } catch {
                precondition(error == .unexpectedAttachment, "unexpected error \(error)")
            }
            break
        }
        used += 1
        do {
            packet = try decoder.decode(binary: binary)
        } catch {
            precondition(!decoder.isAwaitingAttachments, "a refused attachment left the decoder waiting")
            return 0
        }
    }
    guard let packet else {
        precondition(decoder.isAwaitingAttachments, "no packet and not waiting")
        return 0
    }
    precondition(!decoder.isAwaitingAttachments, "a complete packet left the decoder waiting")
    if packet.type == .binaryEvent || packet.type == .binaryAck {
        precondition(used <= 10, "more attachments than the limit")
    }

    let messages = SocketPacketEncoder.encode(packet)
    let again = redecode(messages)
    precondition(again != nil, "re-encoded packet does not decode: \(messages)")
    let messagesAgain = SocketPacketEncoder.encode(again!)
    precondition(messagesAgain == messages, "encoding is not a fixed point: \(messages) vs \(messagesAgain)")
    return 0
}

func redecode(_ messages: [EngineOutgoing]) -> SocketPacket? {
    guard var text = messages.first?.text, text.first == "4" else { return nil }
    text.removeFirst()
    var decoder = SocketPacketDecoder(maxAttachments: 10)
    do {
        var packet = try decoder.decode(text: text)
        for message in messages.dropFirst() {
            guard message.kind == .binary, packet == nil else { return nil }
            packet = try decoder.decode(binary: message.bytes)
        }
        return packet
    } catch {
        return nil
    }
}
