import NIOCore
import NIOWebSocket

/// What RFC 6455 requires of a client's frames, checked as they are decoded, before any
/// message reaches a handler: every frame masked, no reserved bit or opcode that was not
/// negotiated, fragments in order (else 1002); a text message valid UTF-8 across its
/// fragments (else 1007); a message no larger than the limit, fragmented or not, and in
/// at most `maxFragments` pieces (else 1009: each fragment costs memory even when it is
/// empty). Compressed messages (`permessage-deflate`) are measured and validated after
/// inflating, by the extension.
struct WebSocketFrameRules {
    /// The largest message, in payload bytes.
    let maxMessageBytes: Int
    /// Whether `permessage-deflate` may be in use (RSV1 marks a compressed message).
    let allowsCompression: Bool
    /// The most fragments one message may come in.
    static let maxFragments = 1024

    private var inMessage = false
    private var messageBytes = 0
    private var fragments = 0
    private var isText = false
    private var isCompressed = false
    private var utf8 = UTF8StreamValidator()

    init(maxMessageBytes: Int, allowsCompression: Bool = false) {
        self.maxMessageBytes = maxMessageBytes
        self.allowsCompression = allowsCompression
    }

    /// The close code the frame calls for, nil when it is acceptable.
    mutating func check(_ frame: WebSocketFrame) -> WebSocketErrorCode? {
        guard frame.maskKey != nil, !frame.rsv2, !frame.rsv3 else { return .protocolError }
        switch frame.opcode {
        case .text, .binary:
            guard !inMessage, !frame.rsv1 || allowsCompression else { return .protocolError }
            inMessage = true
            messageBytes = 0
            fragments = 0
            isText = frame.opcode == .text
            isCompressed = frame.rsv1
            utf8 = UTF8StreamValidator()
        case .continuation:
            guard inMessage, !frame.rsv1 else { return .protocolError }
        case .connectionClose, .ping, .pong:
            return frame.rsv1 ? .protocolError : nil
        default:
            return .protocolError
        }
        messageBytes += frame.length
        fragments += 1
        guard fragments <= Self.maxFragments else { return .messageTooLarge }
        guard isCompressed || messageBytes <= maxMessageBytes else { return .messageTooLarge }
        if isText, !isCompressed {
            let valid = frame.unmaskedData.withUnsafeReadableBytes { utf8.consume($0) }
            guard valid, !frame.fin || utf8.isAtBoundary else { return .dataInconsistentWithMessage }
        }
        if frame.fin { inMessage = false }
        return nil
    }
}

/// Validates UTF-8 fed in pieces: a scalar may be split between pieces. Linear in the
/// bytes, with no allocation.
struct UTF8StreamValidator {
    /// Continuation bytes the current scalar still needs.
    private var needed = 0
    /// The range the next continuation byte must fall in (narrower after some leads, to
    /// refuse overlong forms, surrogates and values past U+10FFFF).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Between scalars: what was fed so far is complete UTF-8.
    var isAtBoundary: Bool { needed == 0 }

    /// False as soon as the bytes cannot be UTF-8.
    mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes {
            if needed > 0 {
                guard byte >= lower, byte <= upper else { return false }
                needed -= 1
                lower = 0x80
                upper = 0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: break
            case 0xC2...0xDF: needed = 1
            case 0xE0:
                needed = 2
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: needed = 2
            case 0xED:
                needed = 2
                upper = 0x9F
            case 0xF0:
                needed = 3
                lower = 0x90
            case 0xF1...0xF3: needed = 3
            case 0xF4:
                needed = 3
                upper = 0x8F
            default: return false
            }
        }
        return true
    }
}
