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
        let store = MemoryStore()
        let chat = ChatService(store: store)
        let hash = "pbkdf2:sha256:1$salt$hash"
        let owner = try await store.insertUser(
            NewUser(username: "owner", email: "o@x", passwordHash: hash, createdAt: Date()))
        let member = try await store.insertUser(
            NewUser(username: "member", email: "m@x", passwordHash: hash, createdAt: Date()))
        let room = try await chat.createRoom(named: "race", by: owner.id)
        _ = try await chat.joinRoom(key: room.key, userID: member.id)

        let signer = AccessTokenSigner(secret: "race-secret")
        let auth = Authenticator(
            signer: signer, chat: chat, cookieName: "access_token_cookie", cookiePath: "/", locations: ["cookies"],
            csrfProtect: false)
        let pause = JoinPause()
        let events = ChatEvents(
            chat: chat, auth: auth, clock: MessageClock(), logger: Logger(label: "test"),
            afterMembershipCheck: { await pause.hold() })
        let io = makeServer()
        events.install(on: io.sockets)
        func client(_ user: User) async throws -> (RawClient, String) {
            let cookie = "access_token_cookie=\(signer.issue(subject: user.id).token)"
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
