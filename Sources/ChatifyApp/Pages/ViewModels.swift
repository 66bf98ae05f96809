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
    var error: String?
    var csrfToken: String

    init(rooms: [Room], error: String? = nil, csrfToken: String = "") {
        self.rooms = rooms.map { Entry(name: $0.name, key: $0.key, memberCount: $0.members.count) }
        self.error = error
        self.csrfToken = csrfToken
    }
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
            action: "/leave_room/\(key)", button: "Leave room", danger: false, cancel: "/chat/\(key)", csrfToken: csrfToken
        )
    }

    static func delete(room: Room, csrfToken: String) -> ConfirmPage {
        ConfirmPage(
            title: "Delete room", question: "Delete the room \u{201C}\(room.name)\u{201D}? This cannot be undone.",
            action: "/delete_room/\(room.key)", button: "Delete room", danger: true, cancel: "/my_rooms", csrfToken: csrfToken
        )
    }
}
