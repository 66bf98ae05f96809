public import OrderedJSON
import Synchronization

/// A Socket.IO namespace: its middlewares, connection handler, sockets and rooms.
public final class Namespace: Sendable {
    /// Runs for each CONNECT before the socket is connected; throwing refuses it with
    /// CONNECT_ERROR: a ``ConnectRefusal`` sends its message and data; any other error is
    /// logged and the client is told only "Internal server error".
    public typealias Middleware = @Sendable (Socket) async throws -> Void
    /// Runs once for each socket that connected.
    public typealias ConnectionHandler = @Sendable (Socket) async -> Void

    /// The namespace's name, `/` or one starting with `/` (`/admin`).
    public let name: String
    /// Rooms and broadcasts of this namespace, made by the server's ``AdapterFactory``.
    public let adapter: any SocketIOAdapter
    private let directory: SocketDirectory
    var recovery: ConnectionStateRecovery? { directory.connectionStateRecovery }
    private let hooks = Mutex(Hooks())

    /// A struct, not a tuple: a closure in a tuple read through `withLock`'s generic
    /// `inout` is written back wrapped in more reabstraction thunks on every read, so each
    /// CONNECT would cost more than the one before.
    private struct Hooks: Sendable {
        var middlewares: [Middleware] = []
        var onConnection: ConnectionHandler?
        var eventHandlers: [String: Socket.EventHandler] = [:]
    }

    init(name: String, adapterFactory: AdapterFactory, recovery: ConnectionStateRecovery? = nil) {
        self.name = name
        let directory = SocketDirectory(namespaceName: name, connectionStateRecovery: recovery)
        self.directory = directory
        self.adapter = adapterFactory.make(directory)
    }

    /// Adds a middleware; each runs in order for every CONNECT, before the connection
    /// handler. Throwing `ConnectRefusal` refuses the client with CONNECT_ERROR.
    public func use(_ middleware: @escaping Middleware) {
        hooks.withLock { $0.middlewares.append(middleware) }
    }

    /// Sets the handler that runs for each socket once it has connected (after the
    /// middlewares); a second call replaces the first.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        hooks.withLock { $0.onConnection = handler }
    }

    /// Handles `event` on every socket of the namespace, as ``Socket/on(_:_:)`` would on
    /// each, from the moment it is set: events a socket sent wait, as always, for its
    /// connection handler, and none is handled before the socket is connected or after
    /// it has left. A socket's own handler for the same event takes its place on that
    /// socket; a second call for an event replaces the first. One handler serves every
    /// socket, so a socket holds nothing for it.
    public func onEvent(_ event: String, _ handler: @escaping Socket.EventHandler) {
        hooks.withLock { $0.eventHandlers[event] = handler }
    }

    func eventHandler(for event: String) -> Socket.EventHandler? { hooks.withLock { $0.eventHandlers[event] } }
    var middlewares: [Middleware] { hooks.withLock { $0.middlewares } }
    var connectionHandler: ConnectionHandler? { hooks.withLock { $0.onConnection } }

    /// Local sockets, by id.
    public func socket(id: String) -> Socket? { directory.socket(id: id) }
    /// Sockets connected to this namespace in this process.
    public var localSocketCount: Int { directory.count }

    func register(_ socket: Socket) { directory.add(socket) }
    func unregister(_ socket: Socket) { directory.remove(socket) }

    // MARK: Broadcasting

    /// A broadcast to the sockets in `room`.
    public func to(_ room: String) -> BroadcastOperator { BroadcastOperator(namespace: self).to(room) }
    /// A broadcast to the sockets in any of `rooms`.
    public func to(_ rooms: Set<String>) -> BroadcastOperator { BroadcastOperator(namespace: self).to(rooms) }
    /// A broadcast to every socket except those in `room`.
    public func except(_ room: String) -> BroadcastOperator { BroadcastOperator(namespace: self).except(room) }
    /// A broadcast that skips sockets whose transport cannot take it right now.
    public var volatile: BroadcastOperator { BroadcastOperator(namespace: self).volatile }
    /// A broadcast to the sockets of this process only, whatever the adapter.
    public var local: BroadcastOperator { BroadcastOperator(namespace: self).local }

    /// To every socket of the namespace.
    public func emit(_ event: String, _ args: JSONValue...) {
        BroadcastOperator(namespace: self).emit(event, args: args)
    }

    /// Snapshots of every socket of the namespace, on every node.
    public func fetchSockets() async -> [SocketSnapshot] { await BroadcastOperator(namespace: self).fetchSockets() }
    /// Disconnects every socket of the namespace, on every node; `close` also closes their
    /// Engine.IO connections (and so their other namespaces).
    public func disconnectSockets(close: Bool = false) async {
        await BroadcastOperator(namespace: self).disconnectSockets(close: close)
    }
}

/// Chooses each namespace's adapter.
public struct AdapterFactory: Sendable {
    let make: @Sendable (any LocalSockets) -> any SocketIOAdapter

    /// A factory that calls `make` once per namespace, with the namespace's local sockets.
    public init(_ make: @escaping @Sendable (any LocalSockets) -> any SocketIOAdapter) {
        self.make = make
    }

    /// The in-process ``InMemoryAdapter``: right for a single node, the default.
    public static let inMemory = AdapterFactory { InMemoryAdapter(sockets: $0) }
}

/// A namespace's local sockets, as its adapter sees them.
final class SocketDirectory: LocalSockets {
    let namespaceName: String
    let connectionStateRecovery: ConnectionStateRecovery?
    private let sockets = Mutex<[String: Socket]>([:])

    init(namespaceName: String, connectionStateRecovery: ConnectionStateRecovery?) {
        self.namespaceName = namespaceName
        self.connectionStateRecovery = connectionStateRecovery
    }

    func socket(id: String) -> Socket? { sockets.withLock { $0[id] } }
    var count: Int { sockets.withLock { $0.count } }
    func add(_ socket: Socket) { sockets.withLock { $0[socket.id] = socket } }
    func remove(_ socket: Socket) {
        sockets.withLock { sockets in
            if sockets[socket.id] === socket { sockets[socket.id] = nil }
        }
    }
}

/// Selects sockets of a namespace by room, then emits to them or acts on them.
public struct BroadcastOperator: Sendable {
    /// The namespace whose sockets are selected.
    public let namespace: Namespace
    /// The rooms and flags chosen so far.
    public private(set) var options: BroadcastOptions

    init(namespace: Namespace, options: BroadcastOptions = BroadcastOptions()) {
        self.namespace = namespace
        self.options = options
    }

    /// Adds `room` to the rooms whose sockets receive it.
    public func to(_ room: String) -> BroadcastOperator { to([room]) }

    /// Adds `rooms` to the rooms whose sockets receive it.
    public func to(_ rooms: Set<String>) -> BroadcastOperator {
        var copy = self
        copy.options.rooms.formUnion(rooms)
        return copy
    }

    /// Same as `to`, as in the JavaScript API.
    public func `in`(_ room: String) -> BroadcastOperator { to(room) }

    /// Leaves out the sockets in `room`.
    public func except(_ room: String) -> BroadcastOperator { except([room]) }

    /// Leaves out the sockets in any of `rooms`.
    public func except(_ rooms: Set<String>) -> BroadcastOperator {
        var copy = self
        copy.options.except.formUnion(rooms)
        return copy
    }

    /// Skips sockets whose transport cannot take the packet right now.
    public var volatile: BroadcastOperator {
        var copy = self
        copy.options.volatile = true
        return copy
    }

    /// Keeps to this process's sockets, whatever the adapter.
    public var local: BroadcastOperator {
        var copy = self
        copy.options.local = true
        return copy
    }

    /// Emits `event` with `args` to the selected sockets.
    public func emit(_ event: String, _ args: JSONValue...) { emit(event, args: args) }

    /// Emits `event` with `args` to the selected sockets; the packet is encoded once for all.
    public func emit(_ event: String, args: [JSONValue]) {
        namespace.adapter.broadcast(.event(event, args, namespace: namespace.name), options: options)
    }

    /// Snapshots of the selected sockets, on every node unless ``local``.
    public func fetchSockets() async -> [SocketSnapshot] { await namespace.adapter.fetchSockets(options) }
    /// Makes the selected sockets join `rooms`, on every node unless ``local``.
    public func socketsJoin(_ rooms: Set<String>) async { await namespace.adapter.addSockets(options, rooms: rooms) }
    /// Makes the selected sockets leave `rooms`, on every node unless ``local``.
    public func socketsLeave(_ rooms: Set<String>) async { await namespace.adapter.delSockets(options, rooms: rooms) }
    /// Disconnects the selected sockets; `close` also closes their Engine.IO connections.
    public func disconnectSockets(close: Bool = false) async {
        await namespace.adapter.disconnectSockets(options, close: close)
    }
}
