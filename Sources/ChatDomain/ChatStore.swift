public import Foundation

/// Which unique value a write collided with.
public enum UniqueField: String, Sendable, Equatable {
    /// The username.
    case username
    /// The email address.
    case email
    /// The room key (stored in the field `key`).
    case roomKey = "key"
}

/// Why a store operation failed.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value is already taken (a unique index said so).
    case duplicate(UniqueField)
    /// The database cannot be reached or failed; nothing was changed that the caller
    /// was told about.
    case unavailable(String)

    /// The refusal in words for logs: which value exists, or why the database is unavailable.
    public var description: String {
        switch self {
        case .duplicate(let field): return "\(field.rawValue) already exists"
        case .unavailable(let reason): return "the database is unavailable: \(reason)"
        }
    }
}

/// Where users and rooms live. MongoDB and memory implement it.
///
/// Every method is atomic on its own; the chat rules in `ChatService` are built on
/// top. Uniqueness of usernames, emails and room keys is the store's to enforce
/// (`StoreError.duplicate`), so concurrent registrations cannot both win.
public protocol ChatStore: Sendable {
    /// A short name for logs ("MongoDB chatify_db", "memory").
    var description: String { get }

    /// Stores a new user and returns it with its id; `duplicate` when the username or email
    /// is taken.
    func insertUser(_ user: NewUser) async throws(StoreError) -> User
    /// The user with this id; nil when there is none.
    func user(id: String) async throws(StoreError) -> User?
    /// The user with this exact username; nil when there is none.
    func user(username: String) async throws(StoreError) -> User?
    /// The user with this exact email; nil when there is none.
    func user(email: String) async throws(StoreError) -> User?
    /// Applies the change; `duplicate` when a username or email is taken by someone else.
    func updateUser(id: String, _ change: ProfileChange) async throws(StoreError)

    /// Stores a new room, its creator its only member, and returns it with its id;
    /// `.duplicate(.roomKey)` when the key is taken.
    func insertRoom(_ room: NewRoom) async throws(StoreError) -> Room
    /// The room with this key; nil when there is none.
    func room(key: String) async throws(StoreError) -> Room?
    /// Rooms the user created, in creation order.
    func rooms(createdBy userID: String) async throws(StoreError) -> [Room]
    /// Adds the member once, unless the room bans them, in one atomic step (a ban cannot
    /// land between the check and the addition); returns the room afterwards, nil when
    /// there is no such room. A banned user is not added: the returned room says so.
    func addMember(_ userID: String, toRoom key: String) async throws(StoreError) -> Room?
    /// Removes the member; returns the room, nil when there is no such room.
    func removeMember(_ userID: String, fromRoom key: String) async throws(StoreError) -> Room?
    /// Deletes the room if `userID` created it; true when something was deleted.
    func deleteRoom(key: String, ownedBy userID: String) async throws(StoreError) -> Bool
    /// Rooms the user is a member of, in creation order.
    func rooms(memberOf userID: String) async throws(StoreError) -> [Room]
    /// Applies the change; returns the room afterwards, nil when there is no such room.
    /// A new key that is taken is `.duplicate(.roomKey)`.
    func updateRoom(key: String, _ change: RoomChange) async throws(StoreError) -> Room?

    /// Stores a chat message.
    func insertMessage(_ message: NewChatMessage) async throws(StoreError) -> ChatMessage
    /// Up to `limit` of the room's newest messages older than `cursor` (the newest when
    /// nil); nil when the cursor is not one this store made.
    func messages(inRoom roomID: String, before cursor: String?, limit: Int) async throws(StoreError) -> MessagePage?
    /// Up to `limit` of the room's newest messages posted after the message with id
    /// `messageID`, oldest first; `olderCursor` is set when more came after it than
    /// `limit`. Nil when the id is not one of this room's messages.
    func messages(inRoom roomID: String, after messageID: String, limit: Int) async throws(StoreError) -> MessagePage?
    /// Deletes every message of the room.
    func deleteMessages(inRoom roomID: String) async throws(StoreError)

    /// Remembers that a token (by its `jti`) was revoked by a logout, until it would
    /// have expired anyway.
    func revokeToken(id: String, expiresAt: Date) async throws(StoreError)
    /// Whether any of these ids (a token's, its sign-in's) was revoked and has not
    /// expired yet: one question, so signing a request in costs one round trip.
    func isTokenRevoked(anyOf ids: [String]) async throws(StoreError) -> Bool

    /// Whether the store answers right now.
    func ping() async throws(StoreError)
    /// Releases the connection; the store is not used afterwards.
    func close() async
}
