import ChatDomain
import Foundation
import Logging
import OrderedJSON
import SocketIO

/// Who a socket belongs to, set by the connect middleware.
struct SignedInUser: SocketStorageKey {
    struct Value: Sendable {
        let userID: String
        /// When the handshake's token expires; events after that are refused.
        let expires: Int64
        /// The room of the token's sign-in (`token:<session id>`), if it has an id.
        var tokenRoom: String? = nil
        /// The handshake token's sign-in, looked up again once the socket is connected.
        var signInID: String? = nil
    }
}

/// The chat's Socket.IO events on namespace `/`: `join`, `leave`, `message`,
/// `kick_user`, with the old payloads, key order and `HH:MM` timestamps.
///
/// Holes of the old backend closed here: a connection without a valid token is refused
/// with CONNECT_ERROR; only members of an existing room can join it or post to it; a
/// kicked user's sockets leave the room at once; an empty or over-long message is
/// refused with a `chat_error` event the page shows.
final class ChatEvents: Sendable {
    let chat: ChatService
    let auth: Authenticator
    let clock: MessageClock
    let limits: EventLimits
    let userBuckets: UserEventBuckets
    let presenceRuns = CoalescedRuns()
    let metrics: ChatifyMetrics?
    /// The pages that may connect with the sign-in cookie.
    let cookieOrigins: CookieOrigins
    let logger: Logger
    /// Runs between a join's membership check and its entry into the room; tests pause
    /// it there to land a kick in between.
    let afterMembershipCheck: @Sendable () async -> Void
    /// Runs between the connect middleware's sign-in check and the socket's entry into
    /// its rooms; tests pause it there to land a logout in between.
    let afterSignInCheck: @Sendable () async -> Void

    init(
        chat: ChatService, auth: Authenticator, clock: MessageClock, limits: EventLimits = EventLimits(),
        metrics: ChatifyMetrics? = nil, cookieOrigins: CookieOrigins = CookieOrigins(), logger: Logger,
        afterMembershipCheck: @escaping @Sendable () async -> Void = {},
        afterSignInCheck: @escaping @Sendable () async -> Void = {}
    ) {
        self.afterMembershipCheck = afterMembershipCheck
        self.afterSignInCheck = afterSignInCheck
        self.metrics = metrics
        self.cookieOrigins = cookieOrigins
        self.chat = chat
        self.auth = auth
        self.clock = clock
        self.limits = limits
        self.userBuckets = UserEventBuckets(perSecond: limits.eventsPerUserPerSecond)
        self.logger = logger
    }

    static let tooFast = "You are sending too fast. Wait a moment and try again."

    /// Whether a room is the server's own: a socket's id room or a `ChatifyRoom` other
    /// than a chat room. Kicks, bans, logouts and limits reach sockets through these, so
    /// no client event may join or leave them.
    static func isInternalRoom(_ room: String, socketID: String) -> Bool {
        room == socketID || ChatifyRoom(name: room).isServerRoom
    }

    func install(on namespace: Namespace) {
        namespace.use { [self] socket in
            // Read several times below: parsed once.
            let request = socket.handshake.request.expanded()
            let cookies = request.cookies
            if auth.tokenAndSource(headers: request.headers, cookies: cookies)?.source == .cookie,
                !cookieOrigins.allowsCookie(request)
            {
                throw ConnectRefusal(
                    "Cross-origin connection refused",
                    data: ["reason": "A page of another site may not connect with this site's sign-in cookie."]
                )
            }
            let session: Authenticator.Session?
            do {
                session = try await auth.session(headers: request.headers, cookies: cookies)
            } catch {
                throw ConnectRefusal("Service unavailable", data: ["reason": "The database is unavailable"])
            }
            guard let session else { throw ConnectRefusal("Authentication required") }
            await afterSignInCheck()
            if limits.connectionsPerUser > 0 {
                let open = await socket.namespace.local.to(ChatifyRoom.user(id: session.user.id).name).fetchSockets()
                    .count
                if open >= limits.connectionsPerUser {
                    throw ConnectRefusal(
                        "Too many connections",
                        data: ["reason": .string("At most \(limits.connectionsPerUser) open chat tabs per user.")]
                    )
                }
            }
            socket[SocketEventBucket.self] = SocketEventBucket.Bucket(perSecond: limits.eventsPerSocketPerSecond)
            let sessionID = session.claims.sessionID
            socket[SignedInUser.self] = SignedInUser.Value(
                userID: session.user.id, expires: session.claims.expires,
                tokenRoom: sessionID.isEmpty ? nil : ChatifyRoom.signIn(id: sessionID).name,
                signInID: sessionID.isEmpty ? nil : sessionID
            )
            socket.data = Self.socketData(session.user)
            socket.join(ChatifyRoom.user(id: session.user.id).name)
            if !sessionID.isEmpty { socket.join(ChatifyRoom.signIn(id: sessionID).name) }
        }
        namespace.onConnection { [self] socket in
            guard await signInStillValid(socket) else {
                socket.disconnect(close: true)
                return
            }
            if socket.recovered { await revalidateRecoveredRooms(socket) }
            installActivity(on: socket)
        }
        // The namespace's own handlers, shared by every socket: none of a socket's events
        // is handled before its connection handler above has run.
        namespace.onEvent("join") { [self] event in await handle(event) { try await join(event, $0) } }
        namespace.onEvent("leave") { [self] event in await handle(event) { try await leave(event, $0) } }
        namespace.onEvent("message") { [self] event in await handle(event) { try await post(event, $0) } }
        namespace.onEvent("kick_user") { [self] event in await handle(event) { try await kick(event, $0) } }
        namespace.onEvent("renew_session") { [self] event in renew(event) }
        installActivity(on: namespace)
    }

    /// The middleware checked the sign-in before the socket was in its sign-in room and
    /// registered, so a logout in between found no socket to close. Looked up again here,
    /// where any later logout finds the socket. Only a logout counts: a refresh revokes
    /// the old token, but its sockets are meant to live on. A store that cannot answer
    /// leaves the socket be: it answered a moment ago, and the client would get no word.
    private func signInStillValid(_ socket: Socket) async -> Bool {
        guard let signInID = socket[SignedInUser.self]?.signInID else { return true }
        do {
            return try await !auth.isSignInEnded(sessionID: signInID)
        } catch {
            logger.warning(
                "could not check the sign-in again after connect; keeping the socket",
                metadata: ["error": "\(error)"])
            return true
        }
    }

    /// A recovered socket got back the rooms it had when its connection dropped: keep
    /// only the chat rooms its user is still a member of, and only the current user and
    /// token rooms (the middleware joined those).
    private func revalidateRecoveredRooms(_ socket: Socket) async {
        guard let identity = socket[SignedInUser.self] else { return }
        let current = socket.rooms
        for room in current where room != socket.id {
            let chatKey: String
            switch ChatifyRoom(name: room) {
            case .user, .signIn:
                if room != ChatifyRoom.user(id: identity.userID).name, room != identity.tokenRoom { socket.leave(room) }
                continue
            case .watchers(let key): chatKey = key
            case .chat(let key): chatKey = key
            }
            if (try? await chat.roomForMember(key: chatKey, userID: identity.userID)) == nil {
                // Not a member any more, or the store cannot say: the page's join asks again.
                socket.leave(room)
            }
        }
    }

    /// A refusal the client is told about.
    struct Refusal: Error {
        let message: String
    }

    /// Checks the token is still valid, runs the event, reports refusals and outages to
    /// the client, and acks when asked (the old backend always acked `[]`).
    func handle(_ event: SocketEvent, _ body: (User) async throws -> Void) async {
        defer {
            if let ack = event.ack, !ack.wasSent { ack.send([]) }
        }
        do {
            guard let identity = event.socket[SignedInUser.self],
                Int64(Date().timeIntervalSince1970) < identity.expires
            else {
                throw Refusal(message: "Your session has expired. Please log in again.")
            }
            // Both buckets are charged: one socket cannot flood, nor many tabs together.
            let socketAllowed = event.socket[SocketEventBucket.self]?.take() ?? true
            guard socketAllowed, userBuckets.take(identity.userID) else {
                metrics?.countError("rate_limited")
                throw Refusal(message: Self.tooFast)
            }
            guard let user = try await chat.user(id: identity.userID) else {
                throw Refusal(message: "Your account no longer exists.")
            }
            try await body(user)
        } catch let refusal as Refusal {
            metrics?.countError("event_refused")
            refuse(event, refusal.message)
        } catch let refusal as ChatRefusal {
            metrics?.countError("event_refused")
            refuse(event, refusal)
        } catch let error as StoreError {
            logger.error(
                "store failure in a socket event",
                metadata: ["event": "\(event.name)", "sid": "\(event.socket.id)", "error": "\(error)"]
            )
            refuse(event, "The database is unavailable right now. Please try again in a moment.")
        } catch {
            metrics?.countError("internal")
            logger.error(
                "socket event failed",
                metadata: ["event": "\(event.name)", "sid": "\(event.socket.id)", "error": "\(error)"]
            )
            refuse(event, "Something went wrong.")
        }
    }

    func roomKey(_ event: SocketEvent) throws -> String {
        guard let key = event.args.first?["room"]?.stringValue, !key.isEmpty else {
            throw Refusal(message: "No room given.")
        }
        guard !Self.isInternalRoom(key, socketID: event.socket.id) else {
            throw Refusal(message: "That is not a chat room: it cannot be joined, left or posted to.")
        }
        return key
    }

    private func systemMessage(_ text: String) -> JSONValue {
        ["username": .string(Notice.systemName), "message": .string(text), "timestamp": .string(clock.timestamp())]
    }

    private func join(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard try await chat.roomForMember(key: key, userID: user.id) != nil else { throw ChatRefusal.notMember }
        await afterMembershipCheck()
        let chatRooms = Self.chatRooms(of: event.socket.rooms, socketID: event.socket.id)
        if !chatRooms.contains(key), chatRooms.count >= limits.roomsPerSocket {
            throw Refusal(
                message: "You are in too many rooms at once (at most \(limits.roomsPerSocket)). Leave one first.")
        }
        let options = event.args.first
        let watchesPresence = options?["presence"]?.boolValue == true
        // The page joins on every connect; a recovered socket is still in the room, and
        // its user has not left, so nobody is told twice (and what it missed was replayed,
        // so no history either).
        if event.socket.recovered, chatRooms.contains(key) {
            if watchesPresence { event.socket.join(ChatifyRoom.watchers(roomKey: key).name) }
            return
        }
        if watchesPresence { event.socket.join(ChatifyRoom.watchers(roomKey: key).name) }
        event.socket.join(key)
        try await confirmMembership(event.socket, room: key, user: user)
        // Opt-in extras, after joining so that nothing posted meanwhile falls between the
        // two (a page dedupes by message id): what was missed since a message the page
        // shows, or the newest history; then presence and typing.
        if let since = options?["since"]?.stringValue {
            try await sendMissedMessages(event.socket, room: key, user: user, after: since)
        } else if options?["history"]?.boolValue == true {
            try await sendRecentHistory(event.socket, room: key, user: user)
        }
        event.socket.namespace.to(key).emit("message", systemMessage(Notice.joined(user.username)))
        announcePresence(key, on: event.socket.namespace)
    }

    /// Asks the store again once the socket is in the room: a kick or ban that landed
    /// while the join was in flight took the user's sockets out before this one was in,
    /// so it must not stay. Whichever comes first, the socket ends up out: the kick's
    /// removal follows its store change, and this check follows the socket's join.
    private func confirmMembership(_ socket: Socket, room key: String, user: User) async throws {
        let stillMember: Bool
        do {
            stillMember = try await chat.roomForMember(key: key, userID: user.id) != nil
        } catch {
            socket.leave(key)
            socket.leave(ChatifyRoom.watchers(roomKey: key).name)
            throw error
        }
        guard stillMember else {
            socket.leave(key)
            socket.leave(ChatifyRoom.watchers(roomKey: key).name)
            throw ChatRefusal.notMember
        }
    }

    private func leave(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        let wasIn = event.socket.rooms.contains(key)
        event.socket.leave(key)
        event.socket.leave(ChatifyRoom.watchers(roomKey: key).name)
        // Only a socket that was in the room announces leaving it.
        guard wasIn else { return }
        await stopTyping(event.socket, room: key)
        event.socket.namespace.to(key).emit("message", systemMessage(Notice.left(user.username)))
        announcePresence(key, on: event.socket.namespace)
    }

    private func post(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard let text = event.args.first?["message"]?.stringValue else { throw Refusal(message: "No message given.") }
        let message = try ChatService.validateMessage(text)
        // Stored before the broadcast: a store failure is the sender's chat_error and
        // nothing goes out that history would not show.
        let stored = try await chat.postMessage(message, toRoom: key, by: user, timestamp: clock.timestamp())
        await stopTyping(event.socket, room: key)
        let payload: JSONValue = [
            "username": .string(user.username), "message": .string(message), "timestamp": .string(stored.timestamp),
            "user_id": .string(user.id),
        ]
        // Watchers (pages that opted in) also get the message's id, to ask for what they
        // missed after it on a reconnect and to show each message once; every other
        // client gets the Flask backend's payload.
        let namespace = event.socket.namespace
        namespace.to(key).except(ChatifyRoom.watchers(roomKey: key).name).emit("message", payload)
        namespace.to(ChatifyRoom.watchers(roomKey: key).name).emit("message", Self.payload(stored))
        metrics?.countBroadcast()
    }

    /// The page refreshed its cookie (POST /refresh_session) and passes on the ticket it
    /// got: this socket's session now lasts as long as the new token. Acked with
    /// `{expires}` or `{error}`.
    private func renew(_ event: SocketEvent) {
        var answer: JSONValue
        if let identity = event.socket[SignedInUser.self],
            let ticket = event.args.first?["ticket"]?.stringValue,
            let renewal = try? auth.signer.verifyRenewalTicket(ticket),
            renewal.subject == identity.userID
        {
            let expires = max(identity.expires, renewal.until)
            event.socket[SignedInUser.self] = SignedInUser.Value(
                userID: identity.userID, expires: expires, tokenRoom: identity.tokenRoom,
                signInID: identity.signInID
            )
            answer = ["expires": .integer(expires)]
        } else {
            answer = ["error": .string("The renewal ticket is not valid.")]
        }
        event.ack?.send([answer])
    }

    private func kick(_ event: SocketEvent, _ user: User) async throws {
        let key = try roomKey(event)
        guard let target = event.args.first?["target_user_id"]?.stringValue else {
            throw Refusal(message: "No user given.")
        }
        switch try await chat.kick(target, fromRoom: key, by: user.id) {
        case .notOwner:
            // As before, a kick by anyone but the owner is ignored without a word.
            return
        case .kicked(let kicked):
            let namespace = event.socket.namespace
            let name = kicked?.username ?? "A user"
            // The notice goes out first, so the kicked user's page learns why, then every
            // socket of that user leaves the room.
            namespace.to(key).emit(
                "user_kicked", ["kicked_user_id": .string(target), "message": .string(Notice.kicked(name))])
            await removeSockets(of: target, fromRoom: key, on: namespace)
            announcePresence(key, on: namespace)
            logger.info("user kicked", metadata: ["room": "\(key)", "user": "\(target)", "by": "\(user.id)"])
        }
    }
}
