import ChatDomain

/// What each template shows. Plain structs: Mustache reads their properties.
struct FormPage {
    var error: String?
    /// The double-submit value the form posts back as `csrf_token` (empty when off).
    var csrfToken: String = ""
}

struct DashboardPage {
    var username: String
    var email: String
}

struct RoomsPage {
    struct Entry {
        var name: String
        var key: String
        var memberCount: Int
    }

    var rooms: [Entry]
    var paging: Paging
    var error: String?
    var csrfToken: String

    init(rooms: [Room], paging: Paging, error: String? = nil, csrfToken: String = "") {
        self.rooms = rooms.map { Entry(name: $0.name, key: $0.key, memberCount: $0.members.count) }
        self.paging = paging
        self.error = error
        self.csrfToken = csrfToken
    }
}

/// Links to the pages before and after this one (`?page=N`), when there are any.
struct Paging {
    var previous: String?
    var next: String?

    init(page: Int, hasMore: Bool, path: String) {
        previous = page > 1 ? "\(path)?page=\(page - 1)" : nil
        next = hasMore ? "\(path)?page=\(page + 1)" : nil
    }
}

/// `/rooms`: every room the user is a member of.
struct JoinedRoomsPage {
    struct Entry {
        var name: String
        var key: String
        var memberCount: Int
        var role: String
    }

    var rooms: [Entry]
    var paging: Paging
}

/// `/room/<key>/settings`: members with their roles; the owner's forms.
struct RoomSettingsPage {
    struct Member {
        var userID: String
        var username: String
        var role: String
        var muted: Bool
        /// The owner's moderation buttons are shown for this member.
        var moderatable: Bool
    }

    var roomName: String
    var roomKey: String
    var isOwner: Bool
    var members: [Member]
    var banned: [Member]
    var error: String?
    var csrfToken: String
}

struct ChatPage {
    var roomName: String
    var roomKey: String
    var userID: String
    var isOwner: String
    var csrfToken: String
    /// Seconds a token lives: the page refreshes its session well before that.
    var sessionLifetime: Int
}

/// The page an old GET link to a state change lands on: it says what will happen and
/// holds the POST form that does it.
struct ConfirmPage {
    var title: String
    var question: String
    var action: String
    var button: String
    var danger: Bool
    var cancel: String
    var csrfToken: String

    static func leave(key: String, csrfToken: String) -> ConfirmPage {
        ConfirmPage(
            title: "Leave room", question: "Leave this room? You can join again with its key.",
            action: "/leave_room/\(key)", button: "Leave room", danger: false, cancel: "/chat/\(key)",
            csrfToken: csrfToken
        )
    }

    static func delete(room: Room, csrfToken: String) -> ConfirmPage {
        ConfirmPage(
            title: "Delete room", question: "Delete the room \u{201C}\(room.name)\u{201D}? This cannot be undone.",
            action: "/delete_room/\(room.key)", button: "Delete room", danger: true, cancel: "/my_rooms",
            csrfToken: csrfToken
        )
    }
}
