import EngineIO
public import OrderedJSON

/// Connection state recovery, as Node's `connectionStateRecovery` option: a client that
/// lost its connection and comes back within `maxDisconnectionDuration` gets its socket
/// id, rooms and `data` back, and the broadcasts it missed.
///
/// With it on, the CONNECT answer carries a private session id (`pid`) and every
/// broadcast event carries an offset as its last argument; the stock client sends both
/// back (`auth: {pid, offset}`) when it reconnects. Off by default, so clients that do
/// not know about it see the same packets as before.
public struct ConnectionStateRecovery: Sendable {
    /// How long a disconnected socket's session and the broadcasts it may need are kept.
    public var maxDisconnectionDuration: Duration
    /// A recovered socket does not go through the namespace middlewares again.
    public var skipMiddlewares: Bool
    /// The time source for the window (tests move it by hand).
    public var clock: @Sendable () -> ContinuousClock.Instant

    /// Recovery within `maxDisconnectionDuration` (Node's 2 minutes by default), skipping
    /// the middlewares by default as Node does; `clock` is there for tests.
    public init(
        maxDisconnectionDuration: Duration = .seconds(120),
        skipMiddlewares: Bool = true,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.maxDisconnectionDuration = maxDisconnectionDuration
        self.skipMiddlewares = skipMiddlewares
        self.clock = clock
    }

    /// Engine.IO closes after which a client may come back: the network, not a decision.
    static func isRecoverable(_ reason: DisconnectReason) -> Bool {
        let recoverable: [EngineCloseReason] = [.transportClose, .transportError, .pingTimeout, .forcedClose]
        return recoverable.contains { DisconnectReason($0) == reason }
    }
}

/// What a disconnected socket leaves behind for its client to recover.
public struct SocketSessionRecord: Sendable, Equatable {
    /// The socket id the client gets back.
    public var sid: String
    /// The private session id only that client knows.
    public var pid: String
    /// The rooms the socket was in when it lost its connection.
    public var rooms: Set<String>
    /// The socket's ``Socket/data`` when it lost its connection.
    public var data: JSONValue

    /// A session to keep.
    public init(sid: String, pid: String, rooms: Set<String>, data: JSONValue) {
        self.sid = sid
        self.pid = pid
        self.rooms = rooms
        self.data = data
    }
}

/// The in-process adapter's side of recovery: sessions of disconnected sockets and the
/// broadcasts of the last `maxDisconnectionDuration`, each stamped with an offset.
struct RecoveryBuffer {
    private struct Broadcast {
        let offset: String
        let options: BroadcastOptions
        let packet: SocketPacket
        let emittedAt: ContinuousClock.Instant
    }

    private struct KeptSession {
        let record: SocketSessionRecord
        let disconnectedAt: ContinuousClock.Instant
    }

    let configuration: ConnectionStateRecovery
    private var broadcasts: [Broadcast] = []  // oldest first
    private var sessions: [String: KeptSession] = [:]  // by pid
    private var nextOffset: UInt64 = 0
    /// Offsets of an earlier process never match this one's.
    private let offsetPrefix = String(UInt32.random(in: .min ... .max), radix: 36) + "-"

    init(_ configuration: ConnectionStateRecovery) { self.configuration = configuration }

    /// Stamps a broadcast event with its offset (as a last argument) and keeps it;
    /// nil for packets that are not kept (acks, volatile emits, packets with an ack id).
    mutating func stamp(_ packet: SocketPacket, options: BroadcastOptions) -> SocketPacket? {
        guard Self.isRecoverable(packet, options: options) else { return nil }
        let now = configuration.clock()
        dropExpiredBroadcasts(now: now)
        nextOffset += 1
        let offset = offsetPrefix + String(nextOffset, radix: 36)
        guard let stamped = Self.stamped(packet, options: options, offset: offset) else { return nil }
        broadcasts.append(Broadcast(offset: offset, options: options, packet: stamped, emittedAt: now))
        return stamped
    }

    /// Events without an ack id, not volatile: what a recovering client may get again.
    static func isRecoverable(_ packet: SocketPacket, options: BroadcastOptions) -> Bool {
        guard packet.type == .event || packet.type == .binaryEvent, packet.ackID == nil, !options.volatile,
            case .array = packet.data
        else { return false }
        return true
    }

    /// The packet with `offset` as its last argument; nil when it is not recoverable.
    static func stamped(_ packet: SocketPacket, options: BroadcastOptions, offset: String) -> SocketPacket? {
        guard isRecoverable(packet, options: options), case .array(var items) = packet.data else { return nil }
        items.append(.string(offset))
        var stamped = packet
        stamped.data = .array(items)
        return stamped
    }

    mutating func keep(_ record: SocketSessionRecord) {
        let now = configuration.clock()
        dropExpired(now: now)
        sessions[record.pid] = KeptSession(record: record, disconnectedAt: now)
    }

    /// The session, once, if it is within the window and `offset` is still kept.
    mutating func take(pid: String, offset: String) -> SocketSessionRecord? {
        dropExpired(now: configuration.clock())
        guard sessions[pid] != nil, broadcasts.contains(where: { $0.offset == offset }) else { return nil }
        return sessions.removeValue(forKey: pid)?.record
    }

    /// Broadcasts after `offset` that a socket in `rooms` would have received.
    func missed(after offset: String, rooms: Set<String>) -> [SocketPacket] {
        guard let index = broadcasts.firstIndex(where: { $0.offset == offset }) else { return [] }
        return broadcasts[(index + 1)...].filter { $0.options.selects(rooms: rooms) }.map(\.packet)
    }

    /// Kept sessions follow `socketsLeave`: a socket removed from a room while away
    /// does not come back into it.
    mutating func leave(_ options: BroadcastOptions, rooms: Set<String>) {
        for (pid, kept) in sessions where options.selects(rooms: kept.record.rooms) {
            var record = kept.record
            record.rooms.subtract(rooms)
            sessions[pid] = KeptSession(record: record, disconnectedAt: kept.disconnectedAt)
        }
    }

    /// Kept sessions follow `disconnectSockets`: they cannot be recovered any more.
    mutating func forget(_ options: BroadcastOptions) {
        sessions = sessions.filter { !options.selects(rooms: $0.value.record.rooms) }
    }

    private mutating func dropExpired(now: ContinuousClock.Instant) {
        dropExpiredBroadcasts(now: now)
        sessions = sessions.filter { now - $0.value.disconnectedAt <= configuration.maxDisconnectionDuration }
    }

    private mutating func dropExpiredBroadcasts(now: ContinuousClock.Instant) {
        let window = configuration.maxDisconnectionDuration
        if let firstKept = broadcasts.firstIndex(where: { now - $0.emittedAt <= window }) {
            broadcasts.removeFirst(firstKept)
        } else {
            broadcasts.removeAll()
        }
    }
}

extension BroadcastOptions {
    /// Whether a socket in `rooms` is among the recipients.
    public func selects(rooms socketRooms: Set<String>) -> Bool {
        (rooms.isEmpty || !rooms.isDisjoint(with: socketRooms)) && except.isDisjoint(with: socketRooms)
    }
}
