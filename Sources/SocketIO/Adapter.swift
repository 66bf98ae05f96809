import EngineIO
public import OrderedJSON

/// Where a broadcast goes: sockets in any of `rooms` (all sockets when empty), minus
/// sockets in any of `except`.
public struct BroadcastOptions: Sendable, Equatable {
    public var rooms: Set<String>
    public var except: Set<String>
    /// Dropped for sockets whose transport cannot take it right now.
    public var volatile: Bool
    /// This node only, even with a cluster adapter.
    public var local: Bool

    public init(rooms: Set<String> = [], except: Set<String> = [], volatile: Bool = false, local: Bool = false) {
        self.rooms = rooms
        self.except = except
        self.volatile = volatile
        self.local = local
    }
}

/// What a query across the cluster reports about one socket.
public struct SocketSnapshot: Sendable, Equatable {
    public var id: String
    public var rooms: Set<String>
    public var data: JSONValue

    public init(id: String, rooms: Set<String>, data: JSONValue = .null) {
        self.id = id
        self.rooms = rooms
        self.data = data
    }
}

/// Room membership and broadcasting for one namespace.
///
/// The in-process adapter keeps everything local. A cluster adapter (Redis) keeps the
/// same local bookkeeping, forwards broadcasts and answers the async queries across nodes.
public protocol SocketIOAdapter: Sendable {
    func addAll(_ socketID: String, rooms: Set<String>)
    func delete(_ socketID: String, room: String)
    func deleteAll(_ socketID: String)
    func rooms(of socketID: String) -> Set<String>
    /// Ids of local sockets the options select.
    func localSocketIDs(_ options: BroadcastOptions) -> Set<String>
    /// Every room that has at least one local socket.
    var localRooms: Set<String> { get }

    func broadcast(_ packet: SocketPacket, options: BroadcastOptions)

    func fetchSockets(_ options: BroadcastOptions) async -> [SocketSnapshot]
    func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    func delSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    func disconnectSockets(_ options: BroadcastOptions, close: Bool) async
    /// Rooms across the cluster.
    func allRooms() async -> Set<String>
    func close() async

    // Connection state recovery (Node's session-aware adapter). An adapter that keeps
    // the defaults below never recovers a socket.

    /// Keeps a disconnected socket's session for its client to recover.
    func persistSession(_ session: SocketSessionRecord)
    /// Takes a socket that lost its connection out of every room and keeps its session
    /// with those rooms, as one step (so a concurrent `socketsLeave` cannot slip between
    /// the two); returns the rooms.
    func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String>
    /// Takes the session back if it is still kept and the broadcasts after `offset` are
    /// too; it can be restored once.
    func restoreSession(pid: String, offset: String) -> SocketSessionRecord?
    /// Puts the restored socket back into its rooms and returns, in order, the
    /// broadcasts to those rooms after `offset` (as one step: a broadcast is either
    /// among them or reaches the socket as usual).
    func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket]
}

extension SocketIOAdapter {
    public func persistSession(_ session: SocketSessionRecord) {}
    public func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String> {
        let rooms = rooms(of: socketID)
        deleteAll(socketID)
        return rooms
    }
    public func restoreSession(pid: String, offset: String) -> SocketSessionRecord? { nil }
    public func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket] {
        addAll(session.sid, rooms: session.rooms)
        return []
    }
}

/// The local side of a namespace an adapter delivers to and acts on.
public protocol LocalSockets: AnyObject, Sendable {
    var namespaceName: String { get }
    func socket(id: String) -> Socket?
    /// The server's recovery option, for adapters that keep sessions and broadcasts.
    var connectionStateRecovery: ConnectionStateRecovery? { get }
}

extension LocalSockets {
    public var connectionStateRecovery: ConnectionStateRecovery? { nil }
}
