import ChatDomain
import Foundation
import OrderedJSON
import SocketIO
import Synchronization

/// The opt-in additions to the chat events: message history, presence,
/// typing and moderation. Old pages and stock clients that never ask see none of it:
/// presence, typing and moderation notices go only to the room's *watchers*, sockets
/// that joined with `"presence": true`, and history only to a socket that asks.
extension ChatEvents {
    /// The chat rooms a socket is in, without its own, user, token and watcher rooms.
    static func chatRooms(of rooms: Set<String>, socketID: String) -> Set<String> {
        rooms.filter { !isInternalRoom($0, socketID: socketID) }
    }

    /// What cluster queries report about a socket: who it belongs to, for presence.
    static func socketData(_ user: User) -> JSONValue {
        ["user_id": .string(user.id), "username": .string(user.username)]
    }

    func installActivity(on namespace: Namespace) {
        namespace.onEvent("history") { [self] event in await handle(event) { try await history(event, $0) } }
        namespace.onEvent("presence") { [self] event in await handle(event) { try await presenceQuery(event, $0) } }
        namespace.onEvent("typing") { [self] event in await handle(event) { try await typing(event, $0) } }
        namespace.onEvent("moderate") { [self] event in await handle(event) { try await moderate(event, $0) } }
    }

    func installActivity(on socket: Socket) {
        socket.onDisconnect { [self] socket, _, rooms in
            for key in Self.chatRooms(of: rooms, socketID: socket.id) {
                await stopTyping(socket, room: key)
                announcePresence(key, on: socket.namespace)
            }
        }
    }

    // MARK: History

    /// A stored message as history sends it: the live `message` payload, plus its id
    /// and when it was stored.
    static func payload(_ message: ChatMessage) -> JSONValue {
        [
            "username": .string(message.username), "message": .string(message.text),
            "timestamp": .string(message.timestamp), "user_id": .string(message.userID), "id": .string(message.id),
            "created_at": .string(message.createdAt.formatted(.iso8601)),
        ]
    }

    static func payload(_ page: MessagePage, room key: String) -> JSONValue {
        [
            "room": .string(key), "messages": .array(page.messages.map(payload)),
            "before": page.olderCursor.map(JSONValue.string) ?? .null,
        ]
    }

    /// `history` `{room, before?, limit?}`, acked with `{room, messages, before}`.
    private func history(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        let cursor = event.args.first?["before"]?.stringValue
        let limit = event.args.first?["limit"]?.integerValue.map { Int(clamping: $0) }
        let page = try await chat.history(ofRoom: key, for: user.id, before: cursor, limit: limit)
        event.ack?.send([Self.payload(page, room: key)])
    }

    /// After a `join` with `"since": <message id>`: what came after that message, as a
    /// `history` event. An id the store does not know gets the newest page instead, so
    /// a page still catches up (it shows each message once, by id).
    func sendMissedMessages(_ socket: Socket, room key: String, user: User, after messageID: String) async throws {
        do {
            let page = try await chat.messages(ofRoom: key, for: user.id, after: messageID)
            socket.emit("history", Self.payload(page, room: key))
        } catch ChatRefusal.invalidCursor {
            try await sendRecentHistory(socket, room: key, user: user)
        }
    }

    /// After a `join` with `"history": true`: the newest page, as a `history` event.
    func sendRecentHistory(_ socket: Socket, room key: String, user: User) async throws {
        let page = try await chat.history(ofRoom: key, for: user.id, before: nil, limit: nil)
        socket.emit("history", Self.payload(page, room: key))
    }

    // MARK: Presence

    /// `{room, count, users: [{user_id, username}]}`: distinct users with a socket in
    /// the room, on any node (the adapter's fetchSockets is cluster-wide).
    func presence(_ key: String, on namespace: Namespace) async -> JSONValue {
        var seen = Set<String>()
        var users: [(id: String, name: String)] = []
        for snapshot in await namespace.to(key).fetchSockets() {
            guard let id = snapshot.data["user_id"]?.stringValue, seen.insert(id).inserted else { continue }
            users.append((id, snapshot.data["username"]?.stringValue ?? ""))
        }
        users.sort { ($0.name, $0.id) < ($1.name, $1.id) }
        let list: [JSONValue] = users.map { ["user_id": .string($0.id), "username": .string($0.name)] }
        return ["room": .string(key), "count": .integer(Int64(users.count)), "users": .array(list)]
    }

    /// Sends the room's presence to its watchers, without holding up the event that
    /// changed it (across a cluster the query waits for every node's answer). Changes
    /// that come while a room's query runs share one more query after it: a reconnect
    /// storm costs a few queries per room, not one per socket, and watchers see the
    /// room's presence in order, ending with its latest state.
    func announcePresence(_ key: String, on namespace: Namespace) {
        presenceRuns.run(key) { [self] in
            let payload = await presence(key, on: namespace)
            namespace.to(ChatifyRoom.watchers(roomKey: key).name).emit("presence", payload)
        }
    }

    /// `presence` `{room}`, acked with the room's presence (members only).
    private func presenceQuery(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard try await chat.roomForMember(key: key, userID: user.id) != nil else { throw ChatRefusal.notMember }
        event.ack?.send([await presence(key, on: event.socket.namespace)])
    }

    // MARK: Typing

    /// `typing` `{room, typing: true|false}` from a socket in the room. Watchers (other
    /// than the sender's own tabs) get `typing` `{room, user_id, username, typing}` when
    /// the state changes: repeated starts only extend it, so a page may send one per
    /// keystroke. A start expires by itself after `limits.typingExpiry`.
    private func typing(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard event.socket.rooms.contains(key) else { throw Refusal(message: "Join the room first.") }
        guard event.args.first?["typing"]?.boolValue ?? true else {
            await stopTyping(event.socket, room: key)
            return
        }
        let typists = typingState(event.socket)
        let (generation, started) = typists.start(key)
        if started { broadcastTyping(event.socket, room: key, typing: true) }
        let expiry = limits.typingExpiry
        let socket = event.socket
        Task {
            try? await Task.sleep(for: expiry)
            if typists.expire(key, generation: generation) { broadcastTyping(socket, room: key, typing: false) }
        }
    }

    /// Ends the socket's typing in the room (a stop, a message, leaving, disconnecting).
    func stopTyping(_ socket: Socket, room key: String) async {
        if typingState(socket).stop(key) { broadcastTyping(socket, room: key, typing: false) }
    }

    private func broadcastTyping(_ socket: Socket, room key: String, typing: Bool) {
        guard let userID = socket.data["user_id"]?.stringValue else { return }
        let payload: JSONValue = [
            "room": .string(key), "user_id": .string(userID), "username": socket.data["username"] ?? .string(""),
            "typing": .bool(typing),
        ]
        socket.namespace.to(ChatifyRoom.watchers(roomKey: key).name).except(ChatifyRoom.user(id: userID).name).emit(
            "typing", payload)
    }

    private func typingState(_ socket: Socket) -> TypingState.Value {
        if let state = socket[TypingState.self] { return state }
        let state = TypingState.Value()
        socket[TypingState.self] = state
        return state
    }

    // MARK: Moderation

    /// `moderate` `{room, action: mute|unmute|ban|unban, target_user_id}` by the owner,
    /// acked with `{room, action, target_user_id, muted, banned}`. A ban also removes
    /// the user's sockets from the room, after the old `user_kicked` notice (so old
    /// pages of the banned user leave too).
    private func moderate(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard let actionName = event.args.first?["action"]?.stringValue,
            let action = ChatService.ModerationAction(rawValue: actionName)
        else { throw Refusal(message: "Unknown moderation action (mute, unmute, ban, unban).") }
        guard let target = event.args.first?["target_user_id"]?.stringValue else {
            throw Refusal(message: "No user given.")
        }
        let (room, targetUser) = try await chat.moderate(action, target: target, inRoom: key, by: user.id)
        await applyModeration(
            action, target: target, name: targetUser?.username, room: room, on: event.socket.namespace)
        logger.info(
            "room moderated",
            metadata: ["room": "\(key)", "action": "\(actionName)", "user": "\(target)", "by": "\(user.id)"])
        event.ack?.send([
            [
                "room": .string(key), "action": .string(actionName), "target_user_id": .string(target),
                "muted": .bool(room.isMuted(target)), "banned": .bool(room.isBanned(target)),
            ]
        ])
    }

    /// What the sockets see of a moderation, wherever it was made (event or page).
    func applyModeration(
        _ action: ChatService.ModerationAction, target: String, name: String?, room: Room, on namespace: Namespace
    ) async {
        let key = room.key
        namespace.to(ChatifyRoom.watchers(roomKey: key).name).emit(
            "moderation",
            [
                "room": .string(key), "action": .string(action.rawValue), "user_id": .string(target),
                "username": .string(name ?? ""),
            ]
        )
        guard action == .ban else { return }
        namespace.to(key).emit(
            "user_kicked",
            [
                "kicked_user_id": .string(target),
                "message": .string("\(name ?? "A user") has been banned from the room"),
            ]
        )
        await removeSockets(of: target, fromRoom: key, on: namespace)
        announcePresence(key, on: namespace)
    }

    /// Takes every socket of a kicked or banned user out of the room and its watchers
    /// room, on every node: through the user's room, and through the own room of each
    /// socket in the chat room that belongs to the user, so the removal does not rest
    /// on one room alone.
    func removeSockets(of userID: String, fromRoom key: String, on namespace: Namespace) async {
        var targets: Set<String> = [ChatifyRoom.user(id: userID).name]
        for snapshot in await namespace.to(key).fetchSockets() where snapshot.data["user_id"]?.stringValue == userID {
            targets.insert(snapshot.id)
        }
        await namespace.to(targets).socketsLeave([key, ChatifyRoom.watchers(roomKey: key).name])
    }
}

/// Which rooms a socket is typing in, with a generation per start so that only the
/// latest start's timer ends it.
struct TypingState: SocketStorageKey {
    final class Value: Sendable {
        private let rooms = Mutex<[String: UInt64]>([:])
        private let counter = Mutex<UInt64>(0)

        /// Records a start; `started` is true when the socket was not typing there yet.
        func start(_ room: String) -> (generation: UInt64, started: Bool) {
            let generation = counter.withLock {
                $0 += 1
                return $0
            }
            let started = rooms.withLock { rooms in
                defer { rooms[room] = generation }
                return rooms[room] == nil
            }
            return (generation, started)
        }

        /// Ends the typing if no later start came; true when it ended.
        func expire(_ room: String, generation: UInt64) -> Bool {
            rooms.withLock { rooms in
                guard rooms[room] == generation else { return false }
                rooms[room] = nil
                return true
            }
        }

        /// Ends the typing; true when the socket was typing there.
        func stop(_ room: String) -> Bool {
            rooms.withLock { $0.removeValue(forKey: room) != nil }
        }
    }
}

/// What the page routes tell connected sockets when the owner changes a room.
struct RoomBroadcasts: Sendable {
    let events: ChatEvents
    let namespace: Namespace

    func moderated(_ action: ChatService.ModerationAction, target: User?, targetID: String, room: Room) async {
        await events.applyModeration(action, target: targetID, name: target?.username, room: room, on: namespace)
    }

    /// `room_updated` `{room: <key the sockets know>, key: <current key>, name}` to the
    /// whole room; after a new key, its sockets move to the new Socket.IO room.
    func updated(_ room: Room, previousKey: String) async {
        namespace.to(previousKey).emit(
            "room_updated", ["room": .string(previousKey), "key": .string(room.key), "name": .string(room.name)])
        guard previousKey != room.key else { return }
        let old = [previousKey, ChatifyRoom.watchers(roomKey: previousKey).name]
        await namespace.to(previousKey).socketsJoin([room.key])
        await namespace.to(ChatifyRoom.watchers(roomKey: previousKey).name).socketsJoin([
            ChatifyRoom.watchers(roomKey: room.key).name
        ])
        await namespace.to(Set(old)).socketsLeave(Set(old))
    }
}
