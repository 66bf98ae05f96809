public import EngineIO
public import Logging
import NIOCore
import OrderedJSON
import Synchronization

/// Socket.IO options, named and defaulted as in Node's `socket.io`.
public struct SocketIOConfiguration: Sendable {
    /// A connection that joins no namespace within this time is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// Attachments allowed in one binary packet.
    public var maxAttachments = 10
    /// Namespaces one connection may join at once.
    public var maxNamespacesPerConnection = 32
    /// Off (nil) by default: see `ConnectionStateRecovery`.
    public var connectionStateRecovery: ConnectionStateRecovery?

    /// Node's defaults.
    public init() {}
}

/// A Socket.IO v5 server over an Engine.IO server.
public final class SocketIOServer: Sendable {
    /// The Engine.IO server the Socket.IO connections ride on.
    public let engine: EngineServer
    /// The options the server was made with.
    public let configuration: SocketIOConfiguration
    let logger: Logger
    private let adapterFactory: AdapterFactory
    private let namespaces = Mutex<[String: Namespace]>([:])

    /// Serves Socket.IO on `engine`'s sessions, taking over its connection handler; every
    /// namespace gets its adapter from `adapter` (in-process by default). Namespace `/`
    /// exists from the start.
    public init(
        engine: EngineServer,
        configuration: SocketIOConfiguration = SocketIOConfiguration(),
        adapter: AdapterFactory = .inMemory,
        logger: Logger = Logger(label: "socket.io")
    ) {
        self.engine = engine
        self.configuration = configuration
        self.adapterFactory = adapter
        self.logger = logger
        _ = of("/")
        engine.onConnection { [weak self] session in
            guard let self else { return nil }
            let connection = SocketIOConnection(server: self, session: session)
            // Socket.IO v2 clients (Engine.IO v3) are in `/` without asking.
            if session.protocolVersion == .v3 { connection.connect(to: "/", auth: .object([:])) }
            return connection
        }
    }

    /// The namespace of that name, created on first use.
    public func of(_ name: String) -> Namespace {
        let name = name.hasPrefix("/") ? name : "/" + name
        return namespaces.withLock { namespaces in
            if let existing = namespaces[name] { return existing }
            let namespace = Namespace(
                name: name, adapterFactory: adapterFactory, recovery: configuration.connectionStateRecovery)
            namespaces[name] = namespace
            return namespace
        }
    }

    /// The main namespace, `/`.
    public var sockets: Namespace { of("/") }

    func existingNamespace(_ name: String) -> Namespace? {
        namespaces.withLock { $0[name] }
    }

    /// Disconnects everyone (each socket is told), stops accepting connections, and
    /// waits up to `grace` for the goodbyes to reach the clients.
    public func close(grace: Duration = .seconds(5)) async {
        let all = namespaces.withLock { Array($0.values) }
        for namespace in all {
            await namespace.local.disconnectSockets(close: false)
        }
        await engine.shutdown(grace: grace)
        for namespace in all { await namespace.adapter.close() }
    }
}

/// One Engine.IO session as Socket.IO sees it: its sockets by namespace and its decoder.
final class SocketIOConnection: EngineSessionDelegate {
    let server: SocketIOServer
    let session: EngineSession

    private struct State {
        var decoder: SocketPacketDecoder
        var sockets: [String: Socket] = [:]
        var connectTimer: Scheduled<Void>?
        var closed = false
    }

    private let state: Mutex<State>

    init(server: SocketIOServer, session: EngineSession) {
        self.server = server
        self.session = session
        self.state = Mutex(State(decoder: SocketPacketDecoder(maxAttachments: server.configuration.maxAttachments)))
        guard session.protocolVersion == .v4 else { return }
        let timer = session.eventLoop.scheduleTask(in: TimeAmount(server.configuration.connectTimeout)) {
            [weak self] () -> Void in
            self?.connectTimeoutExpired()
        }
        state.withLock { $0.connectTimer = timer }
    }

    private func connectTimeoutExpired() {
        let idle = state.withLock { $0.sockets.isEmpty && !$0.closed }
        if idle {
            server.logger.debug("no namespace joined in time, closing", metadata: ["sid": "\(session.id)"])
            session.close()
        }
    }

    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        let decoded = state.withLock { state -> Result<SocketPacket?, SocketDecodingError> in
            Result { () throws(SocketDecodingError) in
                switch message {
                case .text(let text): return try state.decoder.decode(text: text)
                case .binary(let bytes): return try state.decoder.decode(binary: bytes)
                }
            }
        }
        switch decoded {
        case .failure(let error):
            server.logger.debug(
                "closing connection after a bad packet", metadata: ["sid": "\(session.id)", "error": "\(error)"])
            session.close(reason: .parseError)
        case .success(nil):
            break  // waiting for attachments
        case .success(let packet?):
            dispatch(packet)
        }
    }

    /// Whether the client speaks Socket.IO v4 (the v2 client's protocol) over Engine.IO v3.
    var isLegacyClient: Bool { session.protocolVersion == .v3 }

    private func dispatch(_ packet: SocketPacket) {
        if packet.type == .connect {
            // A v2 client puts its query in the namespace (`0/chat?token=…,`); it is not
            // part of the name.
            let name = isLegacyClient ? String(packet.namespace.prefix { $0 != "?" }) : packet.namespace
            connect(to: name, auth: packet.data ?? .object([:]))
            return
        }
        guard let socket = state.withLock({ $0.sockets[packet.namespace] }) else {
            // Traffic for a namespace the client never joined: the reference closes too.
            server.logger.debug("packet for an unjoined namespace, closing", metadata: ["sid": "\(session.id)"])
            session.close(reason: .parseError)
            return
        }
        socket.receive(packet)
    }

    func connect(to name: String, auth: JSONValue) {
        guard let namespace = server.existingNamespace(name) else {
            session.send(SocketPacketEncoder.encode(refusal(name, message: "Invalid namespace", data: nil)))
            return
        }
        // A v2 client cannot recover; its socket id is the Engine.IO id (`/nsp#id` elsewhere).
        guard !isLegacyClient, namespace.recovery != nil, let pid = auth["pid"]?.stringValue,
            let offset = auth["offset"]?.stringValue
        else {
            admit(to: namespace, auth: auth, resuming: nil)
            return
        }
        // The adapter may ask a shared store; the client sends nothing more for this
        // namespace before the CONNECT answer.
        Task {
            let session = await namespace.adapter.restoreSession(pid: pid, offset: offset)
            admit(to: namespace, auth: auth, resuming: session.map { ($0, offset) })
        }
    }

    private func admit(
        to namespace: Namespace, auth: JSONValue, resuming resumption: (session: SocketSessionRecord, offset: String)?
    ) {
        let name = namespace.name
        let socket = Socket(
            id: isLegacyClient ? (name == "/" ? session.id : name + "#" + session.id) : EngineServer.makeID(),
            pid: namespace.recovery == nil || isLegacyClient ? nil : EngineServer.makeID(),
            namespace: namespace,
            handshake: SocketHandshake(session: session, auth: auth),
            connection: self,
            resuming: resumption
        )
        enum Admission { case admitted, duplicate, tooMany }
        let admission = state.withLock { state -> Admission in
            if state.closed || state.sockets[name] != nil { return .duplicate }
            if state.sockets.count >= server.configuration.maxNamespacesPerConnection { return .tooMany }
            state.sockets[name] = socket
            state.connectTimer?.cancel()
            state.connectTimer = nil
            return .admitted
        }
        if admission != .admitted, let resumption {
            namespace.adapter.persistSession(resumption.session)  // not used: keep it for another try
        }
        switch admission {
        case .admitted:
            socket.connect()
        case .duplicate:
            break
        case .tooMany:
            session.send(
                SocketPacketEncoder.encode(refusal(name, message: "Too many namespaces on one connection", data: nil)))
        }
    }

    /// CONNECT_ERROR: `{message, data?}`, or for a v2 client its data or the bare message.
    func refusal(_ namespace: String, message: String, data: JSONValue?) -> SocketPacket {
        if isLegacyClient {
            return SocketPacket(type: .connectError, namespace: namespace, data: data ?? .string(message))
        }
        var payload: JSONObject = ["message": .string(message)]
        if let data { payload["data"] = data }
        return SocketPacket(type: .connectError, namespace: namespace, data: .object(payload))
    }

    /// A socket left (or was refused): the client may connect to that namespace again.
    func forget(_ socket: Socket) {
        state.withLock { state in
            if state.sockets[socket.namespace.name] === socket { state.sockets[socket.namespace.name] = nil }
        }
    }

    func session(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
        let sockets = state.withLock { state -> [Socket] in
            state.closed = true
            state.connectTimer?.cancel()
            let sockets = Array(state.sockets.values)
            state.sockets.removeAll()
            return sockets
        }
        for socket in sockets { socket.leaveNamespace(reason: DisconnectReason(reason)) }
    }
}
