import Logging
public import NIOCore
import Synchronization

/// A WebSocket as a transport that calls back presents it (see
/// ``EngineServer/attachWebSocket(_:connection:)``): nothing here may wait.
public protocol EngineWebSocketConnection: Sendable {
    /// The loop the socket's channel runs on; a new session's timers run there too.
    var eventLoop: any EventLoop { get }
    /// Takes packets while the session has nothing queued for `write`.
    var sink: any EngineFrameSink { get }
    /// Messages the client has sent so far, as in ``EngineWebSocketWriter/messagesArrived``.
    var messagesArrived: Int? { get }
    /// Writes packets after everything the sink took before.
    func write(_ packets: [EngineOutgoing])
    /// Sends what the sink still holds and a close frame, then ends the connection.
    func close()
}

/// One WebSocket attached to a session: the active one, or a probe upgrading a polling
/// session. The transport hands it what the client sends and tells it when the socket
/// is gone.
public final class EngineWebSocketLink: Sendable {
    let session: EngineSession
    let link: EngineSession.LinkID
    private let logger: Logger
    private let onClosed: @Sendable () -> Void
    private let isClosed = Atomic<Bool>(false)

    init(
        session: EngineSession, link: EngineSession.LinkID, logger: Logger,
        onClosed: @escaping @Sendable () -> Void
    ) {
        self.session = session
        self.link = link
        self.logger = logger
        self.onClosed = onClosed
    }

    /// The session this socket carries or probes.
    public var engineSession: EngineSession { session }

    /// Hands one whole message from the client to the session; false when the socket
    /// should close (a frame that is not Engine.IO, or a probe gone wrong): then the
    /// session has been told, and the socket's writer gets its close.
    public func receive(_ frame: WebSocketData) -> Bool {
        let packet: EnginePacket
        do {
            switch (frame, session.protocolVersion) {
            case (.text(let text), .v4): packet = try EngineCodec.decode(text: text)
            case (.binary(let bytes), .v4): packet = .message(.binary(bytes))
            case (.text(let text), .v3): packet = try EngineCodecV3.decode(text: Substring(text).utf8)
            case (.binary(let bytes), .v3): packet = try EngineCodecV3.decode(binaryFrame: bytes)
            }
        } catch {
            logger.debug(
                "closing session after a bad frame",
                metadata: ["sid": "\(session.id)", "error": "\(error)"])
            if session.isActive(link) { session.fail(.parseError) }
            return false
        }
        return session.receive(packet, on: link)
    }

    /// The socket is gone (closed by either side, or failed); later calls do nothing.
    public func closed() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        session.linkClosed(link)
        onClosed()
    }

    /// The packets as this session's protocol frames them.
    func frames(_ batch: [EngineOutgoing]) -> [EngineOutgoing] {
        session.protocolVersion == .v4 ? batch : batch.map(EngineCodecV3.webSocketFrame)
    }

    /// Moves the session's packets to `connection` as they come, without a task: what is
    /// ready now is written at once, the rest wakes a parked callback (or goes through
    /// the sink); the end of the session closes the connection.
    func pump(into connection: some EngineWebSocketConnection) {
        while true {
            let ready = session.takeBatch(
                for: link,
                orWait: { [self] batch in
                    if deliver(batch, to: connection) { pump(into: connection) }
                })
            guard let ready else { return }
            guard deliver(ready, to: connection) else { return }
        }
    }

    private func deliver(_ batch: [EngineOutgoing]?, to connection: some EngineWebSocketConnection) -> Bool {
        guard let batch else {
            connection.close()
            return false
        }
        connection.write(frames(batch))
        return true
    }
}
