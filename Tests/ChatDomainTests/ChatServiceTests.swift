import ChatDomain
import ChatMemoryStore
import Foundation
import Synchronization
import Testing

/// Cheap hashes keep the tests fast; the formats are the same.
func makeService(store: any ChatStore = MemoryStore(), keys: [String] = []) -> ChatService {
    let remaining = KeySequence(keys)
    return ChatService(
        store: store,
        passwords: WerkzeugPasswordHasher(method: "pbkdf2:sha256:1000"),
        now: { Date(timeIntervalSince1970: 1_700_000_000) },
        makeRoomKey: { remaining.next() }
    )
}

final class KeySequence: Sendable {
    private let keys: [String]
    private let index = Counter()
    init(_ keys: [String]) { self.keys = keys }
    func next() -> String {
        let position = index.increment()
        return position < keys.count ? keys[position] : RoomKey.random()
    }
}

final class Counter: Sendable {
    private let count = Mutex(-1)
    func increment() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }
}

@Suite("Accounts")
struct AccountTests {
    @Test("register, then log in with the right password only")
    func registerAndLogIn() async throws {
        let chat = makeService()
        let alice = try await chat.register(username: "alice", email: "a@x.test", password: "pw")
        #expect(alice.passwordHash.hasPrefix("pbkdf2:sha256:1000$"))
        #expect(try await chat.logIn(username: "alice", password: "pw")?.id == alice.id)
        #expect(try await chat.logIn(username: "alice", password: "wrong") == nil)
        #expect(try await chat.logIn(username: "nobody", password: "pw") == nil)
    }

    @Test("a taken username or email is refused; empty fields too")
    func registrationConflicts() async throws {
        let chat = makeService()
        _ = try await chat.register(username: "alice", email: "a@x.test", password: "pw")
        await #expect(throws: ChatRefusal.accountTaken) {
            try await chat.register(username: "alice", email: "other@x.test", password: "pw")
        }
        await #expect(throws: ChatRefusal.accountTaken) {
            try await chat.register(username: "alice2", email: "a@x.test", password: "pw")
        }
        await #expect(throws: ChatRefusal.missingRegistrationFields) {
            try await chat.register(username: "", email: "e@x.test", password: "pw")
        }
        #expect(ChatRefusal.missingRegistrationFields.description == "Username, email and password are required")
        #expect(ChatRefusal.accountTaken.description == "Username or email already exists")
    }

    @Test("profile updates answer in the old backend's words, with its bugs fixed")
    func profileUpdates() async throws {
        let chat = makeService()
        let alice = try await chat.register(username: "alice", email: "a@x.test", password: "pw")
        _ = try await chat.register(username: "bob", email: "b@x.test", password: "pw")
        /// The refusal, or nil when the change was made.
        func update(_ field: String, _ value: String) async throws -> ChatRefusal? {
            do {
                try await chat.updateProfile(userID: alice.id, field: field, value: value)
                return nil
            } catch let refusal as ChatRefusal {
                return refusal
            }
        }
        #expect(try await update("username", "alice_new") == nil)
        #expect(try await update("username", "bob") == .profileValueTaken(.username))
        // Keeping one's own name is not a clash (the old backend said it was, with MongoDB).
        #expect(try await update("username", "alice_new") == nil)
        #expect(try await update("email", "b@x.test") == .profileValueTaken(.email))
        #expect(try await update("email", "new@x.test") == nil)
        #expect(try await update("username", "") == .emptyProfileValue(.username))
        #expect(try await update("password", "") == .emptyProfileValue(.password))
        #expect(try await update("color", "red") == .unknownProfileField)
        #expect(ChatRefusal.profileValueTaken(.username).description == "Username already exists")
        #expect(ChatRefusal.profileValueTaken(.email).description == "Email already exists")
        #expect(ChatRefusal.emptyProfileValue(.username).description == "Username cannot be empty")
        #expect(ChatRefusal.unknownProfileField.description == "Unknown field")
        #expect(try await update("password", "pw2") == nil)
        #expect(try await chat.logIn(username: "alice_new", password: "pw") == nil)
        #expect(try await chat.logIn(username: "alice_new", password: "pw2") != nil)
    }
}

@Suite("Rooms and membership")
struct RoomTests {
    func registered(_ chat: ChatService, _ name: String) async throws -> User {
        try await chat.register(username: name, email: "\(name)@x.test", password: "pw")
    }

    @Test("a new room has an 11-character key and its creator as only member")
    func createRoom() async throws {
        let chat = makeService()
        let alice = try await registered(chat, "alice")
        let room = try await chat.createRoom(named: "  General ", by: alice.id)
        #expect(room.name == "General")
        #expect(room.key.count == 11)
        #expect(room.key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(room.members == [alice.id])
        #expect(try await chat.roomsCreated(by: alice.id).map(\.key) == [room.key])
        await #expect(throws: ChatRefusal.emptyRoomName) { try await chat.createRoom(named: "   ", by: alice.id) }
    }

    @Test("creating and renaming follow the same name rules: trimmed, 1 to 100 characters")
    func roomNameRules() async throws {
        let chat = makeService()
        let alice = try await registered(chat, "alice")
        let longest = String(repeating: "é", count: 100)
        #expect(try RoomName.validated("  \(longest)\n") == longest)
        // Characters, not bytes nor UTF-16 units: 100 flags are 400 UTF-16 units.
        #expect(try RoomName.validated(String(repeating: "🇫🇷", count: 100)).count == 100)
        #expect(throws: ChatRefusal.emptyRoomName) { try RoomName.validated(" \t\n ") }
        #expect(throws: ChatRefusal.roomNameTooLong(limit: 100)) { try RoomName.validated(longest + "x") }

        await #expect(throws: ChatRefusal.roomNameTooLong(limit: 100)) {
            try await chat.createRoom(named: String(repeating: "x", count: 101), by: alice.id)
        }
        #expect(try await chat.roomsCreated(by: alice.id).isEmpty)
        let room = try await chat.createRoom(named: " \(longest) ", by: alice.id)
        #expect(room.name == longest)
        await #expect(throws: ChatRefusal.roomNameTooLong(limit: 100)) {
            try await chat.renameRoom(key: room.key, to: String(repeating: "x", count: 101), by: alice.id)
        }
    }

    @Test("a key collision is retried with a new key")
    func keyCollision() async throws {
        let chat = makeService(keys: ["AAAAAAAAAAA", "AAAAAAAAAAA", "BBBBBBBBBBB"])
        let alice = try await registered(chat, "alice")
        #expect(try await chat.createRoom(named: "one", by: alice.id).key == "AAAAAAAAAAA")
        #expect(try await chat.createRoom(named: "two", by: alice.id).key == "BBBBBBBBBBB")
    }

    @Test("joining adds a member once; an unknown key joins nothing; leaving removes")
    func joinAndLeave() async throws {
        let chat = makeService()
        let alice = try await registered(chat, "alice")
        let bob = try await registered(chat, "bob")
        let room = try await chat.createRoom(named: "General", by: alice.id)
        #expect(try await chat.roomForMember(key: room.key, userID: bob.id) == nil)
        #expect(try await chat.joinRoom(key: room.key, userID: bob.id)?.members == [alice.id, bob.id])
        #expect(try await chat.joinRoom(key: room.key, userID: bob.id)?.members == [alice.id, bob.id])
        #expect(try await chat.joinRoom(key: "doesnotexist", userID: bob.id) == nil)
        #expect(try await chat.roomForMember(key: room.key, userID: bob.id) != nil)
        try await chat.leaveRoom(key: room.key, userID: bob.id)
        #expect(try await chat.roomForMember(key: room.key, userID: bob.id) == nil)
    }

    @Test("only the owner deletes a room")
    func deleteRoom() async throws {
        let chat = makeService()
        let alice = try await registered(chat, "alice")
        let bob = try await registered(chat, "bob")
        let room = try await chat.createRoom(named: "General", by: alice.id)
        _ = try await chat.joinRoom(key: room.key, userID: bob.id)
        #expect(try await chat.deleteRoom(key: room.key, userID: bob.id) == false)
        #expect(try await chat.roomForMember(key: room.key, userID: alice.id) != nil)
        #expect(try await chat.deleteRoom(key: room.key, userID: alice.id) == true)
        #expect(try await chat.roomForMember(key: room.key, userID: alice.id) == nil)
    }

    @Test("only the owner kicks, never themselves; the kicked user is no longer a member")
    func kick() async throws {
        let chat = makeService()
        let alice = try await registered(chat, "alice")
        let bob = try await registered(chat, "bob")
        let room = try await chat.createRoom(named: "General", by: alice.id)
        _ = try await chat.joinRoom(key: room.key, userID: bob.id)
        #expect(try await chat.kick(alice.id, fromRoom: room.key, by: bob.id) == .notOwner)
        #expect(try await chat.kick(alice.id, fromRoom: room.key, by: alice.id) == .notOwner)
        await #expect(throws: ChatRefusal.noSuchRoom) { try await chat.kick(bob.id, fromRoom: "nope", by: alice.id) }
        #expect(try await chat.kick(bob.id, fromRoom: room.key, by: alice.id) == .kicked(target: bob))
        #expect(try await chat.roomForMember(key: room.key, userID: bob.id) == nil)
    }
}

@Suite("Messages and notices")
struct MessageTests {
    @Test("a message is 1 to 500 characters and not blank")
    func messageLength() throws {
        #expect(try ChatService.validateMessage("hello") == "hello")
        #expect(throws: ChatRefusal.emptyMessage) { try ChatService.validateMessage("") }
        #expect(throws: ChatRefusal.emptyMessage) { try ChatService.validateMessage(" \n ") }
        #expect(
            try ChatService.validateMessage(String(repeating: "x", count: 500)) == String(repeating: "x", count: 500))
        #expect(throws: ChatRefusal.messageTooLong(limit: 500)) {
            try ChatService.validateMessage(String(repeating: "x", count: 501))
        }
        // Counted as the browser counts maxlength: an emoji is two.
        #expect(throws: ChatRefusal.messageTooLong(limit: 500)) {
            try ChatService.validateMessage(String(repeating: "😀", count: 251))
        }
        #expect(ChatRefusal.emptyMessage.description == "Message cannot be empty.")
        #expect(ChatRefusal.messageTooLong(limit: 500).description == "Message is longer than 500 characters.")
    }

    @Test("notices say what the old backend said")
    func notices() {
        #expect(Notice.joined("alice") == "alice has joined the room")
        #expect(Notice.left("bob") == "bob has left the room")
        #expect(Notice.kicked("bob") == "bob has been kicked from the room")
    }

    @Test("timestamps are local HH:MM")
    func timestamps() {
        let clock = MessageClock(
            timeZone: TimeZone(identifier: "Europe/Paris")!, now: { Date(timeIntervalSince1970: 1_700_000_000) })
        #expect(clock.timestamp() == "23:13")
        let utc = MessageClock(
            timeZone: TimeZone(identifier: "UTC")!, now: { Date(timeIntervalSince1970: 3600 * 5 + 60 * 7) })
        #expect(utc.timestamp() == "05:07")
    }
}

@Suite("Werkzeug password hashes")
struct PasswordTests {
    @Test("known Werkzeug vectors: pbkdf2 and scrypt")
    func knownVectors() async throws {
        let hasher = WerkzeugPasswordHasher()
        for (password, stored) in WerkzeugVectors.all {
            #expect(await hasher.verify(password, against: stored), "\(stored.prefix(20))")
            #expect(await hasher.verify(password + "x", against: stored) == false)
        }
    }

    @Test("what we write verifies; malformed or hostile hashes never match")
    func roundTripAndMalformed() async throws {
        let hasher = WerkzeugPasswordHasher(method: "pbkdf2:sha256:1000")
        let stored = try await hasher.hash("secret")
        #expect(await hasher.verify("secret", against: stored))
        for bad in ["", "pbkdf2", "md5$a$b", "pbkdf2:sha999:1$a$b", "scrypt:1048577:8:1$a$b", "scrypt:x:y:z$a$b", "$$"]
        {
            #expect(await hasher.verify("secret", against: bad) == false)
        }
    }
}
