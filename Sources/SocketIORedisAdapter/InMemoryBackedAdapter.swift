public import OrderedJSON
public import SocketIO

/// A cluster adapter whose room membership and recovery state stay on this node, in an
/// in-memory adapter: only broadcasts and cluster queries cross nodes.
public protocol InMemoryBackedAdapter: SocketIOAdapter {
    /// Room membership and kept sessions of this node.
    var local: InMemoryAdapter { get }
}

extension InMemoryBackedAdapter {
    /// Adds the local socket to the rooms (membership is kept on each node).
    public func addAll(_ socketID: String, rooms: Set<String>) { local.addAll(socketID, rooms: rooms) }
    /// Removes the local socket from one room.
    public func delete(_ socketID: String, room: String) { local.delete(socketID, room: room) }
    /// Removes the local socket from every room.
    public func deleteAll(_ socketID: String) { local.deleteAll(socketID) }
    /// The rooms the local socket is in.
    public func rooms(of socketID: String) -> Set<String> { local.rooms(of: socketID) }
    /// Ids of local sockets the options select.
    public func localSocketIDs(_ options: BroadcastOptions) -> Set<String> { local.localSocketIDs(options) }
    /// Rooms that have a socket on this node.
    public var localRooms: Set<String> { local.localRooms }

    // Recovery stays on this node (sessions and stamped broadcasts in `local`): a client
    // that comes back to the same node (sticky load balancing) recovers.
    /// Keeps the session on this node, for a client that comes back to it.
    public func persistSession(_ session: SocketSessionRecord) { local.persistSession(session) }
    /// Takes the socket out of its rooms and keeps its session on this node.
    public func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String> {
        local.removeAndPersist(socketID, pid: pid, data: data)
    }
    /// The session kept on this node, if the broadcasts after `offset` are still kept too.
    public func restoreSession(pid: String, offset: String) -> SocketSessionRecord? {
        local.restoreSession(pid: pid, offset: offset)
    }
    /// Puts the socket back into its rooms and returns the broadcasts it missed on this node.
    public func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket] {
        local.resume(session, after: offset)
    }
}
