public import ChatDomain
public import Foundation
import Synchronization

/// Users and rooms in this process's memory, the embedded default when no database
/// answers. Ids are UUID strings, as the old backend's memory fallback made them.
/// Everything is lost when the process ends.
public final class MemoryStore: ChatStore {
    private struct State {
        var users: [String: User] = [:]
        var userOrder: [String] = []
        var rooms: [String: Room] = [:]  // by key
        var roomOrder: [String] = []
        var revokedTokens: [String: Date] = [:]
        var nextRevocationSweep = 1000
        /// By room id, oldest first, at most `messagesKeptPerRoom` each.
        var messages: [String: [ChatMessage]] = [:]
        var lastMessageNumber = 0
    }

    /// Memory is not a database: each room keeps only its newest messages.
    public static let messagesKeptPerRoom = 1000
    private static let trimmedTogether = 250

    private let state = Mutex(State())

    public init() {}

    public var description: String { "memory (data is lost on restart)" }

    public func insertUser(_ new: NewUser) async throws(StoreError) -> User {
        try state.withLock { state throws(StoreError) -> User in
            if state.users.values.contains(where: { $0.username == new.username }) { throw .duplicate(.username) }
            if state.users.values.contains(where: { $0.email == new.email }) { throw .duplicate(.email) }
            let user = User(
                id: UUID().uuidString.lowercased(), username: new.username, email: new.email,
                passwordHash: new.passwordHash, createdAt: new.createdAt
            )
            state.users[user.id] = user
            state.userOrder.append(user.id)
            return user
        }
    }

    public func user(id: String) async throws(StoreError) -> User? {
        state.withLock { $0.users[id] }
    }

    public func user(username: String) async throws(StoreError) -> User? {
        state.withLock { state in
            let users = state.users
            return state.userOrder.lazy.compactMap { users[$0] }.first { $0.username == username }
        }
    }

    public func user(email: String) async throws(StoreError) -> User? {
        state.withLock { state in
            let users = state.users
            return state.userOrder.lazy.compactMap { users[$0] }.first { $0.email == email }
        }
    }

    public func updateUser(id: String, _ change: ProfileChange) async throws(StoreError) {
        try state.withLock { state throws(StoreError) in
            guard var user = state.users[id] else { return }
            switch change {
            case .username(let name):
                if state.users.values.contains(where: { $0.username == name && $0.id != id }) {
                    throw .duplicate(.username)
                }
                user.username = name
            case .email(let email):
                if state.users.values.contains(where: { $0.email == email && $0.id != id }) { throw .duplicate(.email) }
                user.email = email
            case .passwordHash(let hash):
                user.passwordHash = hash
            }
            state.users[id] = user
        }
    }

    public func insertRoom(_ new: NewRoom) async throws(StoreError) -> Room {
        try state.withLock { state throws(StoreError) -> Room in
            guard state.rooms[new.key] == nil else { throw .duplicate(.roomKey) }
            let room = Room(
                id: UUID().uuidString.lowercased(), name: new.name, key: new.key, createdBy: new.createdBy,
                createdAt: new.createdAt, members: [new.createdBy]
            )
            state.rooms[room.key] = room
            state.roomOrder.append(room.key)
            return room
        }
    }

    public func room(key: String) async throws(StoreError) -> Room? {
        state.withLock { $0.rooms[key] }
    }

    public func rooms(createdBy userID: String) async throws(StoreError) -> [Room] {
        state.withLock { state in state.roomOrder.compactMap { state.rooms[$0] }.filter { $0.createdBy == userID } }
    }

    public func addMember(_ userID: String, toRoom key: String) async throws(StoreError) -> Room? {
        state.withLock { state in
            guard var room = state.rooms[key] else { return nil }
            if !room.members.contains(userID), !room.isBanned(userID) { room.members.append(userID) }
            state.rooms[key] = room
            return room
        }
    }

    public func removeMember(_ userID: String, fromRoom key: String) async throws(StoreError) -> Room? {
        state.withLock { state in
            guard var room = state.rooms[key] else { return nil }
            room.members.removeAll { $0 == userID }
            state.rooms[key] = room
            return room
        }
    }

    public func deleteRoom(key: String, ownedBy userID: String) async throws(StoreError) -> Bool {
        state.withLock { state in
            guard let room = state.rooms[key], room.createdBy == userID else { return false }
            state.rooms[key] = nil
            state.roomOrder.removeAll { $0 == key }
            return true
        }
    }

    public func rooms(memberOf userID: String) async throws(StoreError) -> [Room] {
        state.withLock { state in state.roomOrder.compactMap { state.rooms[$0] }.filter { $0.isMember(userID) } }
    }

    public func updateRoom(key: String, _ change: RoomChange) async throws(StoreError) -> Room? {
        try state.withLock { state throws(StoreError) -> Room? in
            guard var room = state.rooms[key] else { return nil }
            switch change {
            case .rename(let name): room.name = name
            case .key(let newKey):
                guard state.rooms[newKey] == nil else { throw .duplicate(.roomKey) }
                room.key = newKey
                state.rooms[key] = nil
                state.roomOrder = state.roomOrder.map { $0 == key ? newKey : $0 }
            case .mute(let userID): if !room.muted.contains(userID) { room.muted.append(userID) }
            case .unmute(let userID): room.muted.removeAll { $0 == userID }
            case .ban(let userID):
                if !room.banned.contains(userID) { room.banned.append(userID) }
                room.members.removeAll { $0 == userID }
                room.muted.removeAll { $0 == userID }
            case .unban(let userID): room.banned.removeAll { $0 == userID }
            }
            state.rooms[room.key] = room
            return room
        }
    }

    public func insertMessage(_ new: NewChatMessage) async throws(StoreError) -> ChatMessage {
        state.withLock { state in
            state.lastMessageNumber += 1
            let message = ChatMessage(id: String(state.lastMessageNumber), new)
            // Appended in place: a copy taken out of the dictionary copied the room's whole
            // history on every message. The oldest are dropped in batches, so trimming
            // costs O(1) per message; readers see only the newest `messagesKeptPerRoom`.
            Self.append(message, to: &state.messages[new.roomID, default: []])
            return message
        }
    }

    /// One dictionary lookup per message: the room's history is borrowed in place.
    private static func append(_ message: ChatMessage, to history: inout [ChatMessage]) {
        history.append(message)
        if history.count >= messagesKeptPerRoom + trimmedTogether {
            history.removeFirst(history.count - messagesKeptPerRoom)
        }
    }

    /// The cursor is the id (a sequence number) of the oldest message already shown.
    public func messages(inRoom roomID: String, before cursor: String?, limit: Int) async throws(StoreError)
        -> MessagePage?
    {
        let bound: Int
        if let cursor {
            guard let number = Int(cursor), number > 0 else { return nil }
            bound = number
        } else {
            bound = .max
        }
        return state.withLock { state in
            let older = (state.messages[roomID] ?? []).suffix(Self.messagesKeptPerRoom).filter {
                (Int($0.id) ?? 0) < bound
            }
            let page = Array(older.suffix(max(limit, 0)))
            let hasMore = older.count > page.count
            return MessagePage(messages: page, olderCursor: hasMore ? page.first?.id : nil)
        }
    }

    /// Ids are sequence numbers, so the messages after one are those with a greater number.
    public func messages(inRoom roomID: String, after messageID: String, limit: Int) async throws(StoreError)
        -> MessagePage?
    {
        guard let number = Int(messageID), number > 0 else { return nil }
        return state.withLock { state -> MessagePage? in
            guard number <= state.lastMessageNumber else { return nil }
            let newer = (state.messages[roomID] ?? []).suffix(Self.messagesKeptPerRoom).filter {
                (Int($0.id) ?? 0) > number
            }
            let page = Array(newer.suffix(max(limit, 0)))
            return MessagePage(messages: page, olderCursor: newer.count > page.count ? page.first?.id : nil)
        }
    }

    public func deleteMessages(inRoom roomID: String) async throws(StoreError) {
        state.withLock { state in state.messages[roomID] = nil }
    }

    public func revokeToken(id: String, expiresAt: Date) async throws(StoreError) {
        state.withLock { state in
            let now = Date()
            // Drop what has expired on the way, so the list stays as long as the live tokens;
            // only when it has doubled since the last sweep, so each insert costs O(1) on
            // average however many records are live.
            if state.revokedTokens.count >= state.nextRevocationSweep {
                state.revokedTokens = state.revokedTokens.filter { $0.value > now }
                state.nextRevocationSweep = max(1000, 2 * state.revokedTokens.count)
            }
            state.revokedTokens[id] = expiresAt
        }
    }

    public func isTokenRevoked(anyOf ids: [String]) async throws(StoreError) -> Bool {
        let now = Date()
        return state.withLock { state in ids.contains { state.revokedTokens[$0].map { $0 > now } ?? false } }
    }

    public func ping() async throws(StoreError) {}

    public func close() async {}
}
