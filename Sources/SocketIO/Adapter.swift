import EngineIO
public import OrderedJSON

/// Where a broadcast goes: sockets in any of `rooms` (all sockets when empty), minus
/// sockets in any of `except`.
public struct BroadcastOptions: Sendable, Equatable {
    /// Rooms whose sockets receive it; empty means every socket of the namespace.
    public var rooms: Set<String>
    /// Rooms (a socket's id is a room too) whose sockets are left out.
    public var except: Set<String>
    /// Dropped for sockets whose transport cannot take it right now.
    public var volatile: Bool
    /// This node only, even with a cluster adapter.
    public var local: Bool

    /// A broadcast to `rooms` (all sockets when empty) minus `except`.
    public init(rooms: Set<String> = [], except: Set<String> = [], volatile: Bool = false, local: Bool = false) {
        self.rooms = rooms
        self.except = except
        self.volatile = volatile
        self.local = local
    }
}

/// What a query across the cluster reports about one socket.
public struct SocketSnapshot: Sendable, Equatable {
    /// The socket's id.
    public var id: String
    /// The rooms it is in, its own id included.
    public var rooms: Set<String>
    /// Its ``Socket/data``, as the application set it.
    public var data: JSONValue

    /// A snapshot of a socket.
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
    /// Adds the socket to the rooms (keeping the ones it is in).
    func addAll(_ socketID: String, rooms: Set<String>)
    /// Removes the socket from one room.
    func delete(_ socketID: String, room: String)
    /// Removes the socket from every room, when it disconnects.
    func deleteAll(_ socketID: String)
    /// The rooms the local socket is in; empty for an unknown socket.
    func rooms(of socketID: String) -> Set<String>
    /// Ids of local sockets the options select.
    func localSocketIDs(_ options: BroadcastOptions) -> Set<String>
    /// Every room that has at least one local socket.
    var localRooms: Set<String> { get }

    /// Sends an encoded packet to the sockets the options select, here and, unless
    /// ``BroadcastOptions/local``, on the other nodes.
    func broadcast(_ packet: SocketPacket, options: BroadcastOptions)

    /// Snapshots of the sockets the options select, on every node (or this one only with
    /// ``BroadcastOptions/local``).
    func fetchSockets(_ options: BroadcastOptions) async -> [SocketSnapshot]
    /// Makes the sockets the options select join `rooms`, on every node.
    func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    /// Makes the sockets the options select leave `rooms`, on every node.
    func delSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    /// Disconnects the sockets the options select, on every node; `close` also closes their
    /// Engine.IO connections.
    func disconnectSockets(_ options: BroadcastOptions, close: Bool) async
    /// Rooms across the cluster.
    func allRooms() async -> Set<String>
    /// Stops the adapter when the server closes; nothing is sent through it afterwards.
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
    /// too; it can be restored once. Async: a shared store (Redis) may be asked.
    func restoreSession(pid: String, offset: String) async -> SocketSessionRecord?
    /// Puts the restored socket back into its rooms and returns, in order, the
    /// broadcasts to those rooms after `offset` (as one step: a broadcast is either
    /// among them or reaches the socket as usual).
    func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket]
}

extension SocketIOAdapter {
    /// Keeps nothing: a socket without a recoverable session is never recovered.
    public func persistSession(_ session: SocketSessionRecord) {}
    /// Takes the socket out of its rooms and returns them; keeps no session.
    public func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String> {
        let rooms = rooms(of: socketID)
        deleteAll(socketID)
        return rooms
    }
    /// Nil: nothing was kept.
    public func restoreSession(pid: String, offset: String) -> SocketSessionRecord? { nil }
    /// Puts the socket back into its rooms; there are no missed broadcasts to return.
    public func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket] {
        addAll(session.sid, rooms: session.rooms)
        return []
    }
}

/// The local side of a namespace an adapter delivers to and acts on.
public protocol LocalSockets: AnyObject, Sendable {
    /// The namespace's name (`/`, `/admin`).
    var namespaceName: String { get }
    /// The connected local socket with this id, nil when there is none.
    func socket(id: String) -> Socket?
    /// The server's recovery option, for adapters that keep sessions and broadcasts.
    var connectionStateRecovery: ConnectionStateRecovery? { get }
}

extension LocalSockets {
    /// Nil: no recovery.
    public var connectionStateRecovery: ConnectionStateRecovery? { nil }
}
