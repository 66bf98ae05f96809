import CompressNIO
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

// The close code a failing client gets is decided where the failure is found. Frame
// rules are applied below the WebSocket handler (`WebSocketFrameRules`); what can only be
// judged after inflating (permessage-deflate) is judged inside swift-websocket, whose
// codes reach the client only if its errors are left to it.

/// `permessage-deflate` whose inflation limit closes the socket with 1009 (message too
/// big), as a plain frame over the limit does, rather than 1011.
struct SizeLimitedDeflateBuilder: WebSocketExtensionBuilder {
    static let name = "permessage-deflate"
    let base: any WebSocketExtensionBuilder

    func clientRequestHeader() -> String { base.clientRequestHeader() }

    func serverReponseHeader(to request: WebSocketExtensionHTTPParameters) -> String? {
        base.serverReponseHeader(to: request)
    }

    func serverExtension(from request: WebSocketExtensionHTTPParameters) throws -> (any WebSocketExtension)? {
        try base.serverExtension(from: request).map(SizeLimitedDeflate.init(base:))
    }

    func clientExtension(from response: WebSocketExtensionHTTPParameters) throws -> (any WebSocketExtension)? {
        try base.clientExtension(from: response).map(SizeLimitedDeflate.init(base:))
    }
}

struct SizeLimitedDeflate: WebSocketExtension {
    let base: any WebSocketExtension

    var name: String { base.name }
    var reservedBits: WebSocketFrame.ReservedBits { base.reservedBits }

    func processReceivedFrame(_ frame: WebSocketFrame, context: WebSocketExtensionContext) async throws
        -> WebSocketFrame
    {
        do {
            return try await base.processReceivedFrame(frame, context: context)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            // The one public error swift-websocket answers with 1009.
            throw NIOWebSocketError.invalidFrameLength
        }
    }

    func processFrameToSend(_ frame: WebSocketFrame, context: WebSocketExtensionContext) async throws
        -> WebSocketFrame
    {
        try await base.processFrameToSend(frame, context: context)
    }

    func shutdown() async { await base.shutdown() }
}

/// The error the client's messages ended with, if they did. Message-level failures found
/// by swift-websocket (invalid UTF-8 once inflated: 1007; a fragmented message over the
/// limit: 1009) carry their close code in the error; the socket must be closed by
/// rethrowing it, not with a normal closure.
final class InboundFailure: Sendable {
    private let error = Mutex<(any Error)?>(nil)

    var recorded: (any Error)? { error.withLock { $0 } }

    func record(_ failure: any Error) {
        error.withLock { if $0 == nil { $0 = failure } }
    }
}

/// `base`, with the error it ends with recorded in `failure`.
struct FailureRecordingSequence<Base: AsyncSequence>: AsyncSequence {
    typealias Element = Base.Element
    let base: Base
    let failure: InboundFailure

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let failure: InboundFailure

        mutating func next() async throws -> Element? {
            do {
                return try await base.next()
            } catch is CancellationError {
                // The server is stopping: a normal closure.
                throw CancellationError()
            } catch {
                failure.record(error)
                throw error
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), failure: failure) }
}
