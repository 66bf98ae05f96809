public import Foundation

/// The chat rules of the old backend, with its holes closed. No HTTP, no Socket.IO:
/// routes and socket events call these and turn the results into pages and packets.
/// It is the only way to the store, so no caller can skip a rule.
public struct ChatService: Sendable {
    /// Where users, rooms and messages are kept.
    private let store: any ChatStore
    /// Hashes new passwords and checks logins.
    public let passwords: WerkzeugPasswordHasher
    let now: @Sendable () -> Date
    let makeRoomKey: @Sendable () -> String

    /// The chat rules over `store`. `now` and `makeRoomKey` are there for tests; the
    /// defaults are the clock and ``RoomKey/random()``.
    public init(
        store: any ChatStore,
        passwords: WerkzeugPasswordHasher = WerkzeugPasswordHasher(),
        now: @escaping @Sendable () -> Date = { Date() },
        makeRoomKey: @escaping @Sendable () -> String = RoomKey.random
    ) {
        self.store = store
        self.passwords = passwords
        self.now = now
        self.makeRoomKey = makeRoomKey
    }

    // MARK: Accounts

    /// Registers a user with a hashed password. Empty fields are refused
    /// (``ChatRefusal/missingRegistrationFields``); a username or email that exists, even
    /// when another registration wins the race, is ``ChatRefusal/accountTaken``. Throws
    /// a `StoreError` when the store is unavailable, or the hasher's error.
    public func register(username: String, email: String, password: String) async throws -> User {
        guard !username.isEmpty, !email.isEmpty, !password.isEmpty else { throw ChatRefusal.missingRegistrationFields }
        if try await store.user(username: username) != nil { throw ChatRefusal.accountTaken }
        if try await store.user(email: email) != nil { throw ChatRefusal.accountTaken }
        let hash = try await passwords.hash(password)
        do {
            return try await store.insertUser(
                NewUser(username: username, email: email, passwordHash: hash, createdAt: now())
            )
        } catch .duplicate {
            // Another registration won the race between the check and the insert.
            throw ChatRefusal.accountTaken
        }
    }

    /// The user with that id; nil when there is none (any more).
    public func user(id: String) async throws(StoreError) -> User? {
        try await store.user(id: id)
    }

    /// The user when the password is right; nil for an unknown user or a wrong password.
    public func logIn(username: String, password: String) async throws -> User? {
        guard let user = try await store.user(username: username) else { return nil }
        return await passwords.verify(password, against: user.passwordHash) ? user : nil
    }

    /// Changes the username, email or password (`field` is a ``ProfileField`` name).
    /// Unlike the old backend, an empty value and an unknown field are refused, and
    /// keeping one's own name is not a clash.
    public func updateProfile(userID: String, field: String, value: String) async throws {
        guard let field = ProfileField(rawValue: field) else { throw ChatRefusal.unknownProfileField }
        guard !value.isEmpty else { throw ChatRefusal.emptyProfileValue(field) }
        do {
            switch field {
            case .username:
                if let owner = try await store.user(username: value), owner.id != userID {
                    throw ChatRefusal.profileValueTaken(.username)
                }
                try await store.updateUser(id: userID, .username(value))
            case .email:
                if let owner = try await store.user(email: value), owner.id != userID {
                    throw ChatRefusal.profileValueTaken(.email)
                }
                try await store.updateUser(id: userID, .email(value))
            case .password:
                try await store.updateUser(id: userID, .passwordHash(try await passwords.hash(value)))
            }
        } catch StoreError.duplicate(let taken) {
            throw ChatRefusal.profileValueTaken(taken == .email ? .email : .username)
        }
    }

    // MARK: Rooms

    /// A new room with its creator as the only member. The name follows ``RoomName``'s
    /// rules, as a rename's does.
    public func createRoom(named name: String, by userID: String) async throws -> Room {
        let name = try RoomName.validated(name)
        // A collision of two random 64-bit keys is all but impossible; retry anyway.
        for _ in 0..<5 {
            do {
                return try await store.insertRoom(
                    NewRoom(name: name, key: makeRoomKey(), createdBy: userID, createdAt: now()))
            } catch .duplicate(.roomKey) {
                continue
            }
        }
        throw StoreError.unavailable("could not find a free room key")
    }

    /// Rooms the user created, as `/my_rooms` lists them.
    public func roomsCreated(by userID: String) async throws -> [Room] {
        try await store.rooms(createdBy: userID)
    }

    /// Adds the user to the room with that key; nil when no room has it. A banned user
    /// is refused (`ChatRefusal.banned`) and not added: the store checks the ban in the
    /// same step as the addition, so a ban made meanwhile cannot be undone by it.
    public func joinRoom(key: String, userID: String) async throws -> Room? {
        guard let room = try await store.addMember(userID, toRoom: key) else { return nil }
        if room.isBanned(userID) { throw ChatRefusal.banned }
        return room
    }

    /// One page of the rooms the user is a member of (created or joined), and whether
    /// there are more after it. Pages count from 1.
    public func roomsJoined(by userID: String, page: Int, perPage: Int) async throws -> (rooms: [Room], hasMore: Bool) {
        let all = try await store.rooms(memberOf: userID)
        return Self.slice(all, page: page, perPage: perPage)
    }

    /// One page of the rooms the user created, for `/my_rooms?page=N`.
    public func roomsCreated(by userID: String, page: Int, perPage: Int) async throws -> (rooms: [Room], hasMore: Bool)
    {
        Self.slice(try await store.rooms(createdBy: userID), page: page, perPage: perPage)
    }

    static func slice(_ rooms: [Room], page: Int, perPage: Int) -> (rooms: [Room], hasMore: Bool) {
        let size = max(perPage, 1)
        let start = (max(page, 1) - 1).multipliedReportingOverflow(by: size)
        guard !start.overflow, start.partialValue < rooms.count else { return ([], false) }
        let end = min(start.partialValue + size, rooms.count)
        return (Array(rooms[start.partialValue..<end]), end < rooms.count)
    }

    /// Removes the user from the room's members; nothing happens when there is no such room
    /// or they were not a member.
    public func leaveRoom(key: String, userID: String) async throws {
        _ = try await store.removeMember(userID, fromRoom: key)
    }

    /// The room, when it exists and the user owns it: the test for showing the owner's
    /// confirmation page before a deletion.
    public func roomOwned(key: String, by userID: String) async throws -> Room? {
        guard let room = try await store.room(key: key), room.isOwner(userID) else { return nil }
        return room
    }

    /// Deletes the room, and its messages, if the user owns it; nothing otherwise.
    @discardableResult
    public func deleteRoom(key: String, userID: String) async throws -> Bool {
        guard let room = try await store.room(key: key), room.isOwner(userID) else { return false }
        guard try await store.deleteRoom(key: key, ownedBy: userID) else { return false }
        try await store.deleteMessages(inRoom: room.id)
        return true
    }

    /// The room, when it exists and the user is one of its members: the test for
    /// opening its chat page, joining its Socket.IO room and posting to it.
    public func roomForMember(key: String, userID: String) async throws -> Room? {
        guard let room = try await store.room(key: key), room.isMember(userID) else { return nil }
        return room
    }

    /// What ``kick(_:fromRoom:by:)`` did.
    public enum KickOutcome: Sendable, Equatable {
        /// The target is no longer a member; `target` is nil if that user no longer exists.
        case kicked(target: User?)
        /// The user does not own the room, or tried to kick themselves: nothing happened.
        case notOwner
    }

    /// Only the room's creator may kick, and not themselves; ``ChatRefusal/noSuchRoom``
    /// when no room has the key.
    public func kick(_ targetID: String, fromRoom key: String, by userID: String) async throws -> KickOutcome {
        guard let room = try await store.room(key: key) else { throw ChatRefusal.noSuchRoom }
        guard room.isOwner(userID), targetID != userID else { return .notOwner }
        _ = try await store.removeMember(targetID, fromRoom: key)
        return .kicked(target: try await store.user(id: targetID))
    }

    // MARK: Moderation

    /// What the owner can do to a member with ``moderate(_:target:inRoom:by:)``.
    public enum ModerationAction: String, Sendable, CaseIterable {
        /// The target may read, not post (``RoomChange/mute(_:)``).
        case mute
        /// The target may post again.
        case unmute
        /// The target is removed and refused from then on (``RoomChange/ban(_:)``).
        case ban
        /// The target may join by key again.
        case unban
    }

    /// The owner mutes, unmutes, bans or unbans someone else. Returns the room
    /// afterwards and the target (nil if that user no longer exists).
    public func moderate(
        _ action: ModerationAction, target targetID: String, inRoom key: String, by userID: String
    ) async throws -> (room: Room, target: User?) {
        try await requireOwner(key: key, userID: userID)
        guard targetID != userID else { throw ChatRefusal.notYourself }
        let change: RoomChange
        switch action {
        case .mute: change = .mute(targetID)
        case .unmute: change = .unmute(targetID)
        case .ban: change = .ban(targetID)
        case .unban: change = .unban(targetID)
        }
        guard let room = try await store.updateRoom(key: key, change) else { throw ChatRefusal.noSuchRoom }
        return (room, try await store.user(id: targetID))
    }

    /// The owner renames the room; the name follows ``RoomName``'s rules.
    public func renameRoom(key: String, to name: String, by userID: String) async throws -> Room {
        let name = try RoomName.validated(name)
        try await requireOwner(key: key, userID: userID)
        guard let room = try await store.updateRoom(key: key, .rename(name)) else { throw ChatRefusal.noSuchRoom }
        return room
    }

    /// The owner gives the room a new random key; the old one stops working for joins,
    /// pages and events. Members stay members.
    public func rotateKey(ofRoom key: String, by userID: String) async throws -> Room {
        try await requireOwner(key: key, userID: userID)
        for _ in 0..<5 {
            let newKey = makeRoomKey()
            guard newKey != key else { continue }
            do {
                guard let room = try await store.updateRoom(key: key, .key(newKey)) else {
                    throw ChatRefusal.noSuchRoom
                }
                return room
            } catch StoreError.duplicate(.roomKey) {
                continue
            }
        }
        throw StoreError.unavailable("could not find a free room key")
    }

    private func requireOwner(key: String, userID: String) async throws {
        guard let room = try await store.room(key: key) else { throw ChatRefusal.noSuchRoom }
        guard room.isOwner(userID) else { throw ChatRefusal.notOwner }
    }

    // MARK: Sign-ins

    /// Refuses the token (or sign-in) id until `expiresAt`, when it would have expired anyway.
    public func revokeToken(id: String, expiresAt: Date) async throws(StoreError) {
        try await store.revokeToken(id: id, expiresAt: expiresAt)
    }

    /// True when any of the ids was revoked and has not expired yet.
    public func isTokenRevoked(anyOf ids: [String]) async throws(StoreError) -> Bool {
        try await store.isTokenRevoked(anyOf: ids)
    }

    /// Throws when the store does not answer (the readiness check).
    public func checkStore() async throws(StoreError) {
        try await store.ping()
    }

    // MARK: Messages

    /// Stores a message the user posts to the room, after the checks: the room exists,
    /// the user is a member and not muted. The text must have passed `validateMessage`.
    public func postMessage(
        _ text: String, toRoom key: String, by user: User, timestamp: String
    ) async throws -> ChatMessage {
        guard let room = try await roomForMember(key: key, userID: user.id) else { throw ChatRefusal.notMember }
        guard !room.isMuted(user.id) else { throw ChatRefusal.muted }
        return try await store.insertMessage(
            NewChatMessage(
                roomID: room.id, userID: user.id, username: user.username, text: text, timestamp: timestamp,
                createdAt: now()))
    }

    /// Messages in a history page when the client names no limit.
    public static let historyPageSize = 50
    /// Most messages one history page or catch-up returns.
    public static let maximumHistoryPageSize = 100

    /// A page of the room's stored messages for one of its members: the newest
    /// `limit` (1 to 100, default 50) older than `cursor`.
    public func history(ofRoom key: String, for userID: String, before cursor: String?, limit: Int?) async throws
        -> MessagePage
    {
        guard let room = try await roomForMember(key: key, userID: userID) else { throw ChatRefusal.notMember }
        let size = min(max(limit ?? Self.historyPageSize, 1), Self.maximumHistoryPageSize)
        guard let page = try await store.messages(inRoom: room.id, before: cursor, limit: size) else {
            throw ChatRefusal.invalidCursor
        }
        return page
    }

    /// What a member missed after the message with id `messageID`: at most
    /// `maximumHistoryPageSize`, the newest, oldest first.
    public func messages(ofRoom key: String, for userID: String, after messageID: String) async throws -> MessagePage {
        guard let room = try await roomForMember(key: key, userID: userID) else { throw ChatRefusal.notMember }
        guard let page = try await store.messages(inRoom: room.id, after: messageID, limit: Self.maximumHistoryPageSize)
        else {
            throw ChatRefusal.invalidCursor
        }
        return page
    }

    /// Longest message, in UTF-16 code units (as the page's `maxlength` counts).
    public static let maximumMessageLength = 500

    /// The text to post, or why it cannot be posted (``ChatRefusal/emptyMessage``,
    /// ``ChatRefusal/messageTooLong(limit:)``). Length counts characters as the
    /// browser's `maxlength` does (UTF-16 code units).
    public static func validateMessage(_ text: String) throws(ChatRefusal) -> String {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw .emptyMessage }
        if text.utf16.count > maximumMessageLength { throw .messageTooLong(limit: maximumMessageLength) }
        return text
    }
}

/// What the server says in a room, in the old backend's words.
public enum Notice {
    /// The name notices are posted under.
    public static let systemName = "System"
    /// `<name> has joined the room`.
    public static func joined(_ username: String) -> String { "\(username) has joined the room" }
    /// `<name> has left the room`.
    public static func left(_ username: String) -> String { "\(username) has left the room" }
    /// `<name> has been kicked from the room`.
    public static func kicked(_ username: String) -> String { "\(username) has been kicked from the room" }
}

/// Room keys: 8 random bytes in URL-safe base64 without padding (Python's
/// `secrets.token_urlsafe(8)`), 11 characters.
public enum RoomKey {
    /// A new key from the system's secure random generator.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<8).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// The `HH:MM` local time stamped on chat messages.
public struct MessageClock: Sendable {
    let timeZone: TimeZone
    let now: @Sendable () -> Date

    /// A clock in `timeZone`; `now` is there for tests.
    public init(timeZone: TimeZone = .current, now: @escaping @Sendable () -> Date = { Date() }) {
        self.timeZone = timeZone
        self.now = now
    }

    /// The current time as `HH:MM`, 24-hour, zero-padded.
    public func timestamp() -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: now())
        let hour = parts.hour ?? 0
        let minute = parts.minute ?? 0
        return (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute)
    }
}
