import CMongoc
public import ChatDomain
public import Foundation
public import Logging
import NIOPosix
import Synchronization

/// Users and rooms in MongoDB, through libmongoc, in the old Flask backend's database,
/// collections and document shapes, so an existing database keeps working and the old
/// backend can be put back:
///
/// - users: `{_id: ObjectId, username, email, password: <Werkzeug hash>, created_at: date}`
/// - rooms: `{_id: ObjectId, name, key, created_by: "<user id hex>", created_at: date, members: ["<user id hex>", ...]}`,
///   and, once the owner moderates, `muted` and `banned` (user id strings): new optional
///   fields the old backend ignores
/// - messages (new): `{_id: ObjectId, room: "<room id hex>", user_id, username, message, timestamp: "HH:MM", created_at: date}`,
///   indexed on `{room: 1, created_at: -1, _id: -1}`
///
/// It adds unique indexes on `users.username`, `users.email` and `rooms.key` (the old
/// backend had none and checked with a read first) and a plain one on
/// `rooms.created_by`.
///
/// libmongoc blocks, so every call runs on threads of the store's own (never an event
/// loop, never the concurrency pool); an operation fails with `.unavailable` within
/// about the server selection timeout when the server is gone, and later operations
/// succeed again once it is back (the client pool reconnects by itself).
public final class MongoStore: ChatStore {
    public let description: String
    /// The database's name.
    public let databaseName: String

    private let context: StoreContext
    private let threads: NIOThreadPool
    private let closed = Mutex(false)

    /// How many threads run libmongoc calls (below the client pool's 100 clients, so
    /// taking a client never waits unless the URI sets a smaller `maxPoolSize`).
    static let threadCount = 8

    private init(description: String, databaseName: String, context: StoreContext, threads: NIOThreadPool) {
        self.description = description
        self.databaseName = databaseName
        self.context = context
        self.threads = threads
    }

    /// Connects, checks the server answers a `ping` within `serverSelectionTimeout`,
    /// and creates the indexes.
    ///
    /// - `uri`: any MongoDB connection string, `mongodb+srv://` and TLS options
    ///   included: it is handed to libmongoc as it is, except that
    ///   `serverSelectionTimeoutMS` (from `serverSelectionTimeout`), `connectTimeoutMS`
    ///   (the same, at most 10 s), `socketTimeoutMS` (at least 30 s) and `appname`
    ///   are set when the URI does not set them itself.
    /// - Throws: `.unavailable("invalid MongoDB URI: …")` at once for a bad URI,
    ///   `.unavailable(<libmongoc's message>)` when the server does not answer.
    public static func connect(
        uri: String,
        database: String = "chatify_db",
        usersCollection: String = "users",
        revokedTokensCollection: String = "revoked_tokens",
        roomsCollection: String = "rooms",
        messagesCollection: String = "messages",
        serverSelectionTimeout: Duration,
        logger: Logger
    ) async throws(StoreError) -> MongoStore {
        let timeout = milliseconds(serverSelectionTimeout)
        // Creating the pool resolves a mongodb+srv:// name (DNS, blocking): not on the
        // concurrency pool either.
        let (pool, hosts, effectiveTimeout) = try await offload {
            () throws(StoreError) -> (ClientPool, String, Int32) in
            MongocRuntime.prepare(logger: logger)
            var error = bson_error_t()
            guard let parsed = mongoc_uri_new_with_error(uri, &error) else {
                throw .unavailable("invalid MongoDB URI: \(error.text)")
            }
            defer { mongoc_uri_destroy(parsed) }
            setIfAbsent(parsed, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout)
            setIfAbsent(parsed, MONGOC_URI_CONNECTTIMEOUTMS, min(timeout, 10_000))
            setIfAbsent(parsed, MONGOC_URI_SOCKETTIMEOUTMS, max(timeout, 30_000))
            if mongoc_uri_get_appname(parsed) == nil { _ = mongoc_uri_set_appname(parsed, "chatify") }
            let effectiveTimeout = mongoc_uri_get_option_as_int32(parsed, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout)
            guard let rawPool = mongoc_client_pool_new_with_error(parsed, &error) else {
                throw .unavailable(error.text)
            }
            _ = mongoc_client_pool_set_error_api(rawPool, Int32(MONGOC_ERROR_API_VERSION_2))
            return (ClientPool(rawPool), Self.hosts(of: parsed), effectiveTimeout)
        }

        let threads = NIOThreadPool(numberOfThreads: threadCount)
        threads.start()
        let store = MongoStore(
            description: "MongoDB \(database) at \(hosts)",
            databaseName: database,
            context: StoreContext(
                pool: pool, database: database, users: usersCollection, rooms: roomsCollection,
                messages: messagesCollection, revokedTokens: revokedTokensCollection, logger: logger,
                queueBudget: .milliseconds(Int64(max(effectiveTimeout, 1)))
            ),
            threads: threads
        )
        do {
            try await store.ping()
            try await store.createIndexes()
        } catch {
            await store.close()
            throw error
        }
        logger.info("connected to \(store.description)")
        return store
    }

    // MARK: Users

    public func insertUser(_ new: NewUser) async throws(StoreError) -> User {
        try await perform { connection throws(StoreError) -> User in
            let id = ObjectID.generate()
            let createdAt = BSON.stored(new.createdAt)
            let duplicate = try connection.insertOne(
                connection.context.users,
                [
                    "_id": .objectID(id), "username": .string(new.username), "email": .string(new.email),
                    "password": .string(new.passwordHash), "created_at": .date(createdAt),
                ])
            if let duplicate {
                switch duplicate.field {
                case "_id":
                    // Our own insert, retried by libmongoc after a lost reply: it is stored.
                    break
                case "username": throw .duplicate(.username)
                case "email", nil:
                    // When both are taken the username is the one reported, as the
                    // memory store does (servers differ in which index they report
                    // first), and a server that did not say which gets the same: look.
                    if try connection.findOne(connection.context.users, filter: ["username": .string(new.username)])
                        != nil
                    {
                        throw .duplicate(.username)
                    }
                    throw .duplicate(.email)
                default:
                    // A unique index of someone else's making.
                    throw .unavailable("refused by a unique index: \(duplicate.message)")
                }
            }
            return User(
                id: id.hex, username: new.username, email: new.email, passwordHash: new.passwordHash,
                createdAt: createdAt)
        }
    }

    public func user(id: String) async throws(StoreError) -> User? {
        guard let objectID = ObjectID(hex: id) else { return nil }
        return try await findUser(["_id": .objectID(objectID)])
    }

    public func user(username: String) async throws(StoreError) -> User? {
        try await findUser(["username": .string(username)])
    }

    public func user(email: String) async throws(StoreError) -> User? {
        try await findUser(["email": .string(email)])
    }

    public func updateUser(id: String, _ change: ProfileChange) async throws(StoreError) {
        guard let objectID = ObjectID(hex: id) else { return }
        let field: String
        let value: String
        let unique: UniqueField?
        switch change {
        case .username(let name): (field, value, unique) = ("username", name, .username)
        case .email(let email): (field, value, unique) = ("email", email, .email)
        case .passwordHash(let hash): (field, value, unique) = ("password", hash, nil)
        }
        try await perform { connection throws(StoreError) in
            let duplicate = try connection.updateOne(
                connection.context.users, filter: ["_id": .objectID(objectID)],
                update: ["$set": .document([field: .string(value)])])
            guard let duplicate else { return }
            switch (duplicate.field, unique) {
            case ("username", _): throw .duplicate(.username)
            case ("email", _): throw .duplicate(.email)
            case (nil, let unique?): throw .duplicate(unique)  // only the field being set can collide
            default: throw .unavailable("refused by a unique index: \(duplicate.message)")
            }
        }
    }

    private func findUser(_ filter: KeyValuePairs<String, BSONValue>) async throws(StoreError) -> User? {
        try await perform { connection throws(StoreError) -> User? in
            guard let document = try connection.findOne(connection.context.users, filter: filter) else { return nil }
            return Self.user(from: document, logger: connection.context.logger)
        }
    }

    // MARK: Rooms

    public func insertRoom(_ new: NewRoom) async throws(StoreError) -> Room {
        try await perform { connection throws(StoreError) -> Room in
            let id = ObjectID.generate()
            let createdAt = BSON.stored(new.createdAt)
            let duplicate = try connection.insertOne(
                connection.context.rooms,
                [
                    "_id": .objectID(id), "name": .string(new.name), "key": .string(new.key),
                    "created_by": .string(new.createdBy), "created_at": .date(createdAt),
                    "members": .array([.string(new.createdBy)]),
                ])
            if let duplicate {
                switch duplicate.field {
                case "_id": break  // our own insert, retried by libmongoc after a lost reply
                case "key", nil: throw .duplicate(.roomKey)
                default: throw .unavailable("refused by a unique index: \(duplicate.message)")
                }
            }
            return Room(
                id: id.hex, name: new.name, key: new.key, createdBy: new.createdBy, createdAt: createdAt,
                members: [new.createdBy])
        }
    }

    public func room(key: String) async throws(StoreError) -> Room? {
        try await perform { connection throws(StoreError) -> Room? in
            guard let document = try connection.findOne(connection.context.rooms, filter: ["key": .string(key)]) else {
                return nil
            }
            return Self.room(from: document, logger: connection.context.logger)
        }
    }

    public func rooms(createdBy userID: String) async throws(StoreError) -> [Room] {
        try await perform { connection throws(StoreError) -> [Room] in
            try connection.find(connection.context.rooms, filter: ["created_by": .string(userID)])
                .compactMap { Self.room(from: $0, logger: connection.context.logger) }
        }
    }

    /// The ban check is part of the update's query, so a ban and a join cannot interleave.
    public func addMember(_ userID: String, toRoom key: String) async throws(StoreError) -> Room? {
        let added = try await modifyRoom(
            query: ["key": .string(key), "banned": .document(["$ne": .string(userID)])],
            update: ["$addToSet": .document(["members": .string(userID)])])
        if let added { return added }
        return try await room(key: key)
    }

    public func removeMember(_ userID: String, fromRoom key: String) async throws(StoreError) -> Room? {
        try await modifyRoom(key: key, update: ["$pull": .document(["members": .string(userID)])])
    }

    public func deleteRoom(key: String, ownedBy userID: String) async throws(StoreError) -> Bool {
        try await perform { connection throws(StoreError) -> Bool in
            try connection.deleteOne(
                connection.context.rooms, filter: ["key": .string(key), "created_by": .string(userID)]) > 0
        }
    }

    public func rooms(memberOf userID: String) async throws(StoreError) -> [Room] {
        try await perform { connection throws(StoreError) -> [Room] in
            try connection.find(connection.context.rooms, filter: ["members": .string(userID)])
                .compactMap { Self.room(from: $0, logger: connection.context.logger) }
        }
    }

    public func updateRoom(key: String, _ change: RoomChange) async throws(StoreError) -> Room? {
        switch change {
        case .rename(let name):
            return try await modifyRoom(key: key, update: ["$set": .document(["name": .string(name)])])
        case .key(let newKey):
            return try await modifyRoom(key: key, update: ["$set": .document(["key": .string(newKey)])])
        case .mute(let id):
            return try await modifyRoom(key: key, update: ["$addToSet": .document(["muted": .string(id)])])
        case .unmute(let id):
            return try await modifyRoom(key: key, update: ["$pull": .document(["muted": .string(id)])])
        case .ban(let id):
            return try await modifyRoom(
                key: key,
                update: [
                    "$addToSet": .document(["banned": .string(id)]),
                    "$pull": .document(["members": .string(id), "muted": .string(id)]),
                ])
        case .unban(let id):
            return try await modifyRoom(key: key, update: ["$pull": .document(["banned": .string(id)])])
        }
    }

    private func modifyRoom(key: String, update: KeyValuePairs<String, BSONValue>) async throws(StoreError) -> Room? {
        try await modifyRoom(query: ["key": .string(key)], update: update)
    }

    private func modifyRoom(
        query: KeyValuePairs<String, BSONValue>, update: KeyValuePairs<String, BSONValue>
    ) async throws(StoreError) -> Room? {
        try await perform { connection throws(StoreError) -> Room? in
            guard
                let document = try connection.findAndModify(
                    connection.context.rooms, query: query, update: update)
            else { return nil }
            return Self.room(from: document, logger: connection.context.logger)
        }
    }

    // MARK: Messages

    public func insertMessage(_ new: NewChatMessage) async throws(StoreError) -> ChatMessage {
        try await perform { connection throws(StoreError) -> ChatMessage in
            let id = ObjectID.generate()
            let createdAt = BSON.stored(new.createdAt)
            if let duplicate = try connection.insertOne(
                connection.context.messages,
                [
                    "_id": .objectID(id), "room": .string(new.roomID), "user_id": .string(new.userID),
                    "username": .string(new.username), "message": .string(new.text),
                    "timestamp": .string(new.timestamp),
                    "created_at": .date(createdAt),
                ]), duplicate.field != "_id"
            {
                throw .unavailable("refused by a unique index: \(duplicate.message)")
            }
            var content = new
            content.createdAt = createdAt
            return ChatMessage(id: id.hex, content)
        }
    }

    /// Newest first by (`created_at`, `_id`), so messages of one millisecond keep an
    /// order; the cursor is `<created_at ms>_<_id hex>` of the oldest message shown.
    public func messages(inRoom roomID: String, before cursor: String?, limit: Int) async throws(StoreError)
        -> MessagePage?
    {
        let bound = cursor.map(Self.parseCursor)
        if case .some(nil) = bound { return nil }
        let fetch = Int64(max(limit, 0)) + 1  // one more tells whether an older page exists
        return try await perform { connection throws(StoreError) -> MessagePage? in
            let collection = connection.context.messages
            let newestFirst: KeyValuePairs<String, BSONValue> = ["created_at": .int32(-1), "_id": .int32(-1)]
            let documents: [BSONFields]
            if case .some(.some(let bound)) = bound {
                documents = try connection.find(
                    collection,
                    filter: [
                        "room": .string(roomID),
                        "$or": .array([
                            .document(["created_at": .document(["$lt": .date(bound.date)])]),
                            .document(["created_at": .date(bound.date), "_id": .document(["$lt": .objectID(bound.id)])]
                            ),
                        ]),
                    ], sort: newestFirst, limit: fetch)
            } else {
                documents = try connection.find(
                    collection, filter: ["room": .string(roomID)], sort: newestFirst, limit: fetch)
            }
            return Self.page(newestFirst: documents, limit: limit)
        }
    }

    /// Messages after one the page shows: those later by (`created_at`, `_id`).
    public func messages(inRoom roomID: String, after messageID: String, limit: Int) async throws(StoreError)
        -> MessagePage?
    {
        guard let id = ObjectID(hex: messageID) else { return nil }
        let fetch = Int64(max(limit, 0)) + 1  // one more tells whether more came after the mark
        return try await perform { connection throws(StoreError) -> MessagePage? in
            let collection = connection.context.messages
            guard
                let mark = try connection.findOne(collection, filter: ["_id": .objectID(id), "room": .string(roomID)]),
                let markDate = mark.date("created_at")
            else { return nil }
            let documents = try connection.find(
                collection,
                filter: [
                    "room": .string(roomID),
                    "$or": .array([
                        .document(["created_at": .document(["$gt": .date(markDate)])]),
                        .document(["created_at": .date(markDate), "_id": .document(["$gt": .objectID(id)])]),
                    ]),
                ], sort: ["created_at": .int32(-1), "_id": .int32(-1)], limit: fetch)
            return Self.page(newestFirst: documents, limit: limit)
        }
    }

    /// A page, oldest first, from documents fetched newest first with one extra; the
    /// cursor is `<created_at ms>_<_id hex>` of the oldest message in it.
    static func page(newestFirst documents: [BSONFields], limit: Int) -> MessagePage {
        let messages = documents.prefix(max(limit, 0)).compactMap(Self.message(from:))
        let cursor = documents.count > limit ? messages.last.map { "\(BSON.milliseconds($0.createdAt))_\($0.id)" } : nil
        return MessagePage(messages: messages.reversed(), olderCursor: cursor)
    }

    static func parseCursor(_ cursor: String) -> (date: Date, id: ObjectID)? {
        let parts = cursor.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, let milliseconds = Int64(parts[0]), let id = ObjectID(hex: String(parts[1])) else {
            return nil
        }
        return (BSON.date(milliseconds: milliseconds), id)
    }

    public func deleteMessages(inRoom roomID: String) async throws(StoreError) {
        try await perform { connection throws(StoreError) in
            _ = try connection.deleteMany(connection.context.messages, filter: ["room": .string(roomID)])
        }
    }

    static func message(from document: BSONFields) -> ChatMessage? {
        guard let id = document.objectID("_id") else { return nil }
        return ChatMessage(
            id: id.hex,
            NewChatMessage(
                roomID: document.string("room") ?? "", userID: document.string("user_id") ?? "",
                username: document.string("username") ?? "", text: document.string("message") ?? "",
                timestamp: document.string("timestamp") ?? "", createdAt: document.date("created_at") ?? .distantPast))
    }

    // MARK: Revoked tokens

    public func revokeToken(id: String, expiresAt: Date) async throws(StoreError) {
        try await perform { connection throws(StoreError) in
            let collection = connection.context.revokedTokens
            // Expired entries go on the way, so the collection holds only live tokens.
            _ = try connection.deleteMany(collection, filter: ["expires_at": .document(["$lt": .date(Date())])])
            if let duplicate = try connection.insertOne(
                collection,
                [
                    "_id": .objectID(ObjectID.generate()), "jti": .string(id),
                    "expires_at": .date(BSON.stored(expiresAt)),
                ]
            ), duplicate.field != "jti" {
                throw .unavailable("refused by a unique index: \(duplicate.message)")
            }
        }
    }

    public func isTokenRevoked(anyOf ids: [String]) async throws(StoreError) -> Bool {
        try await perform { connection throws(StoreError) -> Bool in
            let now = Date()
            let filter: KeyValuePairs<String, BSONValue> = [
                "jti": .document(["$in": .array(ids.map { .string($0) })]),
                "expires_at": .document(["$gt": .date(now)]),
            ]
            return try connection.findOne(connection.context.revokedTokens, filter: filter) != nil
        }
    }

    // MARK: Health

    public func ping() async throws(StoreError) {
        try await perform { connection throws(StoreError) in
            _ = try connection.command(database: "admin", ["ping": .int32(1)])
        }
    }

    /// Stops the store's threads (waiting for running operations) and destroys the
    /// client pool (about half a second: libmongoc joins its monitor threads). Later
    /// operations fail with `.unavailable`. Safe to call twice.
    public func close() async {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        try? await threads.shutdownGracefully()
        // Destroying the pool joins its monitor threads (about half a second): a
        // blocking call too, so not on the concurrency pool either.
        let pool = context.pool
        do {
            try await NIOThreadPool.singleton.runIfActive { pool.destroy() }
        } catch {
            pool.destroy()
        }
    }

    deinit {
        // Without close(): no operation is running (each holds the store until it
        // ends). Stop the threads, then destroy the pool (on a Dispatch thread).
        if !closed.withLock({ $0 }) {
            let pool = context.pool
            threads.shutdownGracefully { _ in pool.destroy() }
        }
    }

    // MARK: Running libmongoc calls

    /// Runs `work` with a pooled client on one of the store's threads.
    private func perform<T: Sendable>(
        _ work: @escaping @Sendable (MongoConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        if closed.withLock({ $0 }) { throw .unavailable("the MongoDB store is closed") }
        let context = self.context
        let enqueued = ContinuousClock.now
        do {
            return try await threads.runIfActive { () throws -> T in
                // Behind other operations during an outage each of which waits up to the
                // server selection timeout: give up rather than wait several of them.
                let waited = ContinuousClock.now - enqueued
                if waited > context.queueBudget {
                    throw StoreError.unavailable(
                        "the MongoDB store is overloaded: the operation waited \(waited) for a database thread")
                }
                return try context.pool.withClient { client throws(StoreError) -> T in
                    try work(MongoConnection(client: client, context: context))
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("the MongoDB store is closed")
        }
    }

    /// Runs a blocking call on NIO's shared blocking pool (for what happens before the
    /// store has threads of its own, or after they stopped).
    private static func offload<T: Sendable>(
        _ work: @escaping @Sendable () throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { () throws -> T in try work() }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("no thread to run libmongoc on: \(error)")
        }
    }

    private func createIndexes() async throws(StoreError) {
        let failures = try await perform { connection throws(StoreError) -> [String] in
            let context = connection.context
            var failures: [String] = []
            for (collection, field, unique) in [
                (context.users, "username", true), (context.users, "email", true), (context.rooms, "key", true),
                (context.rooms, "created_by", false), (context.revokedTokens, "jti", true),
                // Each revocation deletes the expired ones first: a range on this index.
                (context.revokedTokens, "expires_at", false),
            ] {
                if let message = try connection.createIndex(collection: collection, field: field, unique: unique) {
                    let what = unique ? "unique index" : "index"
                    let consequence =
                        unique
                        ? "the database will not refuse a duplicate \(field) until the data is fixed"
                        : "finding by \(field) will be slower"
                    failures.append(
                        "MongoDB: cannot create the \(what) on \(context.database).\(collection).\(field) (\(message)); "
                            + "carrying on without it: \(consequence)")
                }
            }
            if let message = try connection.createIndex(
                collection: context.messages, keys: ["room": .int32(1), "created_at": .int32(-1), "_id": .int32(-1)],
                name: "room_1_created_at_-1__id_-1", unique: false)
            {
                failures.append(
                    "MongoDB: cannot create the index on \(context.database).\(context.messages) (room, created_at) (\(message)); "
                        + "carrying on without it: loading history will be slower")
            }
            return failures
        }
        for failure in failures { context.logger.warning("\(failure)") }
    }

    // MARK: Documents

    /// A user from a document, as the old backend or this store wrote it. Extra fields
    /// are ignored, a missing `created_at` is the distant past, a missing string is
    /// empty; a document without an ObjectId `_id` is not a user.
    static func user(from document: BSONFields, logger: Logger) -> User? {
        guard let id = document.objectID("_id") else {
            logger.warning("MongoDB: ignoring a user document whose _id is not an ObjectId")
            return nil
        }
        return User(
            id: id.hex,
            username: document.string("username") ?? "",
            email: document.string("email") ?? "",
            passwordHash: document.string("password") ?? "",
            createdAt: document.date("created_at") ?? .distantPast
        )
    }

    /// A room from a document; `created_by` and members may be id strings (what the
    /// old backend writes) or ObjectIds; missing `members` is empty.
    static func room(from document: BSONFields, logger: Logger) -> Room? {
        guard let id = document.objectID("_id") else {
            logger.warning("MongoDB: ignoring a room document whose _id is not an ObjectId")
            return nil
        }
        return Room(
            id: id.hex,
            name: document.string("name") ?? "",
            key: document.string("key") ?? "",
            createdBy: document["created_by"]?.idString ?? "",
            createdAt: document.date("created_at") ?? .distantPast,
            members: document.array("members")?.compactMap(\.idString) ?? [],
            muted: document.array("muted")?.compactMap(\.idString) ?? [],
            banned: document.array("banned")?.compactMap(\.idString) ?? []
        )
    }

    // MARK: URI

    private static func setIfAbsent(_ uri: OpaquePointer, _ option: String, _ value: Int32) {
        if !mongoc_uri_has_option(uri, option) { _ = mongoc_uri_set_option_as_int32(uri, option, value) }
    }

    /// Whole milliseconds, at least 1, at most Int32.max.
    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let total =
            overflow ? Int64.max : product.addingReportingOverflow(attoseconds / 1_000_000_000_000_000).partialValue
        return Int32(clamping: max(total, 1))
    }

    /// "host:port[,host:port...]" or "<srv host> (SRV)": never the credentials.
    static func hosts(of uri: OpaquePointer) -> String {
        if let srv = mongoc_uri_get_srv_hostname(uri) { return "\(String(cString: srv)) (SRV)" }
        var names: [String] = []
        var host = mongoc_uri_get_hosts(uri)
        while let current = host {
            let name = withUnsafeBytes(of: current.pointee.host_and_port) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            names.append(name)
            host = UnsafePointer(current.pointee.next)
        }
        return names.isEmpty ? "(no host)" : names.joined(separator: ",")
    }

    /// What `description` says for `uri`, without connecting (nil for a bad URI).
    static func describe(uri: String, database: String) -> String? {
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else { return nil }
        defer { mongoc_uri_destroy(parsed) }
        return "MongoDB \(database) at \(hosts(of: parsed))"
    }
}

extension BSONElement {
    /// An id as the old backend stores references: a string, or an ObjectId's hex.
    var idString: String? {
        switch self {
        case .string(let value): return value
        case .objectID(let id): return id.hex
        default: return nil
        }
    }
}
