import ChatDomain
import HTTPTypes
import Hummingbird

/// Rooms of the signed-in user: `/my_rooms`, `/create_room`, `/join_room`,
/// `/chat/<key>`, `/leave_room/<key>`, `/delete_room/<key>`. Pages need a sign-in;
/// every change is a CSRF-checked POST.
struct RoomRoutes {
    let site: SiteRoutes

    func addRoutes(to routes: some RouterMethods<SiteRoutes.Context>) {
        routes.get("/my_rooms") { request, context in
            try await site.signedIn(request, context) { session, _ in
                let page = SiteRoutes.pageNumber(request)
                let (rooms, hasMore) = try await site.chat.roomsCreated(
                    by: session.user.id, page: page, perPage: SiteRoutes.roomsPerPage)
                return roomsPage(session, rooms: rooms, paging: Paging(page: page, hasMore: hasMore, path: "/my_rooms"))
            }
        }

        routes.post("/create_room") { request, context in
            try await site.changing(request, context) { session, form in
                let name = try form.required("room_name")
                do {
                    _ = try await site.chat.createRoom(named: name, by: session.user.id)
                } catch let refusal as ChatRefusal {
                    let (rooms, hasMore) = try await site.chat.roomsCreated(
                        by: session.user.id, page: 1, perPage: SiteRoutes.roomsPerPage)
                    return roomsPage(
                        session, rooms: rooms, paging: Paging(page: 1, hasMore: hasMore, path: "/my_rooms"),
                        error: refusal.description, status: refusal.httpStatus)
                }
                return Pages.redirect(to: "/my_rooms")
            }
        }

        routes.get("/join_room") { request, context in
            try await site.signedIn(request, context) { session, _ in
                site.pages.page("join_room", FormPage(csrfToken: site.csrfToken(session)))
            }
        }
        routes.post("/join_room") { request, context in
            try await site.changing(request, context) { session, form in
                let key = try form.required("room_key").trimmingCharacters(in: .whitespaces)
                let joined: Room?
                do {
                    joined = try await site.chat.joinRoom(key: key, userID: session.user.id)
                } catch let refusal as ChatRefusal {
                    return site.pages.page(
                        "join_room", FormPage(error: refusal.description, csrfToken: site.csrfToken(session)),
                        status: refusal.httpStatus)
                }
                guard let room = joined else {
                    return site.pages.page(
                        "join_room", FormPage(error: "Invalid room key", csrfToken: site.csrfToken(session)))
                }
                return Pages.redirect(to: "/chat/\(room.key)")
            }
        }

        routes.get("/chat/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.signedIn(request, context) { session, _ in
                guard let room = try await site.chat.roomForMember(key: key, userID: session.user.id) else {
                    return Pages.redirect(to: "/join_room")
                }
                return site.pages.page(
                    "chat",
                    ChatPage(
                        roomName: room.name, roomKey: room.key, userID: session.user.id,
                        isOwner: room.isOwner(session.user.id) ? "true" : "false",
                        csrfToken: site.csrfToken(session), sessionLifetime: Int(site.auth.signer.lifetime)
                    )
                )
            }
        }

        // Leaving and deleting change state: POST does it; the old GET links show a
        // confirmation page with the POST form, so bookmarks and old pages keep working.
        routes.get("/leave_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.signedIn(request, context) { session, _ in
                site.pages.page("confirm", ConfirmPage.leave(key: key, csrfToken: site.csrfToken(session)))
            }
        }
        routes.post("/leave_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.changing(request, context) { session, _ in
                try await site.chat.leaveRoom(key: key, userID: session.user.id)
                return Pages.redirect(to: "/dashboard")
            }
        }

        routes.get("/delete_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.signedIn(request, context) { session, _ in
                guard let room = try await site.chat.roomOwned(key: key, by: session.user.id) else {
                    return Pages.redirect(to: "/my_rooms")
                }
                return site.pages.page("confirm", ConfirmPage.delete(room: room, csrfToken: site.csrfToken(session)))
            }
        }
        routes.post("/delete_room/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.changing(request, context) { session, _ in
                try await site.chat.deleteRoom(key: key, userID: session.user.id)
                return Pages.redirect(to: "/my_rooms")
            }
        }
    }

    private func roomsPage(
        _ session: Authenticator.Session, rooms: [Room], paging: Paging, error: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        site.pages.page(
            "my_rooms", RoomsPage(rooms: rooms, paging: paging, error: error, csrfToken: site.csrfToken(session)),
            status: status)
    }
}
