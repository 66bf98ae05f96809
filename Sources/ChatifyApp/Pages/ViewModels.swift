import ChatDomain

/// What each template shows. Plain structs: Mustache reads their properties.
struct FormPage {
    var error: String?
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

    init(rooms: [Room], error: String? = nil) {
        self.rooms = rooms.map { Entry(name: $0.name, key: $0.key, memberCount: $0.members.count) }
        self.error = error
    }
}

struct ChatPage {
    var roomName: String
    var roomKey: String
    var userID: String
    var isOwner: String
}
