import ChatDomain
import Foundation
import Hummingbird
import Logging
import OrderedJSON

/// The twelve routes of the old backend, with the same methods, form fields,
/// redirects, status codes, JSON bodies and error texts.
struct PageRoutes: Sendable {
    let chat: ChatService
    let auth: Authenticator
    let pages: PageRenderer
    let logger: Logger

    typealias Context = ChatifyRequestContext

    /// Every path with its methods, for 405 answers (Hummingbird's router has none).
    static let table: [(pattern: String, methods: [HTTPRequest.Method])] = [
        ("/", [.get]), ("/register", [.get, .post]), ("/login", [.get, .post]), ("/dashboard", [.get]),
        ("/update_profile", [.post]), ("/my_rooms", [.get]), ("/create_room", [.post]), ("/join_room", [.get, .post]),
        ("/chat/:key", [.get]), ("/leave_room/:key", [.get]), ("/delete_room/:key", [.get]), ("/logout", [.get]),
    ]

    func add(to router: Router<Context>) {
        router.get("/") { request, _ in
            try await self.session(request) == nil ? Pages.redirect(to: "/login") : Pages.redirect(to: "/dashboard")
        }

        router.get("/register") { _, _ in self.pages.page("register", FormPage()) }
        router.post("/register") { request, _ in
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let email = try form.required("email")
            let password = try form.required("password")
            switch try await self.chat.register(username: username, email: email, password: password) {
            case .registered(let user):
                self.logger.info("user registered", metadata: ["user": "\(user.id)"])
                return Pages.redirect(to: "/dashboard", setCookie: self.auth.loginCookie(for: user))
            case .taken:
                return self.pages.page("register", FormPage(error: "Username or email already exists"))
            case .invalid(let message):
                return self.pages.page("register", FormPage(error: message))
            }
        }

        router.get("/login") { _, _ in self.pages.page("login", FormPage()) }
        router.post("/login") { request, _ in
            let form = try await FormBody.read(request)
            let username = try form.required("username")
            let password = try form.required("password")
            guard let user = try await self.chat.logIn(username: username, password: password) else {
                return self.pages.page("login", FormPage(error: "Invalid username or password"))
            }
            return Pages.redirect(to: "/dashboard", setCookie: self.auth.loginCookie(for: user))
        }

        router.get("/dashboard") { request, _ in
            try await self.signedIn(request) { user in
                self.pages.page("dashboard", DashboardPage(username: user.username, email: user.email))
            }
        }

        router.post("/update_profile") { request, _ in
            try await self.signedIn(request) { user in
                let form = try await FormBody.read(request)
                let field = try form.required("field")
                let value = try form.required("value")
                let result = try await self.chat.updateProfile(userID: user.id, field: field, value: value)
                // Flask's jsonify sorts the keys.
                let body: JSONValue = ["message": .string(result.message), "success": .bool(result.success)]
                return Pages.json(body.jsonString)
            }
        }

        router.get("/my_rooms") { request, _ in
            try await self.signedIn(request) { user in
                self.pages.page("my_rooms", RoomsPage(rooms: try await self.chat.roomsCreated(by: user.id)))
            }
        }

        router.post("/create_room") { request, _ in
            try await self.signedIn(request) { user in
                let form = try await FormBody.read(request)
                let name = try form.required("room_name")
                do {
                    _ = try await self.chat.createRoom(named: name, by: user.id)
                } catch ChatService.RoomNameError.empty {
                    return self.pages.page(
                        "my_rooms",
                        RoomsPage(rooms: try await self.chat.roomsCreated(by: user.id), error: "Room name cannot be empty"),
                        status: .badRequest
                    )
                }
                return Pages.redirect(to: "/my_rooms")
            }
        }

        router.get("/join_room") { request, _ in
            try await self.signedIn(request) { _ in self.pages.page("join_room", FormPage()) }
        }
        router.post("/join_room") { request, _ in
            try await self.signedIn(request) { user in
                let form = try await FormBody.read(request)
                let key = try form.required("room_key").trimmingCharacters(in: .whitespaces)
                guard let room = try await self.chat.joinRoom(key: key, userID: user.id) else {
                    return self.pages.page("join_room", FormPage(error: "Invalid room key"))
                }
                return Pages.redirect(to: "/chat/\(room.key)")
            }
        }

        router.get("/chat/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request) { user in
                guard let room = try await self.chat.roomForMember(key: key, userID: user.id) else {
                    return Pages.redirect(to: "/join_room")
                }
                return self.pages.page(
                    "chat",
                    ChatPage(roomName: room.name, roomKey: room.key, userID: user.id, isOwner: room.isOwner(user.id) ? "true" : "false")
                )
            }
        }

        router.get("/leave_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request) { user in
                try await self.chat.leaveRoom(key: key, userID: user.id)
                return Pages.redirect(to: "/dashboard")
            }
        }

        router.get("/delete_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await self.signedIn(request) { user in
                try await self.chat.deleteRoom(key: key, userID: user.id)
                return Pages.redirect(to: "/my_rooms")
            }
        }

        router.get("/logout") { _, _ in
            Pages.redirect(to: "/login", setCookie: self.auth.logoutCookie)
        }
    }

    private func session(_ request: Request) async throws -> Authenticator.Session? {
        try await auth.session(headers: request.headers, cookies: parseCookies(request.headers))
    }

    /// Runs `body` for the signed-in user; anyone else goes to /login, as before. A
    /// valid token whose user no longer exists counts as signed out.
    private func signedIn(_ request: Request, _ body: (User) async throws -> Response) async throws -> Response {
        guard let session = try await session(request) else { return Pages.redirect(to: "/login") }
        return try await body(session.user)
    }
}
