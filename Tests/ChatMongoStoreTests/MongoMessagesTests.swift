import ChatDomain
import Foundation
import Testing

@testable import ChatMongoStore

// Room activity on MongoDB: the `messages` collection and the owner's room changes.
extension MongoStoreTests {
    @Suite("Messages and room changes")
    struct MessagesAndRoomChanges {
        func message(_ text: String, room: String, at date: Date) -> NewChatMessage {
            NewChatMessage(
                roomID: room, userID: "u1", username: "alice", text: text, timestamp: "10:00", createdAt: date)
        }

        /// m0…m4 in roomA and other0…other4 in roomB; three of each share one millisecond,
        /// so only the _id keeps their order.
        func postFive(to store: MongoStore) async throws -> [ChatMessage] {
            let dates = [
                sampleDate, sampleDate.addingTimeInterval(1), sampleDate.addingTimeInterval(1),
                sampleDate.addingTimeInterval(1), sampleDate.addingTimeInterval(2),
            ]
            var stored: [ChatMessage] = []
            for (index, date) in dates.enumerated() {
                stored.append(try await store.insertMessage(message("m\(index)", room: "roomA", at: date)))
                _ = try await store.insertMessage(message("other\(index)", room: "roomB", at: date))
            }
            return stored
        }

        @Test("messages page newest first by (created_at, _id), oldest first within a page; other rooms apart")
        func paging() async throws {
            let store = try await connect()
            let stored = try await postFive(to: store)
            #expect(stored[0].createdAt == Date(timeIntervalSince1970: 1_700_000_000.123))
            let first = try #require(try await store.messages(inRoom: "roomA", before: nil, limit: 2))
            #expect(first.messages.map(\.text) == ["m3", "m4"])
            #expect(first.messages == Array(stored[3...4]))
            let second = try #require(try await store.messages(inRoom: "roomA", before: first.olderCursor, limit: 2))
            #expect(second.messages.map(\.text) == ["m1", "m2"])
            let third = try #require(try await store.messages(inRoom: "roomA", before: second.olderCursor, limit: 2))
            #expect(third.messages.map(\.text) == ["m0"])
            #expect(third.olderCursor == nil)
            #expect(try await store.messages(inRoom: "roomA", before: "garbage", limit: 2) == nil)
            #expect(try await store.messages(inRoom: "roomA", before: "1_nothex", limit: 2) == nil)
            #expect(
                try await store.messages(inRoom: "empty", before: nil, limit: 50)
                    == MessagePage(messages: [], olderCursor: nil))

            try await store.deleteMessages(inRoom: "roomA")
            #expect(try await store.messages(inRoom: "roomA", before: nil, limit: 50)?.messages.isEmpty == true)
            #expect(try await store.messages(inRoom: "roomB", before: nil, limit: 50)?.messages.count == 5)
            await store.close()
        }

        @Test("the messages index on room + time exists")
        func index() async throws {
            let database = freshDatabase("idx")
            let store = try await connect(database: database)
            _ = try await store.insertMessage(message("hi", room: "r", at: sampleDate))
            let python = try await CompatPython.shared.path()
            let script = """
                import json, sys, pymongo
                client = pymongo.MongoClient(sys.argv[1])
                print(json.dumps({i["name"]: list(i["key"].items()) for i in client[sys.argv[2]]["messages"].list_indexes()}))
                """
            let result = try await runProcess(
                python, ["-c", script, try await MongoTestServer.shared.uri(), database], timeout: .seconds(60))
            try #require(result.status == 0, "\(result.output)")
            #expect(
                result.output.contains(
                    #""room_1_created_at_-1__id_-1": [["room", 1], ["created_at", -1], ["_id", -1]]"#),
                "\(result.output)")
            await store.close()
        }

        @Test("mute, ban, rename and a new key are stored on the room document; a taken key is .duplicate")
        func roomChanges() async throws {
            let store = try await connect()
            let owner = try await store.insertUser(newUser("owner"))
            let member = try await store.insertUser(newUser("member"))
            _ = try await store.insertRoom(newRoom("General", key: "AAAAAAAAAAA", by: owner.id))
            _ = try await store.insertRoom(newRoom("Taken", key: "TTTTTTTTTTT", by: owner.id))
            _ = try await store.addMember(member.id, toRoom: "AAAAAAAAAAA")

            #expect(try await store.updateRoom(key: "AAAAAAAAAAA", .mute(member.id))?.muted == [member.id])
            #expect(try await store.updateRoom(key: "AAAAAAAAAAA", .mute(member.id))?.muted == [member.id])
            #expect(try await store.updateRoom(key: "AAAAAAAAAAA", .unmute(member.id))?.muted == [])
            _ = try await store.updateRoom(key: "AAAAAAAAAAA", .mute(member.id))
            let banned = try #require(try await store.updateRoom(key: "AAAAAAAAAAA", .ban(member.id)))
            #expect(banned.banned == [member.id] && banned.muted == [] && banned.members == [owner.id])
            #expect(try await store.rooms(memberOf: member.id) == [])
            #expect(try await store.updateRoom(key: "AAAAAAAAAAA", .unban(member.id))?.banned == [])
            #expect(try await store.updateRoom(key: "AAAAAAAAAAA", .rename("Lounge"))?.name == "Lounge")

            await #expect(throws: StoreError.duplicate(.roomKey)) {
                try await store.updateRoom(key: "AAAAAAAAAAA", .key("TTTTTTTTTTT"))
            }
            let moved = try #require(try await store.updateRoom(key: "AAAAAAAAAAA", .key("NNNNNNNNNNN")))
            #expect(moved.key == "NNNNNNNNNNN" && moved.name == "Lounge")
            #expect(try await store.room(key: "AAAAAAAAAAA") == nil)
            #expect(try await store.room(key: "NNNNNNNNNNN") == moved)
            #expect(try await store.updateRoom(key: "nothing", .rename("x")) == nil)
            #expect(try await store.rooms(memberOf: owner.id).map(\.key) == ["NNNNNNNNNNN", "TTTTTTTTTTT"])
            await store.close()
        }

        @Test("adding a banned user leaves them out, in the same update as the ban check")
        func bannedUserIsNotAdded() async throws {
            let store = try await connect()
            let owner = try await store.insertUser(newUser("owner"))
            let member = try await store.insertUser(newUser("member"))
            _ = try await store.insertRoom(newRoom("General", key: "BBBBBBBBBBB", by: owner.id))
            _ = try await store.updateRoom(key: "BBBBBBBBBBB", .ban(member.id))
            let answer = try #require(try await store.addMember(member.id, toRoom: "BBBBBBBBBBB"))
            #expect(answer.isBanned(member.id) && !answer.isMember(member.id))
            #expect(try await store.room(key: "BBBBBBBBBBB")?.members == [owner.id])
            #expect(try await store.addMember(member.id, toRoom: "nothing") == nil)
            await store.close()
        }

        @Test("messages after one are those later by (created_at, _id), newest kept when over the limit")
        func messagesAfter() async throws {
            let store = try await connect()
            let stored = try await postFive(to: store)
            let after = try #require(try await store.messages(inRoom: "roomA", after: stored[1].id, limit: 10))
            #expect(after.messages == Array(stored[2...4]) && after.olderCursor == nil)
            let newest = try #require(try await store.messages(inRoom: "roomA", after: stored[0].id, limit: 2))
            #expect(newest.messages.map(\.text) == ["m3", "m4"] && newest.olderCursor != nil)
            #expect(try await store.messages(inRoom: "roomA", after: stored[4].id, limit: 10)?.messages == [])
            #expect(try await store.messages(inRoom: "roomB", after: stored[1].id, limit: 10) == nil)
            #expect(try await store.messages(inRoom: "roomA", after: "garbage", limit: 10) == nil)
            await store.close()
        }
    }
}
