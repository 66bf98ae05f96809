public import OrderedJSON
import Synchronization

/// A Socket.IO namespace: its middlewares, connection handler, sockets and rooms.
public final class Namespace: Sendable {
    public typealias Middleware = @Sendable (Socket) async throws -> Void
    public typealias ConnectionHandler = @Sendable (Socket) async -> Void

    public let name: String
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

    public func onConnection(_ handler: @escaping ConnectionHandler) {
        hooks.withLock { $0.onConnection = handler }
    }

    var middlewares: [Middleware] { hooks.withLock { $0.middlewares } }
    var connectionHandler: ConnectionHandler? { hooks.withLock { $0.onConnection } }

    /// Local sockets, by id.
    public func socket(id: String) -> Socket? { directory.socket(id: id) }
    public var localSocketCount: Int { directory.count }

    func register(_ socket: Socket) { directory.add(socket) }
    func unregister(_ socket: Socket) { directory.remove(socket) }

    // MARK: Broadcasting

    public func to(_ room: String) -> BroadcastOperator { BroadcastOperator(namespace: self).to(room) }
    public func to(_ rooms: Set<String>) -> BroadcastOperator { BroadcastOperator(namespace: self).to(rooms) }
    public func except(_ room: String) -> BroadcastOperator { BroadcastOperator(namespace: self).except(room) }
    public var volatile: BroadcastOperator { BroadcastOperator(namespace: self).volatile }
    public var local: BroadcastOperator { BroadcastOperator(namespace: self).local }

    /// To every socket of the namespace.
    public func emit(_ event: String, _ args: JSONValue...) {
        BroadcastOperator(namespace: self).emit(event, args: args)
    }

    public func fetchSockets() async -> [SocketSnapshot] { await BroadcastOperator(namespace: self).fetchSockets() }
    public func disconnectSockets(close: Bool = false) async {
        await BroadcastOperator(namespace: self).disconnectSockets(close: close)
    }
}

/// Chooses each namespace's adapter.
public struct AdapterFactory: Sendable {
    let make: @Sendable (any LocalSockets) -> any SocketIOAdapter

    public init(_ make: @escaping @Sendable (any LocalSockets) -> any SocketIOAdapter) {
        self.make = make
    }

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
    public let namespace: Namespace
    public private(set) var options: BroadcastOptions

    init(namespace: Namespace, options: BroadcastOptions = BroadcastOptions()) {
        self.namespace = namespace
        self.options = options
    }

    public func to(_ room: String) -> BroadcastOperator { to([room]) }

    public func to(_ rooms: Set<String>) -> BroadcastOperator {
        var copy = self
        copy.options.rooms.formUnion(rooms)
        return copy
    }

    /// Same as `to`, as in the JavaScript API.
    public func `in`(_ room: String) -> BroadcastOperator { to(room) }

    public func except(_ room: String) -> BroadcastOperator { except([room]) }

    public func except(_ rooms: Set<String>) -> BroadcastOperator {
        var copy = self
        copy.options.except.formUnion(rooms)
        return copy
    }

    public var volatile: BroadcastOperator {
        var copy = self
        copy.options.volatile = true
        return copy
    }

    public var local: BroadcastOperator {
        var copy = self
        copy.options.local = true
        return copy
    }

    public func emit(_ event: String, _ args: JSONValue...) { emit(event, args: args) }

    public func emit(_ event: String, args: [JSONValue]) {
        namespace.adapter.broadcast(.event(event, args, namespace: namespace.name), options: options)
    }

    public func fetchSockets() async -> [SocketSnapshot] { await namespace.adapter.fetchSockets(options) }
    public func socketsJoin(_ rooms: Set<String>) async { await namespace.adapter.addSockets(options, rooms: rooms) }
    public func socketsLeave(_ rooms: Set<String>) async { await namespace.adapter.delSockets(options, rooms: rooms) }
    public func disconnectSockets(close: Bool = false) async {
        await namespace.adapter.disconnectSockets(options, close: close)
    }
}
