/// The rooms the chat puts sockets in, by kind. Socket.IO names rooms with strings; the
/// kinds the server keeps for its own deliveries carry a prefix that no chat room key
/// can have (keys are URL-safe base64, never with a colon).
enum ChatifyRoom: Hashable, Sendable {
    /// Every socket of one user, so a kick, a ban or a per-user limit reaches all their
    /// tabs (and, with a cluster adapter, all nodes).
    case user(id: String)
    /// Every socket opened with a token of one sign-in (`AccessClaims.sessionID`), so a
    /// logout closes them all.
    case signIn(id: String)
    /// The sockets of a chat room that asked for presence, typing and moderation events.
    case watchers(roomKey: String)
    /// A chat room, named by its key.
    case chat(key: String)

    private static let userPrefix = "user:"
    private static let signInPrefix = "token:"
    private static let watchersPrefix = "watch:"

    /// The room's Socket.IO name.
    var name: String {
        switch self {
        case .user(let id): Self.userPrefix + id
        case .signIn(let id): Self.signInPrefix + id
        case .watchers(let key): Self.watchersPrefix + key
        case .chat(let key): key
        }
    }

    /// The kind of room a Socket.IO name stands for; a name without a server prefix is
    /// a chat room.
    init(name: String) {
        if let id = Self.suffix(of: name, after: Self.userPrefix) {
            self = .user(id: id)
        } else if let id = Self.suffix(of: name, after: Self.signInPrefix) {
            self = .signIn(id: id)
        } else if let key = Self.suffix(of: name, after: Self.watchersPrefix) {
            self = .watchers(roomKey: key)
        } else {
            self = .chat(key: name)
        }
    }

    /// Whether the server keeps this room for its own deliveries: no client event may
    /// join, leave or post to it.
    var isServerRoom: Bool {
        if case .chat = self { return false }
        return true
    }

    private static func suffix(of name: String, after prefix: String) -> String? {
        name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : nil
    }
}
