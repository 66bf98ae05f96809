import ChatDomain
import Foundation
import Logging
import Testing

@testable import ChatMongoStore

// The BSON helpers and the error parsing, without a server.

@Suite("BSON helpers")
struct BSONTests {
    @Test("ObjectIds: 24 hex digits parse, anything else is nil; hex is lowercase")
    func objectIDs() {
        let id = ObjectID.generate()
        #expect(id.hex.count == 24)
        #expect(ObjectID(hex: id.hex) == id)
        #expect(ObjectID(hex: id.hex.uppercased())?.hex == id.hex)
        #expect(ObjectID.generate() != id)
        for garbage in [
            "", "abc", String(repeating: "g", count: 24), id.hex + "0", String(id.hex.dropLast()),
            "\(id.hex.prefix(23))\u{0}", "ééééééééééééé", " \(id.hex.dropFirst())",
        ] {
            #expect(ObjectID(hex: garbage) == nil, "\(garbage.debugDescription)")
        }
    }

    @Test("documents built and decoded keep types, order and exact strings")
    func roundTrip() throws {
        let id = ObjectID.generate()
        let date = Date(timeIntervalSince1970: 1_700_000_000.123_6)
        let inner: KeyValuePairs<String, BSONValue> = ["deep": .bool(true)]
        let document = try BSON.document([
            "_id": .objectID(id), "s": .string("Zoë <script>\u{0}x"), "empty": .string(""), "i": .int32(-7),
            "l": .int64(1 << 40), "b": .bool(false), "d": .date(date),
            "a": .array([.string("one"), .objectID(id), .int32(3), .array([])]), "o": .document(inner),
        ])
        defer { BSON.release(document) }
        let fields = BSON.decode(document)
        #expect(fields.keys == ["_id", "s", "empty", "i", "l", "b", "d", "a", "o"])
        #expect(fields.objectID("_id") == id)
        #expect(fields.string("s") == "Zoë <script>\u{0}x")
        #expect(fields.string("empty") == "")
        #expect(fields.int("i") == -7)
        #expect(fields.int("l") == 1 << 40)
        #expect(fields.bool("b") == false)
        #expect(fields.date("d") == Date(timeIntervalSince1970: 1_700_000_000.124))
        let array = try #require(fields.array("a"))
        #expect(array.count == 4)
        #expect(array[0].stringValue == "one")
        #expect(array[1].objectIDValue == id)
        #expect(array[2].intValue == 3)
        #expect(array[3].arrayValue?.isEmpty == true)
        #expect(fields.document("o")?.bool("deep") == true)
        // Wrong types and missing fields are nil, not crashes.
        #expect(fields.string("i") == nil)
        #expect(fields.date("s") == nil)
        #expect(fields.objectID("missing") == nil)
        #expect(fields.array("o") == nil)
        #expect(BSON.json(document).contains("\"$oid\" : \"\(id.hex)\""))
    }

    @Test("dates: whole milliseconds, extreme dates do not trap")
    func dates() {
        #expect(BSON.milliseconds(Date(timeIntervalSince1970: 0.0004)) == 0)
        #expect(BSON.milliseconds(Date(timeIntervalSince1970: -1.5)) == -1500)
        #expect(BSON.stored(.distantPast) == .distantPast)
        #expect(BSON.milliseconds(Date(timeIntervalSince1970: .infinity)) == Int64.max)
        #expect(BSON.milliseconds(Date(timeIntervalSince1970: -.infinity)) == Int64.min)
        #expect(BSON.milliseconds(Date(timeIntervalSince1970: .nan)) != 0 || true)
        let now = Date()
        #expect(BSON.stored(BSON.stored(now)) == BSON.stored(now))
    }

    @Test("documents from other writers: extra fields ignored, gaps tolerated")
    func lenientModels() throws {
        let id = ObjectID.generate()
        let owner = ObjectID.generate()
        let room = try BSON.document([
            "_id": .objectID(id), "name": .string("n"), "key": .string("k"), "created_by": .objectID(owner),
            "members": .array([.string("a"), .int32(5), .objectID(owner)]), "extra": .string("ignored"),
        ])
        defer { BSON.release(room) }
        let decoded = try #require(MongoStore.room(from: BSON.decode(room), logger: Logger(label: "t")))
        #expect(
            decoded
                == Room(
                    id: id.hex, name: "n", key: "k", createdBy: owner.hex, createdAt: .distantPast,
                    members: ["a", owner.hex]))

        let user = try BSON.document(["_id": .objectID(id), "username": .string("u"), "nickname": .string("x")])
        defer { BSON.release(user) }
        #expect(
            MongoStore.user(from: BSON.decode(user), logger: Logger(label: "t"))
                == User(id: id.hex, username: "u", email: "", passwordHash: "", createdAt: .distantPast))

        let notAnObjectID = try BSON.document(["_id": .string("abc"), "username": .string("u")])
        defer { BSON.release(notAnObjectID) }
        #expect(MongoStore.user(from: BSON.decode(notAnObjectID), logger: Logger(label: "t")) == nil)
    }

    @Test("which field a duplicate-key error names, in the formats MongoDB versions write")
    func duplicateFields() {
        let messages: [(String, String?)] = [
            (
                "E11000 duplicate key error collection: chatify_db.users index: username_1 dup key: { username: \"email\" }",
                "username"
            ),
            (
                "E11000 duplicate key error collection: chatify_db.users index: email_1 dup key: { email: \"a@x\" }",
                "email"
            ),
            ("E11000 duplicate key error index: chatify_db.rooms.$key_1  dup key: { : \"k\" }", "key"),
            ("E11000 duplicate key error index: chatify_db.users.$custom  dup key: { : \"k\" }", nil),
            ("E11000 duplicate key error collection: db.rooms index: key_1 dup key: { key: \"k\" }", "key"),
            (
                "E11000 duplicate key error collection: db.users index: uniq_name dup key: { username: \"a\" }",
                "username"
            ),
            (
                "E11000 duplicate key error collection: db.users index: _id_ dup key: { _id: ObjectId('6b0f61c3a3f19532685b2513') }",
                "_id"
            ),
            (
                "Plan executor error during update :: caused by :: E11000 duplicate key error collection: db.users index: email_1 dup key: { email: \"a\" }",
                "email"
            ),
            ("something else entirely", nil),
        ]
        for (message, field) in messages {
            #expect(DuplicateKey.field(keyPattern: nil, message: message) == field, "\(message)")
        }
        let pattern = BSONFields(fields: [("email", .int32(1))])
        #expect(DuplicateKey.field(keyPattern: pattern, message: "index: username_1") == "email")
    }

    @Test("durations to milliseconds")
    func durations() {
        #expect(MongoStore.milliseconds(.seconds(3)) == 3000)
        #expect(MongoStore.milliseconds(.milliseconds(1500)) == 1500)
        #expect(MongoStore.milliseconds(.microseconds(10)) == 1)
        #expect(MongoStore.milliseconds(.zero) == 1)
        #expect(MongoStore.milliseconds(.seconds(Int64.max)) == Int32.max)
    }
}
