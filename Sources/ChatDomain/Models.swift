public import Foundation

/// A registered user, as stored (the old backend's `users` documents).
public struct User: Sendable, Equatable, Identifiable {
    /// A 24-hex ObjectId with MongoDB, a UUID string in memory.
    public var id: String
    /// The unique name the user logs in with.
    public var username: String
    /// The unique email address.
    public var email: String
    /// A Werkzeug password hash (`pbkdf2:sha256:…` or `scrypt:…`).
    public var passwordHash: String
    /// When the user registered.
    public var createdAt: Date

    /// A user as the store returns it.
    public init(id: String, username: String, email: String, passwordHash: String, createdAt: Date) {
        self.id = id
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A chat room (the old backend's `rooms` documents).
public struct Room: Sendable, Equatable, Identifiable {
    /// The store's id: a 24-hex ObjectId with MongoDB, a UUID string in memory.
    public var id: String
    /// The name shown to members.
    public var name: String
    /// What members type to join, and the Socket.IO room name: 11 URL-safe characters.
    public var key: String
    /// The owner's user id.
    public var createdBy: String
    /// When the room was created.
    public var createdAt: Date
    /// Member user ids, in the order they joined.
    public var members: [String]
    /// Members the owner muted: they may read, not post. Absent in old documents.
    public var muted: [String]
    /// Users the owner banned: not members, and joining by key is refused.
    public var banned: [String]

    /// A room as the store returns it.
    public init(
        id: String, name: String, key: String, createdBy: String, createdAt: Date, members: [String],
        muted: [String] = [], banned: [String] = []
    ) {
        self.id = id
        self.name = name
        self.key = key
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.members = members
        self.muted = muted
        self.banned = banned
    }

    /// True when the user is one of the members.
    public func isMember(_ userID: String) -> Bool { members.contains(userID) }
    /// True when the user created the room.
    public func isOwner(_ userID: String) -> Bool { createdBy == userID }
    /// True when the owner muted the user.
    public func isMuted(_ userID: String) -> Bool { muted.contains(userID) }
    /// True when the owner banned the user.
    public func isBanned(_ userID: String) -> Bool { banned.contains(userID) }
}

/// A change the owner makes to a room (`ChatStore.updateRoom`).
public enum RoomChange: Sendable, Equatable {
    /// A new name, already trimmed and checked.
    case rename(String)
    /// A new key: the old one stops working.
    case key(String)
    /// Mutes the user: they stay a member and may read, not post.
    case mute(String)
    /// Lets a muted user post again.
    case unmute(String)
    /// Removes the user from the members (and the muted) and refuses them from then on.
    case ban(String)
    /// Lets a banned user join by key again (they are not made a member).
    case unban(String)
}

/// A chat message as stored (`messages` collection); system notices are never stored.
/// Its fields are those of `NewChatMessage` (`message.text`, …) plus the store's id.
@dynamicMemberLookup
public struct ChatMessage: Sendable, Equatable, Identifiable {
    /// The store's id, also the cursor of ``ChatStore/messages(inRoom:after:limit:)``.
    public var id: String
    /// What was posted.
    public var content: NewChatMessage

    /// A stored message: `content` under the store's `id`.
    public init(id: String, _ content: NewChatMessage) {
        self.id = id
        self.content = content
    }

    /// Reads a field of ``content`` as if it were the message's own (`message.text`).
    public subscript<Value>(dynamicMember field: KeyPath<NewChatMessage, Value>) -> Value { content[keyPath: field] }
}

/// A message to be stored; the store gives it its id.
public struct NewChatMessage: Sendable, Equatable {
    /// The room's id (not its key, which the owner can rotate).
    public var roomID: String
    /// The author's user id.
    public var userID: String
    /// The author's name when it was posted.
    public var username: String
    /// The message as posted, already validated (``ChatService/validateMessage(_:)``).
    public var text: String
    /// The `HH:MM` stamp the message was broadcast with.
    public var timestamp: String
    /// When the message was stored; history is ordered by it.
    public var createdAt: Date

    /// A message to store.
    public init(roomID: String, userID: String, username: String, text: String, timestamp: String, createdAt: Date) {
        self.roomID = roomID
        self.userID = userID
        self.username = username
        self.text = text
        self.timestamp = timestamp
        self.createdAt = createdAt
    }
}

/// One page of a room's history.
public struct MessagePage: Sendable, Equatable {
    /// Oldest first, as a chat shows them.
    public var messages: [ChatMessage]
    /// Pass it as `before` for the page older than this one; nil when there is none.
    public var olderCursor: String?

    /// A page of `messages`, oldest first, and the cursor of the page before it.
    public init(messages: [ChatMessage], olderCursor: String?) {
        self.messages = messages
        self.olderCursor = olderCursor
    }
}

/// A user to be stored; the store gives it its id.
public struct NewUser: Sendable, Equatable {
    /// The username wanted; unique.
    public var username: String
    /// The email address; unique.
    public var email: String
    /// A Werkzeug password hash (``WerkzeugPasswordHasher``), never the password.
    public var passwordHash: String
    /// When the user registered.
    public var createdAt: Date

    /// A user to store.
    public init(username: String, email: String, passwordHash: String, createdAt: Date) {
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A room to be stored, with its creator as the only member.
public struct NewRoom: Sendable, Equatable {
    /// The room's name, already trimmed and checked.
    public var name: String
    /// The room's key (``RoomKey/random()``); unique.
    public var key: String
    /// The creator's user id; the creator becomes the owner and only member.
    public var createdBy: String
    /// When the room was created.
    public var createdAt: Date

    /// A room to store.
    public init(name: String, key: String, createdBy: String, createdAt: Date) {
        self.name = name
        self.key = key
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// One change to a user's profile.
public enum ProfileChange: Sendable, Equatable {
    /// A new username; unique.
    case username(String)
    /// A new email address; unique.
    case email(String)
    /// A new password, already hashed.
    case passwordHash(String)
}
