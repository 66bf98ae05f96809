import EngineIO
public import OrderedJSON
import Synchronization

/// Rooms and broadcasts within this process.
public final class InMemoryAdapter: SocketIOAdapter {
    private struct State {
        var members: [String: Set<String>] = [:]  // room -> socket ids
        var roomsBySocket: [String: Set<String>] = [:]
        /// Present when the server has connection state recovery on.
        var recovery: RecoveryBuffer?
        /// With recovery on, the latest broadcasts stamped with a cluster log's offset,
        /// oldest first (bounded), for a socket that resumes after the log was read for it.
        var logged: [LoggedBroadcast] = []
        /// Told, under the lock and so in order, when a room gets its first member or
        /// loses its last one.
        var onRoomChange: (@Sendable (RoomChange) -> Void)?
    }

    /// A room that came into being or went away on this node.
    public struct RoomChange: Sendable, Equatable {
        /// The room's name.
        public var room: String
        /// True when it got its first socket, false when it lost its last one.
        public var created: Bool
        /// True when the room is a local socket's own id (its private room).
        public var isSocketID: Bool

        /// A room that came (`created`) or went.
        public init(room: String, created: Bool, isSocketID: Bool) {
            self.room = room
            self.created = created
            self.isSocketID = isSocketID
        }
    }

    private struct LoggedBroadcast {
        let offset: String
        let options: BroadcastOptions
        let packet: SocketPacket
    }

    /// How many broadcasts with a log offset are kept for resuming sockets.
    static let loggedBroadcastsKept = 1_024

    private let state: Mutex<State>
    /// The namespace's sockets this adapter delivers to.
    public let sockets: any LocalSockets

    /// An adapter for the namespace of `sockets`; it keeps sessions and broadcasts for
    /// recovery when the server has ``SocketIOConfiguration/connectionStateRecovery`` on.
    /// `onRoomChange` (for a cluster adapter that listens per room) is called with the
    /// adapter locked, in the order rooms come and go: it must not call back into the adapter.
    public init(sockets: any LocalSockets, onRoomChange: (@Sendable (RoomChange) -> Void)? = nil) {
        self.sockets = sockets
        self.state = Mutex(
            State(recovery: sockets.connectionStateRecovery.map(RecoveryBuffer.init), onRoomChange: onRoomChange))
    }

    /// Adds the socket to the rooms.
    public func addAll(_ socketID: String, rooms: Set<String>) {
        state.withLock { Self.add(socketID, to: rooms, in: &$0) }
    }

    private static func add(_ socketID: String, to rooms: Set<String>, in state: inout State) {
        state.roomsBySocket[socketID, default: []].formUnion(rooms)
        for room in rooms {
            if state.members[room] == nil, let onRoomChange = state.onRoomChange {
                onRoomChange(RoomChange(room: room, created: true, isSocketID: state.roomsBySocket[room] != nil))
            }
            state.members[room, default: []].insert(socketID)
        }
    }

    /// Removes the socket from one room.
    public func delete(_ socketID: String, room: String) {
        state.withLock { state in
            state.roomsBySocket[socketID]?.remove(room)
            Self.removeMember(socketID, from: room, in: &state)
        }
    }

    /// Removes the socket from every room.
    public func deleteAll(_ socketID: String) {
        state.withLock { _ = Self.removeAll(socketID, in: &$0) }
    }

    private static func removeAll(_ socketID: String, in state: inout State) -> Set<String> {
        guard let rooms = state.roomsBySocket.removeValue(forKey: socketID) else { return [] }
        for room in rooms { removeMember(socketID, from: room, in: &state) }
        return rooms
    }

    private static func removeMember(_ socketID: String, from room: String, in state: inout State) {
        // In place: a copy taken out of the dictionary would make `remove` copy the whole
        // member set (copy on write), so emptying a room of n sockets would cost n².
        guard state.members[room]?.remove(socketID) != nil else { return }
        guard state.members[room]?.isEmpty == true else { return }
        state.members[room] = nil
        if let onRoomChange = state.onRoomChange {
            // A leaving socket's own room is private even once its entry is gone.
            let isSocketID = room == socketID || state.roomsBySocket[room] != nil
            onRoomChange(RoomChange(room: room, created: false, isSocketID: isSocketID))
        }
    }

    /// The rooms the socket is in.
    public func rooms(of socketID: String) -> Set<String> {
        state.withLock { $0.roomsBySocket[socketID] ?? [] }
    }

    /// Rooms that have at least one socket.
    public var localRooms: Set<String> {
        state.withLock { Set($0.members.keys) }
    }

    /// Ids of the sockets the options select.
    public func localSocketIDs(_ options: BroadcastOptions) -> Set<String> {
        state.withLock { Self.select(options, in: $0) }
    }

    private static func select(_ options: BroadcastOptions, in state: State) -> Set<String> {
        var selected: Set<String>
        if options.rooms.isEmpty {
            selected = Set(state.roomsBySocket.keys)
        } else if options.rooms.count == 1, let room = options.rooms.first {
            // The usual case (one chat room): share the member set instead of rebuilding
            // it; with 1,000 members a union costs ~10 reallocations and 1,000 rehashes.
            selected = state.members[room] ?? []
        } else {
            selected = []
            for room in options.rooms {
                if let members = state.members[room] { selected.formUnion(members) }
            }
        }
        for room in options.except {
            if let members = state.members[room] { selected.subtract(members) }
        }
        return selected
    }

    /// Encodes the packet once and queues the same bytes for every selected socket.
    /// With recovery on, the packet is stamped and kept in the same step as choosing its
    /// recipients, so a resuming socket gets it either live or among its missed packets.
    public func broadcast(_ packet: SocketPacket, options: BroadcastOptions) {
        let (stamped, recipients) = state.withLock { state in
            (state.recovery?.stamp(packet, options: options), Self.select(options, in: state))
        }
        deliver(packet, stamped: stamped, to: recipients, options: options)
    }

    /// Delivers to the selected local sockets with an offset a cluster log assigned (a
    /// Redis stream entry id) instead of one of this adapter's: with recovery on, the
    /// packet carries it as its last argument and is not kept here (the log keeps it).
    /// Nil when the log could not take the packet: it goes out without an offset.
    public func broadcast(_ packet: SocketPacket, options: BroadcastOptions, offset: String?) {
        let (stamped, recipients) = state.withLock { state -> (SocketPacket?, Set<String>) in
            guard state.recovery != nil, let offset,
                let stamped = RecoveryBuffer.stamped(packet, options: options, offset: offset)
            else { return (nil, Self.select(options, in: state)) }
            // Kept in the step that chooses the recipients: a socket resuming with
            // `resume(_:loggedAfter:)` gets it either live or from here.
            state.logged.append(LoggedBroadcast(offset: offset, options: options, packet: stamped))
            if state.logged.count >= 2 * Self.loggedBroadcastsKept {
                state.logged.removeFirst(state.logged.count - Self.loggedBroadcastsKept)
            }
            return (stamped, Self.select(options, in: state))
        }
        deliver(packet, stamped: stamped, to: recipients, options: options)
    }

    /// Puts the socket back into its rooms and returns, in order, the broadcasts stamped
    /// with a log offset that `isAfter` accepts (delivered here after the log was read
    /// for the socket) and that it would have received, in one step with the return.
    public func resume(_ session: SocketSessionRecord, loggedAfter isAfter: (String) -> Bool) -> [SocketPacket] {
        state.withLock { state in
            Self.add(session.sid, to: session.rooms, in: &state)
            return state.logged.filter { isAfter($0.offset) && $0.options.selects(rooms: session.rooms) }.map(\.packet)
        }
    }

    /// The packet as a recovering client gets it, with `offset` as its last argument; nil
    /// for what is never recovered (not an event, volatile, or with an ack id).
    public static func stamped(_ packet: SocketPacket, options: BroadcastOptions, offset: String) -> SocketPacket? {
        RecoveryBuffer.stamped(packet, options: options, offset: offset)
    }

    private func deliver(
        _ packet: SocketPacket, stamped: SocketPacket?, to recipients: Set<String>, options: BroadcastOptions
    ) {
        let frames = SocketPacketEncoder.encode(stamped ?? packet)
        // Only clients that know about recovery (they got a pid) get the offset.
        var plainFrames: [EngineOutgoing]?
        for id in recipients {
            guard let socket = sockets.socket(id: id) else { continue }
            if stamped == nil || socket.pid != nil {
                socket.deliver(frames, volatile: options.volatile)
            } else {
                if plainFrames == nil { plainFrames = SocketPacketEncoder.encode(packet) }
                socket.deliver(plainFrames ?? frames, volatile: options.volatile)
            }
        }
    }

    /// Keeps the session for ``ConnectionStateRecovery/maxDisconnectionDuration``, when
    /// recovery is on.
    public func persistSession(_ session: SocketSessionRecord) {
        state.withLock { $0.recovery?.keep(session) }
    }

    /// Takes the socket out of every room and, when recovery is on, keeps its session with
    /// those rooms, in one step; returns the rooms.
    public func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String> {
        state.withLock { state in
            let rooms = Self.removeAll(socketID, in: &state)
            state.recovery?.keep(SocketSessionRecord(sid: socketID, pid: pid, rooms: rooms, data: data))
            return rooms
        }
    }

    /// The kept session, once, when it has not expired and the broadcasts after `offset` are
    /// still kept; nil otherwise.
    public func restoreSession(pid: String, offset: String) -> SocketSessionRecord? {
        state.withLock { $0.recovery?.take(pid: pid, offset: offset) }
    }

    /// Puts the socket back into its rooms and returns the broadcasts to them after `offset`,
    /// in order, in one step.
    public func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket] {
        state.withLock { state in
            Self.add(session.sid, to: session.rooms, in: &state)
            return state.recovery?.missed(after: offset, rooms: session.rooms) ?? []
        }
    }

    // The local side of every cluster query, synchronous so a cluster adapter can apply
    // remote requests in the order they arrive.

    /// Snapshots of the sockets the options select, synchronously (a cluster adapter answers
    /// remote queries with it).
    public func snapshots(_ options: BroadcastOptions) -> [SocketSnapshot] {
        localSocketIDs(options).compactMap { id in
            sockets.socket(id: id).map { SocketSnapshot(id: id, rooms: rooms(of: $0.id), data: $0.data) }
        }
    }

    /// Makes the sockets the options select join `rooms`.
    public func join(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in localSocketIDs(options) { sockets.socket(id: id)?.join(rooms) }
    }

    /// Makes the sockets the options select leave `rooms`, kept sessions included.
    public func leave(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in localSocketIDs(options) {
            for room in rooms { sockets.socket(id: id)?.leave(room) }
        }
        // After the live sockets: one that dropped meanwhile has been kept by now.
        state.withLock { $0.recovery?.leave(options, rooms: rooms) }
    }

    /// Disconnects the sockets the options select and forgets their kept sessions; `close`
    /// also closes their Engine.IO connections.
    public func disconnect(_ options: BroadcastOptions, close: Bool) {
        for id in localSocketIDs(options) { sockets.socket(id: id)?.disconnect(close: close) }
        state.withLock { $0.recovery?.forget(options) }
    }

    /// Snapshots of the sockets the options select (this process is the whole cluster).
    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketSnapshot] { snapshots(options) }
    /// Makes the sockets the options select join `rooms`.
    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async { join(options, rooms: rooms) }
    /// Makes the sockets the options select leave `rooms`.
    public func delSockets(_ options: BroadcastOptions, rooms: Set<String>) async { leave(options, rooms: rooms) }
    /// Disconnects the sockets the options select.
    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async { disconnect(options, close: close) }

    /// Rooms that have at least one socket.
    public func allRooms() async -> Set<String> { localRooms }

    /// Nothing to release.
    public func close() async {}
}
