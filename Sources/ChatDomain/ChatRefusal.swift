/// Why the chat rules refused something, in words a page or a client can show. Every
/// refusal of ``ChatService`` is one of these; the app turns them into HTTP and
/// Socket.IO answers.
public enum ChatRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: Accounts

    /// A registration field was empty.
    case missingRegistrationFields
    /// The username or the email of a registration is taken.
    case accountTaken
    /// A profile change to an empty value.
    case emptyProfileValue(ProfileField)
    /// A profile change to a username or email another user has.
    case profileValueTaken(ProfileField)
    /// A profile change of a field that is not ``ProfileField``.
    case unknownProfileField

    // MARK: Rooms

    /// No room has that key.
    case noSuchRoom
    /// The user is not a member of the room.
    case notMember
    /// Only the room's owner may do this.
    case notOwner
    /// The owner cannot moderate themselves.
    case notYourself
    /// The user is muted in the room and may not post.
    case muted
    /// The user is banned from the room.
    case banned
    /// The history cursor or message id is not one the store made for this room.
    case invalidCursor
    /// The room name was empty or only whitespace (``RoomName``).
    case emptyRoomName
    /// The room name is longer than `limit` characters (``RoomName``).
    case roomNameTooLong(limit: Int)

    // MARK: Messages

    /// The message was empty or only whitespace.
    case emptyMessage
    /// The message is longer than `limit` UTF-16 code units.
    case messageTooLong(limit: Int)

    /// The refusal in the words the pages and the chat show (the old backend's words
    /// where it had them).
    public var description: String {
        switch self {
        case .missingRegistrationFields: return "Username, email and password are required"
        case .accountTaken: return "Username or email already exists"
        case .emptyProfileValue(let field): return "\(field.displayName) cannot be empty"
        case .profileValueTaken(let field): return "\(field.displayName) already exists"
        case .unknownProfileField: return "Unknown field"
        case .noSuchRoom: return "No such room."
        case .notMember: return "You are not a member of this room."
        case .notOwner: return "Only the room's owner can do that."
        case .notYourself: return "You cannot do that to yourself."
        case .muted: return "You are muted in this room."
        case .banned: return "You are banned from this room."
        case .invalidCursor: return "That history cursor is not valid."
        case .emptyRoomName: return "Room name cannot be empty."
        case .roomNameTooLong(let limit): return "Room name is longer than \(limit) characters."
        case .emptyMessage: return "Message cannot be empty."
        case .messageTooLong(let limit): return "Message is longer than \(limit) characters."
        }
    }
}

/// A field of the profile `/update_profile` changes (its form's `field` value).
public enum ProfileField: String, Sendable, Equatable, CaseIterable {
    /// The unique login name.
    case username
    /// The unique email address.
    case email
    /// The password (stored hashed).
    case password

    /// The field's name at the start of a sentence.
    var displayName: String {
        switch self {
        case .username: return "Username"
        case .email: return "Email"
        case .password: return "Password"
        }
    }
}
