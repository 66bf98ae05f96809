import HTTPTypes
public import Logging
public import NIOCore
public import NIOPosix
import Synchronization

/// A frame read from, or to be written to, a WebSocket.
public enum WebSocketData: Sendable, Equatable {
    /// A text frame.
    case text(String)
    /// A binary frame.
    case binary(ByteBuffer)
}

/// The writing half of a WebSocket, as the HTTP framework provides it.
public protocol EngineWebSocketWriter: Sendable {
    /// Writes packets as frames, text or binary, in order.
    func write(_ packets: [EngineOutgoing]) async throws
    /// Sends a close frame and ends the connection.
    func close() async
    /// A way onto the connection that does not wait, used while `write` is idle; nil
    /// sends everything through `write`.
    var directSink: (any EngineFrameSink)? { get }
    /// Messages the client has sent on this WebSocket that the server has read off the
    /// network so far, handled by the engine or not; nil when the transport does not
    /// count them. An upgrade uses it to tell a client still sending on its probe from
    /// one that waits for the answer to its last GET.
    var messagesArrived: Int? { get }
}

extension EngineWebSocketWriter {
    /// No direct sink: everything goes through ``write(_:)``.
    public var directSink: (any EngineFrameSink)? { nil }
    /// Not counted.
    public var messagesArrived: Int? { nil }
}

/// Hands packets to a WebSocket without waking the writer's task: a broadcast to many
/// sockets then costs no task switch per recipient, and the framework can batch the
/// writes of many connections into one turn of their event loop.
public protocol EngineFrameSink: Sendable {
    /// Takes the packets, in order after everything offered or written before, unless
    /// more than `limit` packets would then be waiting to reach the client (it reads too
    /// slowly); false leaves the packets untaken.
    func offer(_ packets: [EngineOutgoing], limit: Int) -> Bool
}

/// What a WebSocket request may become, decided before the HTTP upgrade is answered.
public enum WebSocketAdmission: Sendable {
    /// A handshake over WebSocket: a new session starts on it.
    case newSession(EngineRequest)
    /// An upgrade of this polling session to WebSocket (probe, then `upgrade`).
    case upgrade(EngineSession, EngineRequest)
    /// Refused; the HTTP framework answers the error instead of upgrading.
    case refused(EngineProtocolError)
}

/// The body of a polling POST, as read by the HTTP framework within `maxPayload`.
public enum PollingBody: Sendable {
    /// The whole body.
    case bytes(ByteBuffer)
    /// The body was longer than ``EngineConfiguration/maxPayload``: the session ends and the
    /// client gets 413.
    case tooLarge
}

/// An Engine.IO v4 server (and v3 with `allowEIO3`): handshakes, sessions and both transports, behind
/// framework-neutral request types so any HTTP server can carry it.
public final class EngineServer: Sendable {
    /// Receives each new session; returns the delegate for its messages, or nil to ignore them.
    public typealias ConnectionHandler = @Sendable (EngineSession) -> (any EngineSessionDelegate)?

    /// The options the server was made with.
    public let configuration: EngineConfiguration
    let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let sessions = Mutex<[String: EngineSession]>([:])
    private let connectionHandler = Mutex(HandlerSlot())
    private let accepting = Mutex(true)
    private let openWebSockets = Mutex(0)
    private let sessionsPerAddress = Mutex<[String: Int]>([:])
    /// Packet and session counters, for metrics.
    public let statistics = EngineStatistics()

    /// A server with `configuration`; sessions' timers run on `eventLoopGroup`.
    public init(
        configuration: EngineConfiguration = EngineConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "engine.io")
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Called for each new session; the returned delegate receives its messages.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        connectionHandler.withLock { $0.handler = handler }
    }

    /// The handler sits in a struct: a bare closure read through `withLock`'s generic
    /// `inout` is written back wrapped in two more reabstraction thunks each time, so
    /// every new session would cost more than the one before (and the stack, at last).
    private struct HandlerSlot: Sendable {
        var handler: ConnectionHandler?
    }

    /// Sessions open now, on either transport.
    public var sessionCount: Int { sessions.withLock { $0.count } }

    /// Open sessions by the transport they use now.
    public var sessionsByTransport: [EngineTransport: Int] {
        let open = sessions.withLock { Array($0.values) }
        var counts: [EngineTransport: Int] = [.polling: 0, .websocket: 0]
        for session in open { counts[session.transport, default: 0] += 1 }
        return counts
    }

    /// The open session with this id, nil when there is none.
    public func session(id: String) -> EngineSession? { sessions.withLock { $0[id] } }

    /// Stops accepting sessions, closes every open one (queued packets and a close
    /// packet still go out), and waits up to `grace` for clients to collect them and for
    /// WebSockets to finish closing; what is left after that is dropped.
    public func shutdown(grace: Duration = .seconds(5)) async {
        accepting.withLock { $0 = false }
        let all = sessions.withLock { Array($0.values) }
        for session in all { session.close(reason: .serverShutdown) }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        // Shutdown only: a short poll is simpler than wiring a completion through every
        // session and socket.
        while clock.now < deadline, sessionCount > 0 || openWebSockets.withLock({ $0 }) > 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for session in sessions.withLock({ Array($0.values) }) { session.abandon() }
    }

    // MARK: - Long-polling

    /// Answers a polling request (handshake, GET or POST) or a CORS preflight; what a GET
    /// carries is compressed when `httpCompression` and the request's `Accept-Encoding` allow.
    public func handlePolling(_ request: EngineRequest, body: PollingBody? = nil) async -> EngineResponse {
        let response = await answerPolling(request, body: body)
        guard request.method == .get, response.status == .ok, let compression = configuration.httpCompression else {
            return response
        }
        return compression.compress(response, for: request)
    }

    private func answerPolling(_ request: EngineRequest, body: PollingBody?) async -> EngineResponse {
        var headers = corsHeaders(for: request)
        if request.method == .options {
            headers[.accessControlAllowMethods] = "GET, POST"
            if let requested = request.headers[.accessControlRequestHeaders] {
                headers[.accessControlAllowHeaders] = requested
            }
            return EngineResponse(status: .noContent, headers: headers)
        }
        if let error = verify(request, transport: .polling) {
            return errorResponse(error, headers: headers)
        }
        guard let sid = request.query["sid"] else {
            return handshake(request, headers: headers)
        }
        guard let session = session(id: sid) else {
            return errorResponse(.unknownSession, headers: headers)
        }
        switch request.method {
        case .get:
            switch await session.poll() {
            case .payload(let packets):
                return payloadResponse(packets, for: session.protocolVersion, request, headers: headers)
            case .refused(let error):
                return errorResponse(error, headers: headers)
            }
        case .post:
            guard session.transport == .polling else { return errorResponse(.badRequest, headers: headers) }
            switch body ?? .bytes(ByteBuffer()) {
            case .tooLarge:
                // What the client meant to send is lost: end the session so it knows.
                session.fail(.transportError)
                headers[.contentType] = "application/json"
                return EngineResponse(
                    status: .contentTooLarge,
                    headers: headers,
                    body: ByteBuffer(string: "{\"code\":3,\"message\":\"Payload too large\"}")
                )
            case .bytes(let bytes):
                let packets: [EnginePacket]
                do {
                    switch session.protocolVersion {
                    case .v4: packets = try EngineCodec.decodePayload(bytes)
                    case .v3: packets = try EngineCodecV3.decodePayload(bytes)
                    }
                } catch {
                    logger.debug(
                        "closing session after a bad payload", metadata: ["sid": "\(sid)", "error": "\(error)"])
                    session.fail(.parseError)
                    return errorResponse(.badRequest, headers: headers)
                }
                session.receive(packets)
                headers[.contentType] = "text/html"
                return EngineResponse(status: .ok, headers: headers, body: ByteBuffer(string: "ok"))
            }
        default:
            return errorResponse(.badRequest, headers: headers)
        }
    }

    private func handshake(_ request: EngineRequest, headers: HTTPFields) -> EngineResponse {
        var headers = headers
        guard request.method == .get else { return errorResponse(.badHandshakeMethod, headers: headers) }
        guard let session = openSession(request, transport: .polling) else {
            return errorResponse(.forbidden, headers: headers)
        }
        if let cookie = configuration.handshakeCookie { headers[.setCookie] = cookie }
        return payloadResponse(
            [openPacket(for: session, transport: .polling)], for: session.protocolVersion, request, headers: headers)
    }

    /// A polling answer in the session's framing.
    private func payloadResponse(
        _ packets: [EngineOutgoing], for version: EngineProtocolVersion, _ request: EngineRequest, headers: HTTPFields
    ) -> EngineResponse {
        var headers = headers
        let body: ByteBuffer
        switch version {
        case .v4:
            headers[.contentType] = "text/plain; charset=UTF-8"
            body = EngineCodec.encodePayload(packets)
        case .v3:
            let base64 = request.query["b64"] != nil
            headers[.contentType] = base64 ? "text/plain; charset=UTF-8" : "application/octet-stream"
            body = EngineCodecV3.encodePayload(packets, base64: base64)
        }
        return EngineResponse(status: .ok, headers: headers, body: body)
    }

    /// The protocol a request asks for (`EIO=3` or 4), once `verify` has accepted it.
    private func requestedVersion(_ request: EngineRequest) -> EngineProtocolVersion {
        request.query["EIO"] == "3" && configuration.allowEIO3 ? .v3 : .v4
    }

    // MARK: - WebSocket

    /// Decides whether a WebSocket request may be upgraded, before answering it.
    public func admitWebSocket(_ request: EngineRequest) -> WebSocketAdmission {
        if let error = verify(request, transport: .websocket) { return .refused(error) }
        guard let sid = request.query["sid"] else {
            // Refused before the upgrade, so the client gets an HTTP answer it can read.
            if !hasRoom(for: request) { return .refused(.forbidden) }
            return .newSession(request)
        }
        guard let session = session(id: sid) else { return .refused(.unknownSession) }
        guard configuration.allowUpgrades else { return .refused(.badRequest) }
        // A session that is already upgraded or upgrading gets its second socket accepted
        // and closed at once, as the reference does.
        return .upgrade(session, request)
    }

    /// Runs an admitted WebSocket until it closes: reads frames from `inbound`, writes
    /// queued packets through `writer`.
    public func serveWebSocket<Inbound: AsyncSequence>(
        _ admission: WebSocketAdmission,
        inbound: Inbound,
        writer: some EngineWebSocketWriter
    ) async where Inbound.Element == WebSocketData {
        guard
            let socket = attach(
                admission, sink: writer.directSink, arrivals: { writer.messagesArrived }, eventLoop: nil)
        else {
            await writer.close()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while let batch = await socket.session.nextBatch(for: socket.link) {
                    do {
                        try await writer.write(socket.frames(batch))
                    } catch {
                        break
                    }
                }
                await writer.close()
            }
            do {
                for try await frame in inbound {
                    if !socket.receive(frame) { break }
                }
            } catch {
                // The socket failed (reset, oversized frame): handled as a close below.
            }
            socket.session.linkClosed(socket.link)
        }
        socket.closed()
    }

    /// Attaches an admitted WebSocket whose transport calls back, instead of running a
    /// task for it: the transport hands each message to the returned link's
    /// ``EngineWebSocketLink/receive(_:)`` and calls ``EngineWebSocketLink/closed()`` when
    /// the socket is gone; packets reach `connection` (its sink, or `write`) without a
    /// task waiting for them. Nil when the socket is not taken (`connection` is closed).
    /// A new session's timers run on `connection`'s event loop, so its messages need no hop.
    public func attachWebSocket(
        _ admission: WebSocketAdmission,
        connection: some EngineWebSocketConnection
    ) -> EngineWebSocketLink? {
        guard
            let socket = attach(
                admission, sink: connection.sink, arrivals: { connection.messagesArrived },
                eventLoop: connection.eventLoop)
        else {
            connection.close()
            return nil
        }
        socket.pump(into: connection)
        return socket
    }

    /// Opens the session (or the upgrade probe) an admission asks for; nil when it is
    /// refused after all.
    private func attach(
        _ admission: WebSocketAdmission,
        sink: (any EngineFrameSink)?,
        arrivals: @escaping @Sendable () -> Int?,
        eventLoop: (any EventLoop)?
    ) -> EngineWebSocketLink? {
        let session: EngineSession
        let link: EngineSession.LinkID
        switch admission {
        case .refused:
            return nil
        case .newSession(let request):
            guard
                let opened = openSession(
                    request, transport: .websocket, sink: sink, eventLoop: eventLoop,
                    beforeStart: { session in
                        self.openPacket(for: session, transport: .websocket)
                    })
            else { return nil }
            session = opened.session
            link = opened.link
        case .upgrade(let existing, _):
            guard let probe = existing.beginUpgrade(sink: sink, arrivals: arrivals) else { return nil }
            session = existing
            link = probe
        }
        openWebSockets.withLock { $0 += 1 }
        return EngineWebSocketLink(
            session: session, link: link, logger: logger,
            onClosed: { [weak self] in self?.openWebSockets.withLock { $0 -= 1 } })
    }

    // MARK: - Sessions

    private func openSession(_ request: EngineRequest, transport: EngineTransport) -> EngineSession? {
        openSession(request, transport: transport, sink: nil, eventLoop: nil, beforeStart: nil)?.session
    }

    private func openSession(
        _ request: EngineRequest,
        transport: EngineTransport,
        sink: (any EngineFrameSink)?,
        eventLoop: (any EventLoop)?,
        beforeStart openPacket: ((EngineSession) -> EngineOutgoing)?
    ) -> (session: EngineSession, link: EngineSession.LinkID)? {
        guard accepting.withLock({ $0 }), reserveSlot(for: request) else {
            statistics.countRefused()
            return nil
        }
        let session = EngineSession(
            id: Self.makeID(),
            request: request,
            transport: transport,
            configuration: configuration,
            eventLoop: eventLoop ?? eventLoopGroup.next(),
            statistics: statistics,
            protocolVersion: requestedVersion(request),
            onRelease: { [weak self] session in self?.releaseSlot(for: session.request) },
            onFinish: { [weak self] session in self?.remove(session) }
        )
        var link = EngineSession.LinkID(value: 0)
        if let openPacket { link = session.attachInitialWebSocket(openPacket: openPacket(session), sink: sink) }
        sessions.withLock { $0[session.id] = session }
        if let handler = connectionHandler.withLock({ $0.handler }), let delegate = handler(session) {
            session.attach(delegate)
        }
        session.startHeartbeat()
        logger.trace("session opened", metadata: ["sid": "\(session.id)", "transport": "\(transport.rawValue)"])
        return (session, link)
    }

    private func remove(_ session: EngineSession) {
        sessions.withLock { sessions in
            if sessions[session.id] === session { sessions[session.id] = nil }
        }
    }

    // MARK: - Sessions per address

    private func limitedAddress(_ request: EngineRequest) -> String? {
        guard configuration.maxSessionsPerAddress != nil else { return nil }
        return configuration.clientAddress(request) ?? "unknown"
    }

    private func hasRoom(for request: EngineRequest) -> Bool {
        guard let address = limitedAddress(request), let limit = configuration.maxSessionsPerAddress else {
            return true
        }
        return sessionsPerAddress.withLock { ($0[address] ?? 0) < limit }
    }

    private func reserveSlot(for request: EngineRequest) -> Bool {
        guard let address = limitedAddress(request), let limit = configuration.maxSessionsPerAddress else {
            return true
        }
        let reserved = sessionsPerAddress.withLock { counts in
            let count = counts[address] ?? 0
            guard count < limit else { return false }
            counts[address] = count + 1
            return true
        }
        if !reserved {
            logger.notice(
                "refused a session: too many from one address",
                metadata: ["address": "\(address)", "limit": "\(limit)"])
        }
        return reserved
    }

    private func releaseSlot(for request: EngineRequest) {
        guard let address = limitedAddress(request) else { return }
        sessionsPerAddress.withLock { counts in
            let count = (counts[address] ?? 1) - 1
            counts[address] = count > 0 ? count : nil
        }
    }

    /// 20 characters of URL-safe base64 over 15 bytes from the system's CSPRNG.
    public static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(15)
        for _ in 0..<15 { bytes.append(UInt8.random(in: .min ... .max, using: &generator)) }
        let encoded = Base64.encode(bytes)
        return String(
            decoding: encoded.map {
                $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0
            },
            as: UTF8.self
        )
    }

    func openPacket(for session: EngineSession, transport: EngineTransport) -> EngineOutgoing {
        let upgrades = configuration.upgrades(from: transport).map { "\"\($0.rawValue)\"" }.joined(separator: ",")
        let json =
            "{\"sid\":\"\(session.id)\",\"upgrades\":[\(upgrades)],\"pingTimeout\":\(configuration.pingTimeout.milliseconds),\"pingInterval\":\(configuration.pingInterval.milliseconds),\"maxPayload\":\(configuration.maxPayload)}"
        return EngineOutgoing.control(.open, json)
    }

    // MARK: - Request checks

    /// The reference server's checks, in its order: transport, session, method, version.
    private func verify(_ request: EngineRequest, transport: EngineTransport) -> EngineProtocolError? {
        guard let requested = request.query["transport"].flatMap(EngineTransport.init(rawValue:)),
            requested == transport, configuration.transports.contains(requested)
        else {
            return .unknownTransport
        }
        if let origin = request.origin, !isSameOrigin(origin, request), !configuration.cors.allows(origin: origin) {
            return .forbidden
        }
        if let sid = request.query["sid"] {
            guard let session = session(id: sid) else { return .unknownSession }
            if transport == .polling && session.transport != .polling { return .badRequest }
            return nil
        }
        if transport == .polling && request.method != .get {
            return .badHandshakeMethod
        }
        guard request.query["EIO"] == "4" || (request.query["EIO"] == "3" && configuration.allowEIO3) else {
            return .unsupportedProtocolVersion
        }
        return nil
    }

    /// A page served by this very host may always connect, whatever the CORS list says.
    func isSameOrigin(_ origin: String, _ request: EngineRequest) -> Bool {
        guard let host = request.host else { return false }
        for scheme in ["http://", "https://"] where origin.hasPrefix(scheme) {
            return origin.dropFirst(scheme.count).lowercased() == host.lowercased()
        }
        return false
    }

    func corsHeaders(for request: EngineRequest) -> HTTPFields {
        var headers = HTTPFields()
        guard let origin = request.origin else { return headers }
        switch configuration.cors {
        case .disabled:
            break
        case .anyOrigin:
            headers[.accessControlAllowOrigin] = "*"
        case .origins(let allowed):
            if allowed.contains(origin) {
                headers[.accessControlAllowOrigin] = origin
                headers[.accessControlAllowCredentials] = "true"
            }
            headers[.vary] = "Origin"
        }
        return headers
    }

    func errorResponse(_ error: EngineProtocolError, headers: HTTPFields) -> EngineResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return EngineResponse(status: error.status, headers: headers, body: ByteBuffer(string: error.jsonBody))
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
