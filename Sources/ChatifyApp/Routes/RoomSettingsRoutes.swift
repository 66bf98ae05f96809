import ChatDomain
import Foundation
import HTTPTypes
import Hummingbird

/// The room pages: `/rooms` (every room one is a member of, in pages) and a
/// room's settings (members with roles; the owner renames, gives a new key, mutes,
/// bans). Plain forms, so they work without JavaScript; connected sockets are told.
/// Pages need a sign-in; every change is a CSRF-checked POST the owner makes.
struct RoomSettingsRoutes {
    let site: SiteRoutes

    func addRoutes(to routes: some RouterMethods<SiteRoutes.Context>) {
        routes.get("/rooms") { request, context in
            try await site.signedIn(request, context) { session, _ in
                let page = SiteRoutes.pageNumber(request)
                let (rooms, hasMore) = try await site.chat.roomsJoined(
                    by: session.user.id, page: page, perPage: SiteRoutes.roomsPerPage)
                let entries = rooms.map {
                    JoinedRoomsPage.Entry(
                        name: $0.name, key: $0.key, memberCount: $0.members.count,
                        role: $0.isOwner(session.user.id) ? "owner" : ($0.isMuted(session.user.id) ? "muted" : "member")
                    )
                }
                return site.pages.page(
                    "rooms",
                    JoinedRoomsPage(rooms: entries, paging: Paging(page: page, hasMore: hasMore, path: "/rooms")))
            }
        }

        routes.get("/room/:key/settings") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.signedIn(request, context) { session, _ in
                guard let room = try await site.chat.roomForMember(key: key, userID: session.user.id) else {
                    return Pages.redirect(to: "/rooms")
                }
                return try await settingsPage(room, session)
            }
        }

        routes.post("/room/:key/rename") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.changing(request, context) { session, form in
                let name = try form.required("room_name")
                return try await ownerChange(key, session) {
                    let room = try await site.chat.renameRoom(key: key, to: name, by: session.user.id)
                    await site.roomBroadcasts.updated(room, previousKey: key)
                    return room
                }
            }
        }

        routes.post("/room/:key/rotate_key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.changing(request, context) { session, _ in
                try await ownerChange(key, session) {
                    let room = try await site.chat.rotateKey(ofRoom: key, by: session.user.id)
                    await site.roomBroadcasts.updated(room, previousKey: key)
                    site.logger.info("room key rotated", metadata: ["room": "\(room.id)", "by": "\(session.user.id)"])
                    return room
                }
            }
        }

        routes.post("/room/:key/moderate") { request, context in
            let key = context.parameters.get("key") ?? ""
            return try await site.changing(request, context) { session, form in
                let target = try form.required("user_id")
                guard let action = ChatService.ModerationAction(rawValue: try form.required("action")) else {
                    return Pages.plain(.badRequest, "Bad Request", "Unknown action: use mute, unmute, ban or unban.")
                }
                return try await ownerChange(key, session) {
                    let (room, user) = try await site.chat.moderate(
                        action, target: target, inRoom: key, by: session.user.id)
                    await site.roomBroadcasts.moderated(action, target: user, targetID: target, room: room)
                    return room
                }
            }
        }
    }

    /// Runs an owner's change and goes back to the (possibly re-keyed) settings page;
    /// a refusal is shown on the page with its status (403 for who may, 400 for what was asked).
    private func ownerChange(
        _ key: String, _ session: Authenticator.Session, _ change: () async throws -> Room
    ) async throws -> Response {
        do {
            let room = try await change()
            return Pages.redirect(to: "/room/\(room.key)/settings")
        } catch let refusal as ChatRefusal {
            guard let room = try await site.chat.roomForMember(key: key, userID: session.user.id) else {
                return Pages.plain(.forbidden, "Forbidden", refusal.description)
            }
            return try await settingsPage(room, session, error: refusal.description, status: refusal.httpStatus)
        }
    }

    private func settingsPage(
        _ room: Room, _ session: Authenticator.Session, error: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let isOwner = room.isOwner(session.user.id)
        func entry(_ id: String) async throws -> RoomSettingsPage.Member {
            let name = try await site.chat.user(id: id)?.username ?? "(deleted user)"
            let role = room.isOwner(id) ? "owner" : (room.isMuted(id) ? "muted" : "member")
            return RoomSettingsPage.Member(
                userID: id, username: name, role: role, muted: room.isMuted(id),
                moderatable: isOwner && id != session.user.id)
        }
        var members: [RoomSettingsPage.Member] = []
        for id in room.members { members.append(try await entry(id)) }
        var banned: [RoomSettingsPage.Member] = []
        if isOwner { for id in room.banned { banned.append(try await entry(id)) } }
        let model = RoomSettingsPage(
            roomName: room.name, roomKey: room.key, isOwner: isOwner, members: members, banned: banned, error: error,
            csrfToken: site.csrfToken(session))
        return site.pages.page("room_settings", model, status: status)
    }
}
