public import Foundation

/// A registered user, as stored (the old backend's `users` documents).
public struct User: Sendable, Equatable, Identifiable {
    /// A 24-hex ObjectId with MongoDB, a UUID string in memory.
    public var id: String
    public var username: String
    public var email: String
    /// A Werkzeug password hash (`pbkdf2:sha256:…` or `scrypt:…`).
    public var passwordHash: String
    public var createdAt: Date

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
    public var id: String
    public var name: String
    /// What members type to join, and the Socket.IO room name: 11 URL-safe characters.
    public var key: String
    /// The owner's user id.
    public var createdBy: String
    public var createdAt: Date
    /// Member user ids, in the order they joined.
    public var members: [String]

    public init(id: String, name: String, key: String, createdBy: String, createdAt: Date, members: [String]) {
        self.id = id
        self.name = name
        self.key = key
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.members = members
    }

    public func isMember(_ userID: String) -> Bool { members.contains(userID) }
    public func isOwner(_ userID: String) -> Bool { createdBy == userID }
}

/// A user to be stored; the store gives it its id.
public struct NewUser: Sendable, Equatable {
    public var username: String
    public var email: String
    public var passwordHash: String
    public var createdAt: Date

    public init(username: String, email: String, passwordHash: String, createdAt: Date) {
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A room to be stored, with its creator as the only member.
public struct NewRoom: Sendable, Equatable {
    public var name: String
    public var key: String
    public var createdBy: String
    public var createdAt: Date

    public init(name: String, key: String, createdBy: String, createdAt: Date) {
        self.name = name
        self.key = key
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// One change to a user's profile.
public enum ProfileChange: Sendable, Equatable {
    case username(String)
    case email(String)
    case passwordHash(String)
}
