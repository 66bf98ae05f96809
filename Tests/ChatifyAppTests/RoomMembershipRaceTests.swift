import ChatDomain
import ChatMemoryStore
import Foundation
import Logging
import SocketIO
import SocketIOTestSupport
import Synchronization
import Testing

@testable import ChatifyApp

/// Holds the first join that reaches it until the test lets it go.
final class JoinPause: Sendable {
    private let armed = Mutex(true)
    private let pausedSignal: AsyncStream<Void>.Continuation
    private let paused: AsyncStream<Void>
    private let releaseSignal: AsyncStream<Void>.Continuation
    private let released: AsyncStream<Void>

    init() {
        let pausing = AsyncStream.makeStream(of: Void.self)
        paused = pausing.stream
        pausedSignal = pausing.continuation
        let releasing = AsyncStream.makeStream(of: Void.self)
        released = releasing.stream
        releaseSignal = releasing.continuation
    }

    /// The hook: the first caller waits for `release`, later ones pass.
    func hold() async {
        guard
            armed.withLock({ armed in
                defer { armed = false }
                return armed
            })
        else { return }
        pausedSignal.yield()
        for await _ in released { break }
    }

    func waitUntilHeld() async {
        for await _ in paused { break }
    }

    func release() { releaseSignal.yield() }
}

/// The chat's events on a test Socket.IO server over the memory store, with tokens
/// signed for its users.
struct ChatEventsHarness {
    let store = MemoryStore()
    let service: ChatService
    let signer = AccessTokenSigner(secret: "race-secret")
    let auth: Authenticator

    init() {
        service = ChatService(store: store)
        auth = Authenticator(
            signer: signer, chat: service, cookieName: "access_token_cookie", cookiePath: "/",
            locations: ["cookies"], csrfProtect: false)
    }

    func user(_ name: String) async throws -> User {
        try await store.insertUser(
            NewUser(
                username: name, email: "\(name)@example.com", passwordHash: "pbkdf2:sha256:1$salt$hash",
                createdAt: Date()))
    }

    /// A server whose namespace `/` runs the chat's events with these test hooks.
    func server(
        afterMembershipCheck: @escaping @Sendable () async -> Void = {},
        afterSignInCheck: @escaping @Sendable () async -> Void = {}
    ) -> SocketIOServer {
        let events = ChatEvents(
            chat: service, auth: auth, clock: MessageClock(), logger: Logger(label: "test"),
            afterMembershipCheck: afterMembershipCheck, afterSignInCheck: afterSignInCheck)
        let io = makeServer()
        events.install(on: io.sockets)
        return io
    }
}

@Suite("Room membership races")
struct RoomMembershipRaceTests {
    /// Reads packets until one starts with `prefix` (an ack such as `31`).
    func read(_ client: RawClient, until prefix: String) async throws -> [String] {
        var seen: [String] = []
        while let packet = await client.next() {
            seen.append(packet)
            if packet.hasPrefix(prefix) { return seen }
        }
        Issue.record("the connection ended before \(prefix): \(seen)")
        return seen
    }

    @Test("a kick that lands while the user's join is in flight leaves the user out of the room")
    func kickDuringJoin() async throws {
        let chat = ChatEventsHarness()
        let owner = try await chat.user("owner")
        let member = try await chat.user("member")
        let room = try await chat.service.createRoom(named: "race", by: owner.id)
        _ = try await chat.service.joinRoom(key: room.key, userID: member.id)

        let pause = JoinPause()
        let io = chat.server(afterMembershipCheck: { await pause.hold() })
        func client(_ user: User) async throws -> (RawClient, String) {
            let cookie = "access_token_cookie=\(chat.signer.issue(subject: user.id).token)"
            let client = try await RawClient(io, headers: ["Cookie": cookie])
            return (client, try await client.connect())
        }
        let (ownerClient, _) = try await client(owner)
        let (memberClient, memberSocket) = try await client(member)

        memberClient.send(#"20["join",{"room":"\#(room.key)"}]"#)
        await pause.waitUntilHeld()
        ownerClient.send(#"21["kick_user",{"room":"\#(room.key)","target_user_id":"\#(member.id)"}]"#)
        _ = try await read(ownerClient, until: "31")
        pause.release()
        let answer = try await read(memberClient, until: "30")

        #expect(answer.contains { $0.contains(#""message":"You are not a member of this room.""#) }, "\(answer)")
        let inRoom = await io.sockets.to(room.key).fetchSockets().map(\.id)
        #expect(!inRoom.contains(memberSocket), "the kicked member's socket is still in the room")
        await memberClient.disconnect()
        await ownerClient.disconnect()
    }
}
