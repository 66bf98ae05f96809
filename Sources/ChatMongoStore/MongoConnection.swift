import CMongoc
import ChatDomain
import Foundation
import Logging
import Synchronization

/// A `mongoc_client_pool_t`: thread-safe, it owns the monitor threads and reconnects
/// by itself when a server goes away and comes back.
final class ClientPool: @unchecked Sendable {
    // @unchecked: the pointer is only used through libmongoc's thread-safe pool API
    // (pop/push) and destroyed once, after the store's threads have stopped.
    private let pointer: OpaquePointer
    private let destroyed = Mutex(false)

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Takes a client out of the pool for `body` and puts it back after. Blocks while
    /// every client is in use (never with the store's thread count below the pool's).
    func withClient<R>(_ body: (OpaquePointer) throws(StoreError) -> R) throws(StoreError) -> R {
        guard !destroyed.withLock({ $0 }) else { throw .unavailable("the MongoDB store is closed") }
        guard let client = mongoc_client_pool_pop(pointer) else {
            throw .unavailable("no MongoDB client could be taken from the pool")
        }
        defer { mongoc_client_pool_push(pointer, client) }
        return try body(client)
    }

    /// Destroys the pool (closing its connections and stopping its monitors); only the
    /// first call does something. No client may be out of the pool.
    func destroy() {
        let first = destroyed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { mongoc_client_pool_destroy(pointer) }
    }

    deinit { destroy() }
}

/// What every operation needs, captured by the closures that run on the store's
/// threads (never the store itself, so its deinit cannot race an operation).
struct StoreContext: Sendable {
    let pool: ClientPool
    let database: String
    let users: String
    let rooms: String
    /// Chat messages (`{room: <room id>, user_id, username, message, timestamp, created_at}`).
    let messages: String
    /// Revoked token ids (`{jti, expires_at}`), the logout denylist.
    let revokedTokens: String
    let logger: Logger
    /// How long an operation may wait for a free database thread before it gives up.
    let queueBudget: Duration
}

/// A duplicate-key write error, and which indexed field it was about when the server
/// said so.
struct DuplicateKey: Error {
    /// `username`, `email`, `key`, `_id`, ... or nil when the error did not tell.
    var field: String?
    var message: String

    /// The server's duplicate-key codes: 11000 (and the legacy 11001 and 12582).
    static let codes: Set<UInt32> = [11000, 11001, 12582]

    /// Pymongo's default names for the single-field indexes this store creates.
    static let knownIndexes = ["_id_": "_id", "username_1": "username", "email_1": "email", "key_1": "key"]

    /// The duplicate-key error in `error`/`reply`, or nil when it is another failure.
    init?(error: bson_error_t, reply: BSONFields) {
        let writeError = reply.array("writeErrors")?.first?.documentValue
        let code = writeError?.int("code") ?? reply.int("code") ?? Int64(error.code)
        guard MongoFailure.isServerSide(error) || writeError != nil, let code32 = UInt32(exactly: code),
            Self.codes.contains(code32)
        else { return nil }
        let text = writeError?.string("errmsg") ?? reply.string("errmsg") ?? error.text
        self.message = text
        self.field = Self.field(
            keyPattern: writeError?.document("keyPattern") ?? reply.document("keyPattern"), message: text)
    }

    /// From the key pattern when the server sends one (MongoDB 4.2+), else from the
    /// index name or the "dup key: { field: ... }" part of the message, as every
    /// MongoDB version writes it:
    /// `E11000 duplicate key error collection: db.users index: username_1 dup key: { username: "a" }`
    /// (and before 3.4: `E11000 duplicate key error index: db.users.$username_1 dup key: { : "a" }`).
    static func field(keyPattern: BSONFields?, message: String) -> String? {
        if let first = keyPattern?.keys.first { return first }
        if var name = word(after: "index: ", in: message) {
            // MongoDB 2.x/3.x name the index "db.collection.$name".
            if let dollar = name.lastIndex(of: "$") { name = String(name[name.index(after: dollar)...]) }
            if let known = knownIndexes[name] { return known }
            // "field_1" / "field_-1": a single-field index under its default name.
            if let underscore = name.lastIndex(of: "_"), ["1", "-1"].contains(name[name.index(after: underscore)...]) {
                return String(name[..<underscore])
            }
        }
        if let range = message.range(of: "dup key: { ") {
            let rest = message[range.upperBound...]
            if let colon = rest.firstIndex(of: ":") {
                let field = rest[..<colon].trimmingCharacters(in: .whitespaces)
                if !field.isEmpty { return field }
            }
        }
        return nil
    }

    private static func word(after marker: String, in text: String) -> String? {
        guard let range = text.range(of: marker) else { return nil }
        let word = text[range.upperBound...].prefix { !$0.isWhitespace }
        return word.isEmpty ? nil : String(word)
    }
}

enum MongoFailure {
    /// True when the server answered with an error (a command or write failure), false
    /// for network, server-selection and client-side failures.
    static func isServerSide(_ error: bson_error_t) -> Bool {
        error.domain == MONGOC_ERROR_SERVER.rawValue || error.domain == MONGOC_ERROR_WRITE_CONCERN.rawValue
    }

    static func unavailable(_ error: bson_error_t) -> StoreError {
        .unavailable(error.text)
    }
}

/// One client taken from the pool, for the duration of one store operation. All of
/// it runs on a store thread; every libmongoc object it makes is freed before it
/// returns.
struct MongoConnection {
    let client: OpaquePointer
    let context: StoreContext

    func withCollection<R>(_ name: String, _ body: (OpaquePointer) throws(StoreError) -> R) throws(StoreError) -> R {
        guard let collection = mongoc_client_get_collection(client, context.database, name) else {
            throw .unavailable("libmongoc returned no collection for \(context.database).\(name)")
        }
        defer { mongoc_collection_destroy(collection) }
        return try body(collection)
    }

    /// Runs a command on a database and returns its reply.
    func command(database: String, _ command: KeyValuePairs<String, BSONValue>) throws(StoreError) -> BSONFields {
        let document = try BSON.document(command)
        defer { BSON.release(document) }
        let reply = BSON.new()
        defer { BSON.release(reply) }
        var error = bson_error_t()
        guard mongoc_client_command_simple(client, database, document, nil, reply, &error) else {
            throw MongoFailure.unavailable(error)
        }
        return BSON.decode(reply)
    }

    /// Creates an index; a failure the server reports (duplicates in the data, an
    /// index of that name with other options, no privilege) comes back as its message,
    /// anything else (the server is gone) is thrown.
    func createIndex(
        collection name: String, field: String, unique: Bool
    ) throws(StoreError) -> String? {
        try createIndex(collection: name, keys: [field: .int32(1)], name: "\(field)_1", unique: unique)
    }

    /// The same for an index on several fields (`keys` in order, 1 or -1 each).
    func createIndex(
        collection name: String, keys: KeyValuePairs<String, BSONValue>, name indexName: String, unique: Bool
    ) throws(StoreError) -> String? {
        try withCollection(name) { collection throws(StoreError) -> String? in
            let index: KeyValuePairs<String, BSONValue> = [
                "key": .document(keys), "name": .string(indexName), "unique": .bool(unique),
            ]
            let command = try BSON.document(["createIndexes": .string(name), "indexes": .array([.document(index)])])
            defer { BSON.release(command) }
            let reply = BSON.new()
            defer { BSON.release(reply) }
            var error = bson_error_t()
            if mongoc_collection_write_command_with_opts(collection, command, nil, reply, &error) { return nil }
            if MongoFailure.isServerSide(error) { return error.text }
            throw MongoFailure.unavailable(error)
        }
    }

    /// The documents matching `filter`, in `sort` order (`_id` by default), at most
    /// `limit` of them.
    func find(
        _ name: String, filter: KeyValuePairs<String, BSONValue>,
        sort: KeyValuePairs<String, BSONValue> = ["_id": .int32(1)],
        limit: Int64? = nil
    ) throws(StoreError) -> [BSONFields] {
        try withCollection(name) { collection throws(StoreError) -> [BSONFields] in
            let filterDocument = try BSON.document(filter)
            defer { BSON.release(filterDocument) }
            let options: OpaquePointer
            if let limit {
                options = try BSON.document(["sort": .document(sort), "limit": .int64(limit)])
            } else {
                options = try BSON.document(["sort": .document(sort)])
            }
            defer { BSON.release(options) }
            guard let cursor = mongoc_collection_find_with_opts(collection, filterDocument, options, nil) else {
                throw .unavailable("libmongoc returned no cursor")
            }
            defer { mongoc_cursor_destroy(cursor) }
            var results: [BSONFields] = []
            var current: OpaquePointer?
            while mongoc_cursor_next(cursor, &current) {
                // `current` is owned by the cursor and valid until the next call.
                if let current { results.append(BSON.decode(current)) }
            }
            var error = bson_error_t()
            if mongoc_cursor_error(cursor, &error) { throw MongoFailure.unavailable(error) }
            return results
        }
    }

    func findOne(_ name: String, filter: KeyValuePairs<String, BSONValue>) throws(StoreError) -> BSONFields? {
        try find(name, filter: filter, limit: 1).first
    }

    /// Inserts one document; a duplicate-key error is returned, others are thrown.
    func insertOne(_ name: String, _ document: KeyValuePairs<String, BSONValue>) throws(StoreError) -> DuplicateKey? {
        try withCollection(name) { collection throws(StoreError) -> DuplicateKey? in
            let built = try BSON.document(document)
            defer { BSON.release(built) }
            let reply = BSON.new()
            defer { BSON.release(reply) }
            var error = bson_error_t()
            if mongoc_collection_insert_one(collection, built, nil, reply, &error) { return nil }
            if let duplicate = DuplicateKey(error: error, reply: BSON.decode(reply)) { return duplicate }
            throw MongoFailure.unavailable(error)
        }
    }

    /// Updates at most one document; a duplicate-key error is returned, others thrown.
    func updateOne(
        _ name: String, filter: KeyValuePairs<String, BSONValue>, update: KeyValuePairs<String, BSONValue>
    ) throws(StoreError) -> DuplicateKey? {
        try withCollection(name) { collection throws(StoreError) -> DuplicateKey? in
            let selector = try BSON.document(filter)
            defer { BSON.release(selector) }
            let change = try BSON.document(update)
            defer { BSON.release(change) }
            let reply = BSON.new()
            defer { BSON.release(reply) }
            var error = bson_error_t()
            if mongoc_collection_update_one(collection, selector, change, nil, reply, &error) { return nil }
            if let duplicate = DuplicateKey(error: error, reply: BSON.decode(reply)) { return duplicate }
            throw MongoFailure.unavailable(error)
        }
    }

    /// Applies `update` to the first document matching `query` and returns the
    /// document as it is afterwards; nil when nothing matched.
    func findAndModify(
        _ name: String, query: KeyValuePairs<String, BSONValue>, update: KeyValuePairs<String, BSONValue>
    ) throws(StoreError) -> BSONFields? {
        try withCollection(name) { collection throws(StoreError) -> BSONFields? in
            let queryDocument = try BSON.document(query)
            defer { BSON.release(queryDocument) }
            let updateDocument = try BSON.document(update)
            defer { BSON.release(updateDocument) }
            guard let options = mongoc_find_and_modify_opts_new() else {
                throw .unavailable("libmongoc returned no findAndModify options")
            }
            defer { mongoc_find_and_modify_opts_destroy(options) }
            guard mongoc_find_and_modify_opts_set_update(options, updateDocument),
                mongoc_find_and_modify_opts_set_flags(options, MONGOC_FIND_AND_MODIFY_RETURN_NEW)
            else { throw .unavailable("libmongoc refused the findAndModify options") }
            let reply = BSON.new()
            defer { BSON.release(reply) }
            var error = bson_error_t()
            guard mongoc_collection_find_and_modify_with_opts(collection, queryDocument, options, reply, &error) else {
                // Only rooms are modified this way, and only their key is unique.
                if DuplicateKey(error: error, reply: BSON.decode(reply)) != nil { throw .duplicate(.roomKey) }
                throw MongoFailure.unavailable(error)
            }
            return BSON.decode(reply).document("value")
        }
    }

    /// Deletes every matching document; returns how many were deleted.
    func deleteMany(_ name: String, filter: KeyValuePairs<String, BSONValue>) throws(StoreError) -> Int64 {
        try delete(name, filter: filter, all: true)
    }

    /// Deletes at most one document; returns how many were deleted.
    func deleteOne(_ name: String, filter: KeyValuePairs<String, BSONValue>) throws(StoreError) -> Int64 {
        try delete(name, filter: filter, all: false)
    }

    private func delete(_ name: String, filter: KeyValuePairs<String, BSONValue>, all: Bool) throws(StoreError) -> Int64
    {
        try withCollection(name) { collection throws(StoreError) -> Int64 in
            let selector = try BSON.document(filter)
            defer { BSON.release(selector) }
            let reply = BSON.new()
            defer { BSON.release(reply) }
            var error = bson_error_t()
            let deleted =
                all
                ? mongoc_collection_delete_many(collection, selector, nil, reply, &error)
                : mongoc_collection_delete_one(collection, selector, nil, reply, &error)
            guard deleted else { throw MongoFailure.unavailable(error) }
            return BSON.decode(reply).int("deletedCount") ?? 0
        }
    }
}
