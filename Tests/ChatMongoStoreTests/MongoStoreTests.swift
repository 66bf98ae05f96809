import ChatDomain
import Foundation
import Logging
import Synchronization
import Testing

@testable import ChatMongoStore

// Every test here runs against one real MongoDB-compatible server (SecantusDB) that
// the tests start themselves (see MongoTestServer). The suites are serialized: some
// tests stop and restart that server. Each test uses a database of its own.

/// A database name of its own for each test.
func freshDatabase(_ hint: String = "t") -> String {
    "chatify_test_\(hint)_\(UUID().uuidString.prefix(8).lowercased())"
}

func connect(
    database: String = freshDatabase(), timeout: Duration = .seconds(5), logger: Logger? = nil
) async throws -> MongoStore {
    let uri = try await MongoTestServer.shared.uri()
    return try await MongoStore.connect(
        uri: uri, database: database, serverSelectionTimeout: timeout,
        logger: logger ?? Logger(label: "mongo-test"))
}

/// A date with sub-millisecond digits, to check what BSON keeps.
let sampleDate = Date(timeIntervalSince1970: 1_700_000_000.123_456)

func newUser(_ name: String, email: String? = nil, hash: String = "pbkdf2:sha256:1000$salt$00") -> NewUser {
    NewUser(username: name, email: email ?? "\(name)@example.test", passwordHash: hash, createdAt: sampleDate)
}

func newRoom(_ name: String, key: String, by owner: String) -> NewRoom {
    NewRoom(name: name, key: key, createdBy: owner, createdAt: sampleDate)
}

/// Expects `.unavailable`; returns its message.
@discardableResult
func expectUnavailable<T>(
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> String? {
    do {
        _ = try await body()
        Issue.record("\(what): expected .unavailable, it succeeded", sourceLocation: sourceLocation)
        return nil
    } catch {
        guard let error = error as? StoreError, case .unavailable(let message) = error else {
            Issue.record("\(what): expected .unavailable, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
        return message
    }
}

/// Retries `body` until it succeeds or `deadline` passes (then rethrows its last error).
func retry<T>(until deadline: ContinuousClock.Instant, _ body: () async throws -> T) async throws -> T {
    while true {
        do {
            return try await body()
        } catch {
            if ContinuousClock.now >= deadline { throw error }
            // A short pause between attempts (each attempt is itself bounded by the
            // server selection timeout); not what the test waits on.
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

@Suite("MongoStore against a MongoDB-compatible server", .serialized)
struct MongoStoreTests {}

// MARK: - Users

extension MongoStoreTests {
    @Suite("Users")
    struct Users {
        @Test("insert, then find by id, username and email; the document has the old backend's shape")
        func insertAndFind() async throws {
            let store = try await connect()
            let inserted = try await store.insertUser(newUser("alice"))
            #expect(inserted.id.count == 24 && inserted.id.allSatisfy(\.isHexDigit))
            #expect(inserted.username == "alice" && inserted.email == "alice@example.test")
            #expect(inserted.passwordHash == "pbkdf2:sha256:1000$salt$00")
            // BSON keeps whole milliseconds: what is handed back is what is stored.
            #expect(inserted.createdAt == Date(timeIntervalSince1970: 1_700_000_000.123))

            #expect(try await store.user(id: inserted.id) == inserted)
            #expect(try await store.user(username: "alice") == inserted)
            #expect(try await store.user(email: "alice@example.test") == inserted)
            #expect(try await store.user(username: "nobody") == nil)
            #expect(try await store.user(email: "nobody@example.test") == nil)
            await store.close()
        }

        @Test("a duplicate username or email is .duplicate naming the field")
        func duplicates() async throws {
            let store = try await connect()
            let alice = try await store.insertUser(newUser("alice"))
            await #expect(throws: StoreError.duplicate(.username)) {
                try await store.insertUser(newUser("alice", email: "other@example.test"))
            }
            await #expect(throws: StoreError.duplicate(.email)) {
                try await store.insertUser(newUser("alicia", email: "alice@example.test"))
            }
            // Both taken: the username is reported, as the memory store does.
            await #expect(throws: StoreError.duplicate(.username)) {
                try await store.insertUser(newUser("alice"))
            }
            // Nothing was stored by the failed inserts.
            #expect(try await store.user(username: "alicia") == nil)
            #expect(try await store.user(email: "other@example.test") == nil)
            #expect(try await store.user(username: "alice") == alice)
            await store.close()
        }

        @Test("concurrent registrations of one username: exactly one wins")
        func concurrentRegistrations() async throws {
            let store = try await connect()
            let outcomes = await withTaskGroup(of: Result<User, StoreError>.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        do throws(StoreError) {
                            return .success(
                                try await store.insertUser(newUser("racer", email: "racer\(index)@example.test")))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            let losers = outcomes.filter { if case .failure(.duplicate(.username)) = $0 { true } else { false } }
            #expect(losers.count == 11)
            #expect(try await store.user(username: "racer") == winners.first)
            await store.close()
        }

        @Test("updateUser sets username, email and password hash; a taken value is .duplicate")
        func update() async throws {
            let store = try await connect()
            let alice = try await store.insertUser(newUser("alice"))
            let bob = try await store.insertUser(newUser("bob"))

            try await store.updateUser(id: alice.id, .username("alice2"))
            try await store.updateUser(id: alice.id, .email("alice2@example.test"))
            try await store.updateUser(id: alice.id, .passwordHash("scrypt:32768:8:1$s$ff"))
            var expected = alice
            expected.username = "alice2"
            expected.email = "alice2@example.test"
            expected.passwordHash = "scrypt:32768:8:1$s$ff"
            #expect(try await store.user(id: alice.id) == expected)
            #expect(try await store.user(username: "alice") == nil)

            await #expect(throws: StoreError.duplicate(.username)) {
                try await store.updateUser(id: alice.id, .username("bob"))
            }
            await #expect(throws: StoreError.duplicate(.email)) {
                try await store.updateUser(id: alice.id, .email("bob@example.test"))
            }
            // Keeping one's own value is no collision.
            try await store.updateUser(id: alice.id, .username("alice2"))
            try await store.updateUser(id: alice.id, .email("alice2@example.test"))
            #expect(try await store.user(id: alice.id) == expected)
            #expect(try await store.user(id: bob.id) == bob)

            // Unknown or malformed ids change nothing and are no error.
            try await store.updateUser(id: "0123456789abcdef01234567", .username("ghost"))
            try await store.updateUser(id: "not-an-id", .username("ghost"))
            #expect(try await store.user(username: "ghost") == nil)
            await store.close()
        }

        @Test("user(id:) with ids that are not ObjectIds is nil, not an error")
        func garbageIDs() async throws {
            let store = try await connect()
            let alice = try await store.insertUser(newUser("alice"))
            let garbage = [
                "", "x", "123", String(repeating: "z", count: 24), alice.id + "0", String(alice.id.dropLast()),
                alice.id.replacingCharacters(in: alice.id.startIndex...alice.id.startIndex, with: "g"),
                "{\"$ne\": null}", "\(alice.id.prefix(12))\u{0}\(alice.id.suffix(11))",
                "ï" + alice.id.dropFirst(2), UUID().uuidString.lowercased(), "0123456789abcdef01234567",
            ]
            for id in garbage {
                #expect(try await store.user(id: id) == nil, "id \(id.debugDescription)")
            }
            #expect(try await store.user(id: alice.id) == alice)
            await store.close()
        }

        @Test("one question tells whether any of a token's ids was revoked and is still live")
        func revocationsAskedTogether() async throws {
            let store = try await connect()
            let live = "jti-\(UUID().uuidString)"
            let stale = "jti-\(UUID().uuidString)"
            let never = "jti-\(UUID().uuidString)"
            try await store.revokeToken(id: live, expiresAt: Date().addingTimeInterval(600))
            try await store.revokeToken(id: stale, expiresAt: Date().addingTimeInterval(-60))
            #expect(try await store.isTokenRevoked(anyOf: [never, live]))
            #expect(try await store.isTokenRevoked(anyOf: [live]))
            #expect(!(try await store.isTokenRevoked(anyOf: [never, stale])), "an expired revocation is over")
            #expect(!(try await store.isTokenRevoked(anyOf: [])))
            await store.close()
        }

        @Test("unicode, markup and operator-looking strings are stored and matched verbatim")
        func verbatimStrings() async throws {
            let store = try await connect()
            let names = [
                "Zoë 🚀 — 中文 עברית", "<script>alert('x')</script>", "{\"$gt\": \"\"}", "$where", "a.b.c",
                "  spaced  ", "tab\there", "new\nline", "nul\u{0}inside", "",
            ]
            var users: [User] = []
            for (index, name) in names.enumerated() {
                users.append(
                    try await store.insertUser(
                        NewUser(
                            username: name, email: "\(name)+\(index)@例え.test", passwordHash: "<b>\(name)</b>",
                            createdAt: sampleDate)))
            }
            for user in users {
                #expect(try await store.user(username: user.username) == user, "\(user.username.debugDescription)")
                #expect(try await store.user(email: user.email) == user)
                #expect(try await store.user(id: user.id) == user)
            }
            // An operator-looking string matches only itself.
            #expect(try await store.user(username: "{\"$gt\": \"\"}")?.username == "{\"$gt\": \"\"}")
            #expect(try await store.user(username: "Zoë") == nil)

            let room = try await store.insertRoom(
                newRoom("<img src=x onerror=alert(1)> ✓", key: "k<&>\"'", by: users[1].id))
            #expect(try await store.room(key: "k<&>\"'") == room)
            #expect(room.name == "<img src=x onerror=alert(1)> ✓")
            await store.close()
        }
    }
}

// MARK: - Rooms

extension MongoStoreTests {
    @Suite("Rooms")
    struct Rooms {
        @Test("insertRoom makes the creator the only member; room(key:) finds it; a taken key is .duplicate")
        func insertAndFind() async throws {
            let store = try await connect()
            let owner = try await store.insertUser(newUser("owner"))
            let room = try await store.insertRoom(newRoom("General", key: "AAAAAAAAAAA", by: owner.id))
            #expect(room.id.count == 24 && room.id.allSatisfy(\.isHexDigit))
            #expect(room.members == [owner.id])
            #expect(room.createdBy == owner.id)
            #expect(room.createdAt == Date(timeIntervalSince1970: 1_700_000_000.123))
            #expect(try await store.room(key: "AAAAAAAAAAA") == room)
            #expect(try await store.room(key: "BBBBBBBBBBB") == nil)
            await #expect(throws: StoreError.duplicate(.roomKey)) {
                try await store.insertRoom(newRoom("Other", key: "AAAAAAAAAAA", by: owner.id))
            }
            #expect(try await store.room(key: "AAAAAAAAAAA") == room)
            await store.close()
        }

        @Test("rooms(createdBy:) lists a user's rooms in creation order")
        func roomsByOwner() async throws {
            let store = try await connect()
            let alice = try await store.insertUser(newUser("alice"))
            let bob = try await store.insertUser(newUser("bob"))
            var created: [Room] = []
            for index in 0..<5 {
                created.append(try await store.insertRoom(newRoom("A\(index)", key: "alice-\(index)", by: alice.id)))
                _ = try await store.insertRoom(newRoom("B\(index)", key: "bob-\(index)", by: bob.id))
            }
            #expect(try await store.rooms(createdBy: alice.id) == created)
            #expect(try await store.rooms(createdBy: bob.id).map(\.key) == (0..<5).map { "bob-\($0)" })
            #expect(try await store.rooms(createdBy: "0123456789abcdef01234567") == [])
            #expect(try await store.rooms(createdBy: "not an id") == [])
            await store.close()
        }

        @Test("addMember adds once and returns the room; removeMember removes; unknown rooms are nil")
        func membership() async throws {
            let store = try await connect()
            let owner = try await store.insertUser(newUser("owner"))
            let guest = try await store.insertUser(newUser("guest"))
            let room = try await store.insertRoom(newRoom("Room", key: "room-key-01", by: owner.id))

            let joined = try await store.addMember(guest.id, toRoom: room.key)
            #expect(joined?.members == [owner.id, guest.id])
            let again = try await store.addMember(guest.id, toRoom: room.key)
            #expect(again?.members == [owner.id, guest.id])
            #expect(try await store.room(key: room.key)?.members == [owner.id, guest.id])

            var expected = room
            expected.members = [owner.id, guest.id]
            #expect(again == expected)

            #expect(try await store.addMember(guest.id, toRoom: "no-such-room") == nil)
            #expect(try await store.removeMember(guest.id, fromRoom: "no-such-room") == nil)

            let left = try await store.removeMember(guest.id, fromRoom: room.key)
            #expect(left?.members == [owner.id])
            // Removing someone who is not a member leaves the room as it is.
            #expect(try await store.removeMember(guest.id, fromRoom: room.key)?.members == [owner.id])
            // The owner can be removed too (a kick of oneself is the service's business).
            #expect(try await store.removeMember(owner.id, fromRoom: room.key)?.members == [])
            #expect(try await store.addMember(guest.id, toRoom: room.key)?.members == [guest.id])
            await store.close()
        }

        @Test("concurrent joins: every member once")
        func concurrentJoins() async throws {
            let store = try await connect()
            let room = try await store.insertRoom(newRoom("Busy", key: "busy-room-1", by: "owner-id"))
            let members = (0..<16).map { "member-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for member in members + members {
                    group.addTask { _ = try await store.addMember(member, toRoom: room.key) }
                }
                try await group.waitForAll()
            }
            let final = try #require(try await store.room(key: room.key))
            #expect(final.members.count == 17)
            #expect(Set(final.members) == Set(members + ["owner-id"]))
            #expect(final.members.first == "owner-id")
            await store.close()
        }

        @Test("deleteRoom deletes only for the owner")
        func deleteByOwnerOnly() async throws {
            let store = try await connect()
            let owner = try await store.insertUser(newUser("owner"))
            let other = try await store.insertUser(newUser("other"))
            let room = try await store.insertRoom(newRoom("Mine", key: "mine-key-01", by: owner.id))
            let kept = try await store.insertRoom(newRoom("Kept", key: "kept-key-01", by: owner.id))
            _ = try await store.addMember(other.id, toRoom: room.key)

            #expect(try await store.deleteRoom(key: room.key, ownedBy: other.id) == false)
            #expect(try await store.room(key: room.key) != nil)
            #expect(try await store.deleteRoom(key: room.key, ownedBy: owner.id) == true)
            #expect(try await store.room(key: room.key) == nil)
            #expect(try await store.deleteRoom(key: room.key, ownedBy: owner.id) == false)
            #expect(try await store.deleteRoom(key: "no-such-room", ownedBy: owner.id) == false)
            #expect(try await store.rooms(createdBy: owner.id) == [kept])
            // The key is free again.
            let reused = try await store.insertRoom(newRoom("Again", key: room.key, by: other.id))
            #expect(try await store.room(key: room.key) == reused)
            await store.close()
        }
    }
}

// MARK: - Connecting, health, closing

extension MongoStoreTests {
    @Suite("Connection")
    struct Connection {
        @Test("ping answers; description names the database and host, never credentials")
        func pingAndDescription() async throws {
            let port = try await MongoTestServer.shared.currentPort()
            let database = freshDatabase()
            let store = try await connect(database: database)
            try await store.ping()
            #expect(store.description == "MongoDB \(database) at 127.0.0.1:\(port)")
            #expect(store.databaseName == database)
            await store.close()

            #expect(
                MongoStore.describe(
                    uri: "mongodb://alice:s3cr3t@db1.example.net:27017,db2.example.net:27018/?authSource=admin",
                    database: "chatify_db")
                    == "MongoDB chatify_db at db1.example.net:27017,db2.example.net:27018")
            #expect(
                MongoStore.describe(
                    uri: "mongodb+srv://alice:s3cr3t@cluster0.example.net/?retryWrites=true&w=majority",
                    database: "chatify_db")
                    == "MongoDB chatify_db at cluster0.example.net (SRV)")
            #expect(MongoStore.describe(uri: "mongodb://localhost/", database: "x") == "MongoDB x at localhost:27017")
        }

        @Test("a malformed URI fails at once with .unavailable(\"invalid MongoDB URI: …\")")
        func invalidURI() async throws {
            let clock = ContinuousClock()
            for uri in [
                "", "not a uri", "http://127.0.0.1:27017/", "mongodb://127.0.0.1:99999/", "mongodb://h/?tls=maybe",
            ] {
                let started = clock.now
                let message = await expectUnavailable("connect to \(uri.debugDescription)") {
                    try await MongoStore.connect(
                        uri: uri, serverSelectionTimeout: .seconds(30), logger: Logger(label: "t"))
                }
                #expect(message?.hasPrefix("invalid MongoDB URI: ") == true, "\(message ?? "")")
                #expect(clock.now - started < .seconds(2))
            }
        }

        @Test("no server: connect fails with libmongoc's message within the server selection timeout")
        func noServer() async throws {
            let port = try freePort()
            let clock = ContinuousClock()
            let started = clock.now
            let message = await expectUnavailable("connect to a closed port") {
                try await MongoStore.connect(
                    uri: "mongodb://bob:pa55word@127.0.0.1:\(port)/", serverSelectionTimeout: .seconds(1),
                    logger: Logger(label: "t"))
            }
            let elapsed = clock.now - started
            #expect(elapsed < .seconds(6), "took \(elapsed)")
            let text = try #require(message)
            #expect(text.contains("No suitable servers found"), "\(text)")
            #expect(!text.contains("pa55word"))
            #expect(!text.contains("\n"))
        }

        @Test("a timeout the URI sets itself is kept")
        func uriTimeoutWins() async throws {
            let port = try freePort()
            let clock = ContinuousClock()
            let started = clock.now
            await expectUnavailable("connect with serverSelectionTimeoutMS=300 in the URI") {
                try await MongoStore.connect(
                    uri: "mongodb://127.0.0.1:\(port)/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
                    serverSelectionTimeout: .seconds(60), logger: Logger(label: "t"))
            }
            #expect(clock.now - started < .seconds(10))
        }

        @Test("TLS options are handed to libmongoc: a TLS connection to a plain server fails cleanly")
        func tlsOptionsPassThrough() async throws {
            let port = try await MongoTestServer.shared.currentPort()
            let clock = ContinuousClock()
            let started = clock.now
            let message = await expectUnavailable("TLS to a plain server") {
                try await MongoStore.connect(
                    uri: "mongodb://127.0.0.1:\(port)/?tls=true&tlsAllowInvalidCertificates=true",
                    serverSelectionTimeout: .seconds(2), logger: Logger(label: "t"))
            }
            #expect(clock.now - started < .seconds(15))
            #expect(message?.isEmpty == false)
        }

        @Test("after close, operations fail with .unavailable; closing twice is fine")
        func closed() async throws {
            let store = try await connect()
            let user = try await store.insertUser(newUser("before-close"))
            await store.close()
            await store.close()
            let message = await expectUnavailable("user(id:) after close") { try await store.user(id: user.id) }
            #expect(message?.contains("closed") == true)
            await expectUnavailable("ping after close") { try await store.ping() }
            await expectUnavailable("insertRoom after close") {
                try await store.insertRoom(newRoom("x", key: "after-close", by: user.id))
            }
        }

        @Test("a store dropped without close() frees its threads and pool")
        func droppedWithoutClose() async throws {
            for _ in 0..<3 {
                var store: MongoStore? = try await connect()
                try await store?.ping()
                store = nil
                #expect(store == nil)
            }
            // The server is still fine for a new store.
            let store = try await connect()
            try await store.ping()
            await store.close()
        }
    }
}

// MARK: - The old backend's data

extension MongoStoreTests {
    @Suite("Old backend's documents")
    struct OldBackend {
        struct Seeded: Decodable {
            struct SeededUser: Decodable {
                var id: String
                var username: String
                var email: String
                var password: String
                var hash: String?
                var createdAtMissing: Bool?
            }
            struct SeededRoom: Decodable {
                var id: String
                var name: String
                var key: String
                var createdBy: String
                var members: [String]
            }
            var users: [SeededUser]
            var rooms: [SeededRoom]
            var createdAtMs: Int64
        }

        func seed(database: String, extra: [String] = []) async throws -> Seeded {
            let python = try await CompatPython.shared.path()
            let uri = try await MongoTestServer.shared.uri()
            let result = try await runProcess(
                python,
                [
                    repositoryRoot.appendingPathComponent("Compat/mongo/seed_old_backend.py").path, "--uri", uri,
                    "--db", database,
                ]
                    + extra,
                timeout: .seconds(120))
            try #require(result.status == 0, "seed_old_backend.py failed: \(result.output)")
            let json = try #require(result.output.split(separator: "\n").last.map(String.init))
            // The script writes the old backend's snake_case names.
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Seeded.self, from: Data(json.utf8))
        }

        @Test("users and rooms written by pymongo read back; both Werkzeug hash formats verify")
        func readOldDocuments() async throws {
            let database = freshDatabase("old")
            let seeded = try await seed(database: database)
            let store = try await connect(database: database)
            let hasher = WerkzeugPasswordHasher()
            let createdAt = Date(timeIntervalSince1970: Double(seeded.createdAtMs) / 1000)

            #expect(seeded.users.count == 3)
            for expected in seeded.users {
                let user = try #require(try await store.user(id: expected.id), "user \(expected.username)")
                #expect(user.username == expected.username)
                #expect(user.email == expected.email)
                #expect(try await store.user(username: expected.username) == user)
                #expect(try await store.user(email: expected.email) == user)
                if expected.createdAtMissing == true {
                    #expect(user.createdAt == .distantPast)
                } else {
                    #expect(user.createdAt == createdAt)
                    #expect(user.passwordHash == expected.hash)
                }
                #expect(await hasher.verify(expected.password, against: user.passwordHash), "\(user.passwordHash)")
                #expect(!(await hasher.verify(expected.password + "!", against: user.passwordHash)))
                #expect(!(await hasher.verify("", against: user.passwordHash)))
            }
            #expect(seeded.users[0].hash?.hasPrefix("pbkdf2:sha256:600000$") == true)
            #expect(seeded.users[1].hash?.hasPrefix("scrypt:32768:8:1$") == true)

            let alice = seeded.users[0].id
            let bob = seeded.users[1].id
            for expected in seeded.rooms {
                let room = try #require(try await store.room(key: expected.key))
                #expect(room.id == expected.id)
                #expect(room.name == expected.name)
                #expect(room.createdBy == expected.createdBy)
                #expect(room.members == expected.members)
                #expect(room.createdAt == createdAt)
            }
            #expect(try await store.rooms(createdBy: alice).map(\.key) == seeded.rooms.prefix(2).map(\.key))
            #expect(try await store.rooms(createdBy: bob).map(\.key) == [seeded.rooms[2].key])

            // The store works on those documents: joins (once), a room without members, leave, delete.
            let general = seeded.rooms[0]
            #expect(try await store.addMember(bob, toRoom: general.key)?.members == [alice, bob])
            #expect(try await store.addMember(bob, toRoom: seeded.rooms[1].key)?.members == [bob])
            #expect(try await store.removeMember(alice, fromRoom: general.key)?.members == [bob])
            #expect(try await store.deleteRoom(key: general.key, ownedBy: bob) == false)
            #expect(try await store.deleteRoom(key: general.key, ownedBy: alice) == true)
            // The indexes now refuse what the old backend let through.
            await #expect(throws: StoreError.duplicate(.username)) {
                try await store.insertUser(newUser("alice", email: "new@example.test"))
            }
            await #expect(throws: StoreError.duplicate(.email)) {
                try await store.insertUser(newUser("alice-new", email: "alice@example.com"))
            }
            await store.close()
        }

        @Test("what the store writes, the old backend reads (pymongo shapes, Werkzeug verifies)")
        func oldBackendReadsOurDocuments() async throws {
            let database = freshDatabase("back")
            let store = try await connect(database: database)
            let password = "s3cret ✓ <pw>"
            let hash = try await WerkzeugPasswordHasher().hash(password)
            let owner = try await store.insertUser(
                NewUser(username: "writer", email: "writer@example.test", passwordHash: hash, createdAt: Date()))
            let guest = try await store.insertUser(newUser("guest"))
            let room = try await store.insertRoom(
                NewRoom(name: "Written by Swift", key: "swift-key-1", createdBy: owner.id, createdAt: Date()))
            _ = try await store.addMember(guest.id, toRoom: room.key)
            await store.close()

            let python = try await CompatPython.shared.path()
            let uri = try await MongoTestServer.shared.uri()
            let result = try await runProcess(
                python,
                [
                    repositoryRoot.appendingPathComponent("Compat/mongo/read_as_old_backend.py").path, "--uri", uri,
                    "--db", database, "--username", "writer", "--password", password, "--room-key", room.key,
                ],
                timeout: .seconds(120))
            #expect(result.status == 0, "\(result.output)")
            #expect(
                result.output.contains(
                    "\"user_keys\": [\"_id\", \"created_at\", \"email\", \"password\", \"username\"]"),
                "\(result.output)")
            #expect(
                result.output.contains(
                    "\"room_keys\": [\"_id\", \"created_at\", \"created_by\", \"key\", \"members\", \"name\"]"),
                "\(result.output)")
            #expect(result.output.contains("\"members\": [\"\(owner.id)\", \"\(guest.id)\"]"), "\(result.output)")
        }

        @Test("an index the data does not allow (old duplicates) is one warning, not a failure")
        func duplicatesInExistingData() async throws {
            let database = freshDatabase("dup")
            let seeded = try await seed(database: database, extra: ["--duplicate-username"])
            let capture = LogCapture()
            let store = try await connect(database: database, logger: capture.logger())
            let warnings = capture.records.filter { $0.level >= .warning }.map(\.message)
            #expect(warnings.count == 1, "\(warnings)")
            let warning = try #require(warnings.first)
            #expect(warning.contains("unique index on \(database).users.username"), "\(warning)")
            #expect(!warning.contains("\n"))
            // The store works; the first of the two "alice" users is the one found.
            #expect(try await store.user(username: "alice")?.id == seeded.users[0].id)
            // The other indexes were built.
            await #expect(throws: StoreError.duplicate(.email)) {
                try await store.insertUser(newUser("someone", email: "bob@example.com"))
            }
            await #expect(throws: StoreError.duplicate(.roomKey)) {
                try await store.insertRoom(newRoom("x", key: seeded.rooms[0].key, by: seeded.users[0].id))
            }
            await store.close()
        }
    }
}

// MARK: - Restarts and outages

extension MongoStoreTests {
    @Suite("Server restarts")
    struct Restarts {
        @Test("data written survives a server restart and reads back through a new store")
        func persistence() async throws {
            let database = freshDatabase("persist")
            let first = try await connect(database: database)
            let alice = try await first.insertUser(newUser("alice"))
            let bob = try await first.insertUser(newUser("bob"))
            let room = try await first.insertRoom(newRoom("Kept", key: "kept-room-1", by: alice.id))
            let joined = try #require(try await first.addMember(bob.id, toRoom: room.key))
            await first.close()

            try await MongoTestServer.shared.stop()
            try await MongoTestServer.shared.start(keepData: true)

            let second = try await connect(database: database)
            #expect(try await second.user(id: alice.id) == alice)
            #expect(try await second.user(username: "bob") == bob)
            #expect(try await second.room(key: room.key) == joined)
            #expect(try await second.rooms(createdBy: alice.id) == [joined])
            await #expect(throws: StoreError.duplicate(.username)) {
                try await second.insertUser(newUser("alice", email: "x@y.z"))
            }
            await second.close()
        }

        @Test("server down: operations fail within the timeout; back up: the same store works again")
        func outageAndRecovery() async throws {
            let timeout = Duration.milliseconds(1500)
            let store = try await connect(database: freshDatabase("outage"), timeout: timeout)
            let alice = try await store.insertUser(newUser("alice"))
            let room = try await store.insertRoom(newRoom("Room", key: "outage-room", by: alice.id))

            try await MongoTestServer.shared.stop()

            let clock = ContinuousClock()
            // One operation after another: each fails, none hangs.
            for (name, operation) in [
                ("ping", { try await store.ping() }),
                ("user(username:)", { _ = try await store.user(username: "alice") }),
                ("insertUser", { _ = try await store.insertUser(newUser("bob")) }),
                ("addMember", { _ = try await store.addMember("x", toRoom: room.key) }),
            ] as [(String, () async throws -> Void)] {
                let started = clock.now
                let message = await expectUnavailable(name, operation)
                let elapsed = clock.now - started
                #expect(elapsed < timeout + .seconds(3), "\(name) took \(elapsed)")
                #expect(message?.isEmpty == false)
            }
            // Many at once (more than the store's threads): all fail, in bounded time.
            let started = clock.now
            let failures = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        do throws(StoreError) {
                            _ = try await store.user(username: "u\(index)")
                            return false
                        } catch {
                            if case .unavailable = error { return true }
                            return false
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            let elapsed = clock.now - started
            #expect(failures == 30)
            #expect(elapsed < timeout * 3 + .seconds(3), "30 concurrent operations took \(elapsed)")

            try await MongoTestServer.shared.start(keepData: true)

            // The same store instance recovers: the pool reconnects by itself.
            let found = try await retry(until: clock.now + .seconds(30)) { try await store.user(username: "alice") }
            #expect(found == alice)
            try await store.ping()
            let bob = try await store.insertUser(newUser("bob"))
            #expect(try await store.addMember(bob.id, toRoom: room.key)?.members == [alice.id, bob.id])
            await store.close()
        }
    }
}
