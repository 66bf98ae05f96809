public import EngineIO
public import HTTPTypes
import NIOCore
public import OrderedJSON
import Synchronization

/// What the client sent when it connected: the Engine.IO handshake request and the
/// `auth` payload of its CONNECT packet.
public struct SocketHandshake: Sendable {
    /// The session keeps the request: each of its sockets reads it from there.
    private let session: EngineSession
    /// The HTTP request that opened the Engine.IO session.
    public var request: EngineRequest { session.request }
    /// The CONNECT payload (`{}` when the client sent none).
    public let auth: JSONValue

    init(session: EngineSession, auth: JSONValue) {
        self.session = session
        self.auth = auth
    }

    /// The handshake request's header fields.
    public var headers: HTTPFields { request.headers }
    /// The handshake request's query parameters (first value of a repeated name).
    public var query: [String: String] { request.query }
    /// The handshake request's cookies, by name.
    public var cookies: [String: String] { request.cookies }
    /// The TCP peer's address, when the HTTP framework knows it (behind a proxy, the proxy's).
    public var address: String? { request.remoteAddress }
    /// True when the handshake came over TLS.
    public var secure: Bool { request.isSecure }
}

/// Why a socket left its namespace, in the reference server's words.
public struct DisconnectReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The reason in the reference server's words (`transport close`, `ping timeout`, …).
    public let rawValue: String
    /// A reason with these words.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The client left the namespace (a DISCONNECT packet).
    public static let clientNamespaceDisconnect = DisconnectReason(rawValue: "client namespace disconnect")
    /// The server disconnected the socket (``Socket/disconnect(close:)``).
    public static let serverNamespaceDisconnect = DisconnectReason(rawValue: "server namespace disconnect")

    init(_ engineReason: EngineCloseReason) { self.rawValue = engineReason.rawValue }

    /// The reason's words (``rawValue``).
    public var description: String { rawValue }
}

/// A refusal from a namespace middleware, sent to the client as CONNECT_ERROR.
public struct ConnectRefusal: Error, Sendable {
    /// What the client's `connect_error` handler sees as `err.message`.
    public var message: String
    /// Sent as `err.data`, when set.
    public var data: JSONValue?

    /// A refusal with `message` and optional `data`.
    public init(_ message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }
}

/// Errors of `emitWithAck`.
public enum AckError: Error, Sendable, Equatable {
    /// The client did not answer within the timeout.
    case timeout
    /// The socket was not connected, or disconnected before the answer came.
    case disconnected
}

/// An event from a client, with the means to acknowledge it when the client asked.
public struct SocketEvent: Sendable {
    /// The socket the event came on.
    public let socket: Socket
    /// The event's name.
    public let name: String
    /// The arguments after the name; attachments are `JSONValue.binary(_:)`.
    public let args: [JSONValue]
    /// Present when the client waits for an acknowledgement.
    public let ack: Acknowledgement?
}

/// Sends the acknowledgement of one event, at most once.
public final class Acknowledgement: Sendable {
    let socket: Socket
    let id: UInt64
    private let sent = Mutex(false)

    init(socket: Socket, id: UInt64) {
        self.socket = socket
        self.id = id
    }

    /// True once the acknowledgement has been sent.
    public var wasSent: Bool { sent.withLock { $0 } }

    /// Sends the acknowledgement with `args`; later calls do nothing.
    public func send(_ args: [JSONValue]) {
        let first = sent.withLock { sent -> Bool in
            defer { sent = true }
            return !sent
        }
        guard first else { return }
        socket.send(.ack(args, id: id, namespace: socket.namespace.name))
    }

    /// Sends the acknowledgement with `args` (`event.ack?("ok")`); later calls do nothing.
    public func callAsFunction(_ args: JSONValue...) { send(args) }
}

/// Typed values an application keeps on a socket (the signed-in user, say).
public protocol SocketStorageKey {
    /// The type of the value stored under this key.
    associatedtype Value: Sendable
}

/// One client's connection to one namespace.
public final class Socket: Sendable {
    /// Handles one event from the client.
    public typealias EventHandler = @Sendable (SocketEvent) async -> Void
    /// Runs when the socket has left its namespace: the socket, why, and the rooms it was in.
    public typealias DisconnectHandler = @Sendable (Socket, DisconnectReason, _ rooms: Set<String>) async -> Void

    /// The namespace-level id (not the Engine.IO session id).
    public let id: String
    /// The private session id a client recovers this socket with (recovery on only).
    public let pid: String?
    /// This socket is a recovered one: same id, rooms and data as before the client's
    /// connection dropped, missed broadcasts delivered.
    public var recovered: Bool { resumption != nil }
    /// The session being recovered and the client's last offset.
    private let resumption: (session: SocketSessionRecord, offset: String)?
    /// The namespace the socket is connected to.
    public let namespace: Namespace
    /// What the client sent when it connected.
    public let handshake: SocketHandshake
    let connection: SocketIOConnection
    let lane = SerialLane()

    private struct State {
        enum Phase { case connecting, connected, disconnected }
        var phase = Phase.connecting
        var handlers: [String: EventHandler] = [:]
        var anyHandlers: [EventHandler] = []
        var disconnectHandlers: [DisconnectHandler] = []
        var pendingAcks: [UInt64: PendingAck] = [:]
        var nextAckID: UInt64 = 0
        /// A handful of keys at most: an array holds them in a fraction of a dictionary's
        /// storage, and a linear look-up over a few is no slower than hashing.
        var storage: [(key: ObjectIdentifier, value: any Sendable)] = []
        var data: JSONValue = .null
        /// While missed broadcasts are replayed, live ones wait here to keep the order.
        var heldDeliveries: [[EngineOutgoing]]?
    }

    private struct PendingAck {
        let continuation: CheckedContinuation<[JSONValue], any Error>
        let timer: Scheduled<Void>
    }

    private let state: Mutex<State>

    init(
        id: String, pid: String? = nil, namespace: Namespace, handshake: SocketHandshake,
        connection: SocketIOConnection,
        resuming resumption: (session: SocketSessionRecord, offset: String)? = nil
    ) {
        self.id = resumption?.session.sid ?? id
        self.pid = resumption?.session.pid ?? pid
        self.resumption = resumption
        self.namespace = namespace
        self.handshake = handshake
        self.connection = connection
        var state = State()
        if let resumption { state.data = resumption.session.data }
        self.state = Mutex(state)
    }

    /// The Engine.IO session carrying this socket.
    public var session: EngineSession { connection.session }

    /// True from the end of the CONNECT (middlewares passed) until the socket leaves.
    public var isConnected: Bool { state.withLock { $0.phase == .connected } }

    // MARK: Handlers

    /// Handles an event; one handler per name, a later one replaces it. It takes the
    /// place of the namespace's handler for the name (``Namespace/onEvent(_:_:)``).
    public func on(_ event: String, _ handler: @escaping EventHandler) {
        state.withLock { $0.handlers[event] = handler }
    }

    /// Sees every event that has no handler, its own or its namespace's.
    public func onAny(_ handler: @escaping EventHandler) {
        state.withLock { $0.anyHandlers.append(handler) }
    }

    /// Runs once the socket has left its namespace, with the rooms it was in.
    public func onDisconnect(_ handler: @escaping DisconnectHandler) {
        state.withLock { $0.disconnectHandlers.append(handler) }
    }

    /// Free-form data about the socket that cluster queries (`fetchSockets`) report to
    /// every node, as `socket.data` in Node.
    public var data: JSONValue {
        get { state.withLock { $0.data } }
        set { state.withLock { $0.data = newValue } }
    }

    /// The value the application stored under `key`, nil when none; local to this process.
    public subscript<Key: SocketStorageKey>(key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            return state.withLock { $0.storage.first { $0.key == id }?.value as? Key.Value }
        }
        set {
            let id = ObjectIdentifier(key)
            state.withLock { state in
                let index = state.storage.firstIndex { $0.key == id }
                switch (index, newValue) {
                case (let index?, let value?): state.storage[index].value = value
                case (let index?, nil): state.storage.remove(at: index)
                case (nil, let value?): state.storage.append((id, value))
                case (nil, nil): break
                }
            }
        }
    }

    // MARK: Emitting

    /// Sends `event` with `args` to this socket's client.
    public func emit(_ event: String, _ args: JSONValue...) {
        emit(event, args: args)
    }

    /// Sends `event` with `args` to this socket's client.
    public func emit(_ event: String, args: [JSONValue]) {
        send(.event(event, args, namespace: namespace.name))
    }

    /// Emits and waits for the client's acknowledgement.
    public func emitWithAck(_ event: String, args: [JSONValue], timeout: Duration) async throws -> [JSONValue] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[JSONValue], any Error>) in
            let id = state.withLock { state -> UInt64? in
                guard state.phase == .connected else { return nil }
                state.nextAckID += 1
                let id = state.nextAckID
                let timer = session.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] () -> Void in
                    self?.failAck(id, with: AckError.timeout)
                }
                state.pendingAcks[id] = PendingAck(continuation: continuation, timer: timer)
                return id
            }
            guard let id else {
                continuation.resume(throwing: AckError.disconnected)
                return
            }
            send(.event(event, args, namespace: namespace.name, ackID: id))
        }
    }

    private func failAck(_ id: UInt64, with error: any Error) {
        let pending = state.withLock { $0.pendingAcks.removeValue(forKey: id) }
        pending?.continuation.resume(throwing: error)
    }

    func send(_ packet: SocketPacket) {
        deliver(SocketPacketEncoder.encode(packet), volatile: false)
    }

    /// Queues already encoded packets (shared by every recipient of a broadcast).
    func deliver(_ frames: [EngineOutgoing], volatile: Bool) {
        // Only a recovered socket ever holds deliveries; others skip the lock.
        let held =
            recovered
            && state.withLock { state -> Bool in
                guard state.heldDeliveries != nil else { return false }
                if !volatile { state.heldDeliveries?.append(frames) }
                return true
            }
        if held { return }
        if volatile {
            connection.session.sendIfWritable(frames)
        } else {
            connection.session.send(frames)
        }
    }

    // MARK: Rooms

    /// Adds the socket to `room`; nothing happens once it has disconnected.
    public func join(_ room: String) { join([room]) }

    /// Adds the socket to `rooms`; nothing happens once it has disconnected.
    public func join(_ rooms: Set<String>) {
        // Under the lock, so a socket that is leaving cannot be put back into rooms.
        state.withLock { state in
            guard state.phase != .disconnected else { return }
            namespace.adapter.addAll(id, rooms: rooms)
        }
    }

    /// Removes the socket from `room`.
    public func leave(_ room: String) {
        namespace.adapter.delete(id, room: room)
    }

    /// The rooms the socket is in, its own id included.
    public var rooms: Set<String> { namespace.adapter.rooms(of: id) }

    /// Everyone in `room` but this socket.
    public func to(_ room: String) -> BroadcastOperator {
        BroadcastOperator(namespace: namespace, options: BroadcastOptions(rooms: [room], except: [id]))
    }

    /// Everyone in the namespace but this socket.
    public var broadcast: BroadcastOperator {
        BroadcastOperator(namespace: namespace, options: BroadcastOptions(except: [id]))
    }

    // MARK: Disconnecting

    /// Takes the socket out of its namespace (the client is told). With `close`, the
    /// whole connection ends, other namespaces included.
    public func disconnect(close: Bool = false) {
        if isConnected {
            send(SocketPacket(type: .disconnect, namespace: namespace.name))
        }
        leaveNamespace(reason: .serverNamespaceDisconnect)
        if close { connection.session.close() }
    }

    // MARK: Lifecycle (called by the connection)

    /// What a client is told when a middleware fails with anything but a refusal.
    static let middlewareFailure = "Internal server error"

    /// Runs the namespace middlewares and, if they pass, connects.
    func connect() {
        lane.enqueue { [self] in
            let skipMiddlewares = recovered && namespace.recovery?.skipMiddlewares == true
            for middleware in skipMiddlewares ? [] : namespace.middlewares {
                do {
                    try await middleware(self)
                } catch let refusal as ConnectRefusal {
                    refuse(message: refusal.message, data: refusal.data)
                    return
                } catch {
                    // Only a refusal's words are meant for the client; any other error
                    // may carry internals (addresses, queries), so it stays in the log.
                    connection.server.logger.warning(
                        "namespace middleware failed; connection refused",
                        metadata: ["namespace": "\(namespace.name)", "error": "\(error)"])
                    refuse(message: Self.middlewareFailure, data: nil)
                    return
                }
            }
            // A session closing meanwhile (no GET to carry its close yet) leaves the socket
            // connecting: its queued events find no handler, and the close removes it.
            let sessionOpen = connection.session.isOpen
            let connected = state.withLock { state -> Bool in
                guard state.phase == .connecting, sessionOpen else { return false }
                state.phase = .connected
                return true
            }
            guard connected else { return }
            namespace.register(self)
            namespace.adapter.addAll(id, rooms: [id])
            if connection.isLegacyClient {
                send(SocketPacket(type: .connect, namespace: namespace.name))
            } else {
                var answer: JSONObject = ["sid": .string(id)]
                if let pid { answer["pid"] = .string(pid) }
                send(SocketPacket(type: .connect, namespace: namespace.name, data: .object(answer)))
            }
            if let resumption { replayMissed(resumption.session, after: resumption.offset) }
            if let handler = namespace.connectionHandler {
                await handler(self)
            }
        }
    }

    /// Back into its rooms, then the missed broadcasts, then whatever arrived meanwhile.
    private func replayMissed(_ session: SocketSessionRecord, after offset: String) {
        state.withLock { $0.heldDeliveries = [] }
        for packet in namespace.adapter.resume(session, after: offset) {
            connection.session.send(SocketPacketEncoder.encode(packet))
        }
        while true {
            let held = state.withLock { state -> [[EngineOutgoing]] in
                let held = state.heldDeliveries ?? []
                state.heldDeliveries = held.isEmpty ? nil : []
                return held
            }
            if held.isEmpty { return }
            for frames in held { connection.session.send(frames) }
        }
    }

    private func refuse(message: String, data: JSONValue?) {
        state.withLock { $0.phase = .disconnected }
        namespace.adapter.deleteAll(id)
        send(connection.refusal(namespace.name, message: message, data: data))
        connection.forget(self)
    }

    /// An event, ack or disconnect from the client for this namespace.
    func receive(_ packet: SocketPacket) {
        switch packet.type {
        case .ack, .binaryAck:
            // Straight away, not through the lane: a handler may be waiting for it.
            guard let id = packet.ackID else { return }
            let pending = state.withLock { $0.pendingAcks.removeValue(forKey: id) }
            pending?.timer.cancel()
            pending?.continuation.resume(returning: packet.data?.arrayValue ?? [])
        case .event, .binaryEvent:
            guard let (name, args) = packet.event else { return }
            let ackID = packet.ackID
            lane.enqueue { [self] in
                let (connected, ownHandler, anyHandlers) = state.withLock { state in
                    state.phase == .connected ? (true, state.handlers[name], state.anyHandlers) : (false, nil, [])
                }
                let handler = connected ? ownHandler ?? namespace.eventHandler(for: name) : nil
                let event = SocketEvent(
                    socket: self,
                    name: name,
                    args: args,
                    ack: ackID.map { Acknowledgement(socket: self, id: $0) }
                )
                if let handler {
                    await handler(event)
                } else {
                    for handler in anyHandlers { await handler(event) }
                }
            }
        case .disconnect:
            leaveNamespace(reason: .clientNamespaceDisconnect)
        case .connect, .connectError:
            break
        }
    }

    /// Leaves every room and the namespace; disconnect handlers run after queued events.
    func leaveNamespace(reason: DisconnectReason) {
        let (wasConnected, acks, handlers) = state.withLock { state in
            let wasConnected = state.phase == .connected
            if state.phase == .connecting { namespace.adapter.deleteAll(id) }
            state.phase = .disconnected
            let acks = Array(state.pendingAcks.values)
            state.pendingAcks.removeAll()
            let handlers = state.disconnectHandlers
            state.disconnectHandlers.removeAll()
            return (wasConnected, acks, handlers)
        }
        connection.forget(self)
        for ack in acks {
            ack.timer.cancel()
            ack.continuation.resume(throwing: AckError.disconnected)
        }
        guard wasConnected else { return }
        let rooms: Set<String>
        if let pid, ConnectionStateRecovery.isRecoverable(reason) {
            rooms = namespace.adapter.removeAndPersist(id, pid: pid, data: data)
        } else {
            rooms = namespace.adapter.rooms(of: id)
            namespace.adapter.deleteAll(id)
        }
        namespace.unregister(self)
        guard !handlers.isEmpty else { return }
        lane.enqueue { [self] in
            for handler in handlers { await handler(self, reason, rooms) }
        }
    }
}
