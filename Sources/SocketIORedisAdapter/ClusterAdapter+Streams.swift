import Foundation
import NIOCore
public import OrderedJSON
public import SocketIO
import Synchronization

/// Node's streams adapter on top of ``ClusterAdapter``: the stream entries it writes and
/// reads, and connection state recovery through Redis (sessions under
/// `sio:session:<pid>`, missed broadcasts read back from the stream).
extension ClusterAdapter {
    /// Node's bound on the `XRANGE` calls of one restore: entries appended faster than
    /// they are read cannot keep a restore going forever.
    static let maximumRestoreReads = 100

    /// Broadcasts without acknowledgement, room changes, disconnections and heartbeats go
    /// to the stream; requests and responses are ephemeral and go over Pub/Sub.
    static func isKeptInStream(_ type: MessageType, _ data: JSONObject) -> Bool {
        switch type {
        case .broadcast: return data["requestId"] == nil
        case .socketsJoin, .socketsLeave, .disconnectSockets, .initialHeartbeat, .heartbeat, .adapterClose: return true
        case .fetchSockets, .fetchSocketsResponse, .serverSideEmit, .serverSideEmitResponse, .broadcastClientCount,
            .broadcastAck:
            return false
        }
    }

    /// The fields Node writes, in its order: `uid`, `nsp`, `type` (decimal text) and
    /// `data`: JSON, or base64 of MessagePack when it carries binary.
    static func streamFields(
        _ type: MessageType, _ data: JSONObject, uid: String, namespace: String
    ) -> [(name: String, value: [UInt8])] {
        let value = JSONValue.object(data)
        let encoded =
            value.containsBinary
            ? Array(Data(MessagePack.encode(value)).base64EncodedString().utf8) : Array(value.jsonString.utf8)
        return [
            ("uid", Array(uid.utf8)), ("nsp", Array(namespace.utf8)), ("type", Array(String(type.rawValue).utf8)),
            ("data", encoded),
        ]
    }

    /// The `{type, data, uid, nsp}` message of a stream entry; nil when it is not one.
    static func message(in entry: RedisStreamEntry) -> JSONValue? {
        guard let uid = entry.text("uid"), let namespace = entry.text("nsp"), let typeText = entry.text("type"),
            typeText.utf8.count <= 3, let type = Int64(typeText)
        else { return nil }
        var message: JSONObject = ["uid": .string(uid), "nsp": .string(namespace), "type": .integer(type)]
        if let raw = entry.fields["data"], !raw.isEmpty {
            if raw.first == UInt8(ascii: "{") {
                guard let data = try? JSONValue(parsing: raw) else { return nil }
                message["data"] = data
            } else {
                guard let bytes = Data(base64Encoded: Data(raw)), let data = try? MessagePack.decode(Array(bytes))
                else { return nil }
                message["data"] = data
            }
        }
        return .object(message)
    }

    /// An entry the stream reader read: applied as a message from another node, with its id.
    func received(_ entry: RedisStreamEntry) {
        guard let message = Self.message(in: entry) else {
            logger.debug("redis: ignoring a malformed stream entry", metadata: ["id": "\(entry.id)"])
            return
        }
        apply(message, offset: entry.id, from: "stream entry \(entry.id)")
    }

    // MARK: Connection state recovery

    /// Keeps the session in Redis for the recovery window (or on this node without a stream).
    public func persistSession(_ session: SocketSessionRecord) {
        guard let stream = streamSlot.value else {
            local.persistSession(session)
            return
        }
        missedByPID.withLock { _ = $0.removeValue(forKey: session.pid) }
        store(session, in: stream)
    }

    /// Takes the socket out of its rooms and keeps its session, in Redis with a stream.
    public func removeAndPersist(_ socketID: String, pid: String, data: JSONValue) -> Set<String> {
        guard let stream = streamSlot.value else { return local.removeAndPersist(socketID, pid: pid, data: data) }
        let rooms = local.rooms(of: socketID)
        local.deleteAll(socketID)
        store(SocketSessionRecord(sid: socketID, pid: pid, rooms: rooms, data: data), in: stream)
        return rooms
    }

    /// `SET sio:session:<pid> <base64 of MessagePack {sid, pid, rooms, data}> PX <window>`.
    private func store(_ session: SocketSessionRecord, in stream: RedisStream) {
        guard let window = sockets.connectionStateRecovery?.maxDisconnectionDuration else { return }
        stream.storeSession(pid: session.pid, value: Self.encodeSession(session), expiresIn: window)
    }

    /// Node's session value: base64 of MessagePack `{sid, pid, rooms, data}`.
    static func encodeSession(_ session: SocketSessionRecord) -> String {
        let object: JSONObject = [
            "sid": .string(session.sid), "pid": .string(session.pid),
            "rooms": .array(session.rooms.sorted().map { .string($0) }), "data": session.data,
        ]
        return Data(MessagePack.encode(.object(object))).base64EncodedString()
    }

    /// The session a stored value stands for; nil when it is not one.
    static func decodeSession(_ value: [UInt8]) -> SocketSessionRecord? {
        guard let bytes = Data(base64Encoded: Data(value)), let object = try? MessagePack.decode(Array(bytes)),
            let sid = object["sid"]?.stringValue, let pid = object["pid"]?.stringValue,
            let rooms = object["rooms"]?.arrayValue
        else { return nil }
        return SocketSessionRecord(
            sid: sid, pid: pid, rooms: Set(rooms.compactMap(\.stringValue)), data: object["data"] ?? .null)
    }

    /// With a stream: the session from Redis, once (`GETDEL`), if `offset` is an entry the
    /// stream still holds; the entries after it are read now (100 reads at most, as
    /// Node) and the broadcasts to the session's rooms are handed out by
    /// ``resume(_:after:)``. As with the in-memory adapter, a `socketsLeave` read there
    /// takes rooms out of the session, and a `disconnectSockets` that selects it means it
    /// is not restored.
    public func restoreSession(pid: String, offset: String) async -> SocketSessionRecord? {
        guard let stream = streamSlot.value else { return local.restoreSession(pid: pid, offset: offset) }
        // Our pids (and Node's) have 20 characters: anything much longer is not one.
        guard pid.utf8.count <= Self.maximumPIDLength, RedisStreamEntry.isID(offset) else { return nil }
        do {
            let stored = try await stream.takeSession(pid: pid)
            guard let stored, var session = Self.decodeSession(stored),
                try await stream.entries(from: offset, to: offset).first?.id == offset,
                let changes = try await sessionChanges(after: offset, rooms: session.rooms, in: stream)
            else { return nil }
            session.rooms = changes.rooms
            missedByPID.withLock { $0[session.pid] = (changes.missed, changes.lastRead) }
            return session
        } catch {
            logger.warning("redis: cannot restore a session: \(error)")
            return nil
        }
    }

    /// The longest private session id looked up in Redis.
    static let maximumPIDLength = 64

    /// The session's rooms after the room changes in the stream since `offset`, and the
    /// broadcasts to them; nil when a disconnection selected the session.
    private func sessionChanges(
        after offset: String, rooms initialRooms: Set<String>, in stream: RedisStream
    ) async throws -> (rooms: Set<String>, missed: [SocketPacket], lastRead: String)? {
        var rooms = initialRooms
        var missed: [SocketPacket] = []
        var last = offset
        for _ in 0..<Self.maximumRestoreReads {
            guard let start = RedisStreamEntry.id(after: last) else { break }
            let entries = try await stream.entries(from: start)
            for entry in entries {
                last = entry.id
                guard let message = Self.message(in: entry), message["nsp"]?.stringValue == sockets.namespaceName,
                    let number = message["type"]?.integerValue, let type = MessageType(rawValue: number),
                    let data = message["data"]
                else { continue }
                // Options a peer sent malformed select nobody, as for live messages.
                guard let options = RedisAdapter.options(from: data["opts"]), options.selects(rooms: rooms)
                else { continue }
                switch type {
                case .broadcast:
                    guard data["requestId"] == nil,
                        let packet = RedisAdapter.eventPacket(from: data["packet"], namespace: sockets.namespaceName),
                        let stamped = InMemoryAdapter.stamped(packet, options: options, offset: entry.id)
                    else { continue }
                    missed.append(stamped)
                case .socketsLeave:
                    rooms.subtract((data["rooms"]?.arrayValue ?? []).compactMap(\.stringValue))
                case .disconnectSockets:
                    return nil
                default:
                    continue
                }
            }
            if entries.count < stream.options.readCount { break }
        }
        return (rooms, missed, last)
    }

    /// Puts the socket back into its rooms; returns the broadcasts it missed: those read
    /// from the stream when its session was restored, then those this node delivered
    /// since (entries after the last one read), so none falls between the two.
    public func resume(_ session: SocketSessionRecord, after offset: String) -> [SocketPacket] {
        guard streamSlot.value != nil else { return local.resume(session, after: offset) }
        let read = missedByPID.withLock { $0.removeValue(forKey: session.pid) }
        let lastRead = read?.lastRead ?? offset
        let since = local.resume(session, loggedAfter: { RedisStreamEntry.isID($0, after: lastRead) })
        return (read?.packets ?? []) + since
    }
}

/// Local deliveries that wait for something asynchronous (a stream entry id) and must
/// still happen in the order they were queued: each runs once it and every earlier one
/// are complete.
final class OrderedDeliveries: Sendable {
    typealias Delivery = @Sendable (String?) -> Void

    private struct Queued {
        let ticket: UInt64
        let deliver: Delivery
        var offset: String??
    }

    private struct State {
        var queue = CircularBuffer<Queued>()
        var nextTicket: UInt64 = 0
        /// One caller at a time runs deliveries, so they never overtake each other.
        var draining = false
    }

    private let state = Mutex(State())

    /// Queues a delivery; complete it with its ticket.
    func enqueue(_ deliver: @escaping Delivery) -> UInt64 {
        state.withLock { state in
            defer { state.nextTicket += 1 }
            state.queue.append(Queued(ticket: state.nextTicket, deliver: deliver, offset: nil))
            return state.nextTicket
        }
    }

    /// Completes a delivery and runs every complete one at the front of the queue.
    func complete(_ ticket: UInt64, offset: String?) {
        let drains = state.withLock { state -> Bool in
            if let index = state.queue.firstIndex(where: { $0.ticket == ticket }) {
                state.queue[index].offset = .some(offset)
            }
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        guard drains else { return }
        while true {
            let ready = state.withLock { state -> [(Delivery, String?)] in
                var ready: [(Delivery, String?)] = []
                while let first = state.queue.first, let offset = first.offset {
                    ready.append((first.deliver, offset))
                    state.queue.removeFirst()
                }
                if ready.isEmpty { state.draining = false }
                return ready
            }
            if ready.isEmpty { return }
            for (deliver, offset) in ready { deliver(offset) }
        }
    }
}
