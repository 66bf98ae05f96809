import ChatDomain
import ChatMemoryStore
import Foundation
import Testing

/// The room activity rules: history, moderation, rename, key rotation, paging.
@Suite("History, moderation and paging rules")
struct RoomActivityRulesTests {
    struct Setup {
        let chat: ChatService
        let owner: User
        let member: User
        let room: Room
    }

    func setup(store: any ChatStore = MemoryStore(), keys: [String] = []) async throws -> Setup {
        let chat = makeService(store: store, keys: keys)
        let owner = try await RoomTests().registered(chat, "owner")
        let member = try await RoomTests().registered(chat, "member")
        let room = try await chat.createRoom(named: "General", by: owner.id)
        _ = try await chat.joinRoom(key: room.key, userID: member.id)
        return Setup(chat: chat, owner: owner, member: member, room: room)
    }

    @Test("posted messages come back oldest first, newest page first, older pages through the cursor")
    func historyPaging() async throws {
        let s = try await setup()
        for number in 1...7 {
            _ = try await s.chat.postMessage("m\(number)", toRoom: s.room.key, by: s.member, timestamp: "10:0\(number)")
        }
        let newest = try await s.chat.history(ofRoom: s.room.key, for: s.owner.id, before: nil, limit: 3)
        #expect(newest.messages.map(\.text) == ["m5", "m6", "m7"])
        #expect(newest.messages.first?.username == "member")
        #expect(newest.messages.first?.timestamp == "10:05")
        let older = try await s.chat.history(ofRoom: s.room.key, for: s.owner.id, before: newest.olderCursor, limit: 3)
        #expect(older.messages.map(\.text) == ["m2", "m3", "m4"])
        let oldest = try await s.chat.history(ofRoom: s.room.key, for: s.owner.id, before: older.olderCursor, limit: 3)
        #expect(oldest.messages.map(\.text) == ["m1"])
        #expect(oldest.olderCursor == nil)
        #expect(
            try await s.chat.history(ofRoom: s.room.key, for: s.owner.id, before: nil, limit: nil).messages.count == 7)
    }

    @Test("history is for members only; a cursor the store did not make is refused")
    func historyRefusals() async throws {
        let s = try await setup()
        let stranger = try await RoomTests().registered(s.chat, "stranger")
        await #expect(throws: ChatRefusal.notMember) {
            try await s.chat.history(ofRoom: s.room.key, for: stranger.id, before: nil, limit: nil)
        }
        await #expect(throws: ChatRefusal.invalidCursor) {
            try await s.chat.history(ofRoom: s.room.key, for: s.owner.id, before: "not a cursor", limit: nil)
        }
        await #expect(throws: ChatRefusal.notMember) {
            try await s.chat.postMessage("hi", toRoom: s.room.key, by: stranger, timestamp: "10:00")
        }
    }

    @Test("deleting the room deletes its messages")
    func deleteWithRoom() async throws {
        let store = MemoryStore()
        let s = try await setup(store: store)
        _ = try await s.chat.postMessage("hello", toRoom: s.room.key, by: s.owner, timestamp: "10:00")
        #expect(try await s.chat.deleteRoom(key: s.room.key, userID: s.owner.id))
        #expect(try await store.messages(inRoom: s.room.id, before: nil, limit: 50)?.messages.isEmpty == true)
    }

    @Test("a muted member cannot post until unmuted; only the owner moderates, never themselves")
    func mute() async throws {
        let s = try await setup()
        await #expect(throws: ChatRefusal.notOwner) {
            try await s.chat.moderate(.mute, target: s.owner.id, inRoom: s.room.key, by: s.member.id)
        }
        await #expect(throws: ChatRefusal.notYourself) {
            try await s.chat.moderate(.mute, target: s.owner.id, inRoom: s.room.key, by: s.owner.id)
        }
        await #expect(throws: ChatRefusal.noSuchRoom) {
            try await s.chat.moderate(.mute, target: s.member.id, inRoom: "nope", by: s.owner.id)
        }
        let (muted, target) = try await s.chat.moderate(.mute, target: s.member.id, inRoom: s.room.key, by: s.owner.id)
        #expect(muted.isMuted(s.member.id))
        #expect(target?.username == "member")
        await #expect(throws: ChatRefusal.muted) {
            try await s.chat.postMessage("hi", toRoom: s.room.key, by: s.member, timestamp: "10:00")
        }
        _ = try await s.chat.moderate(.unmute, target: s.member.id, inRoom: s.room.key, by: s.owner.id)
        #expect(try await s.chat.postMessage("hi", toRoom: s.room.key, by: s.member, timestamp: "10:00").text == "hi")
    }

    @Test("a banned user is no longer a member and cannot rejoin by key until unbanned")
    func ban() async throws {
        let s = try await setup()
        let (banned, _) = try await s.chat.moderate(.ban, target: s.member.id, inRoom: s.room.key, by: s.owner.id)
        #expect(!banned.isMember(s.member.id))
        #expect(banned.isBanned(s.member.id))
        await #expect(throws: ChatRefusal.banned) { try await s.chat.joinRoom(key: s.room.key, userID: s.member.id) }
        #expect(try await s.chat.roomForMember(key: s.room.key, userID: s.member.id) == nil)
        _ = try await s.chat.moderate(.unban, target: s.member.id, inRoom: s.room.key, by: s.owner.id)
        #expect(try await s.chat.joinRoom(key: s.room.key, userID: s.member.id)?.isMember(s.member.id) == true)
    }

    @Test("the owner renames (trimmed, 1 to 100 characters); others cannot")
    func rename() async throws {
        let s = try await setup()
        #expect(try await s.chat.renameRoom(key: s.room.key, to: "  Lounge ", by: s.owner.id).name == "Lounge")
        await #expect(throws: ChatRefusal.emptyRoomName) {
            try await s.chat.renameRoom(key: s.room.key, to: "  ", by: s.owner.id)
        }
        await #expect(throws: ChatRefusal.roomNameTooLong(limit: 100)) {
            try await s.chat.renameRoom(key: s.room.key, to: String(repeating: "x", count: 101), by: s.owner.id)
        }
        await #expect(throws: ChatRefusal.notOwner) {
            try await s.chat.renameRoom(key: s.room.key, to: "Mine", by: s.member.id)
        }
    }

    @Test("rotating the key: the old key stops working, members and history stay")
    func rotateKey() async throws {
        let s = try await setup(keys: ["OLDKEYOLDKE", "OLDKEYOLDKE", "NEWKEYNEWKE"])
        #expect(s.room.key == "OLDKEYOLDKE")
        _ = try await s.chat.postMessage("before", toRoom: s.room.key, by: s.owner, timestamp: "10:00")
        await #expect(throws: ChatRefusal.notOwner) { try await s.chat.rotateKey(ofRoom: s.room.key, by: s.member.id) }
        // The first new key collides with the room's own: a fresh one is drawn.
        let rotated = try await s.chat.rotateKey(ofRoom: s.room.key, by: s.owner.id)
        #expect(rotated.key == "NEWKEYNEWKE")
        #expect(rotated.members == [s.owner.id, s.member.id])
        #expect(try await s.chat.joinRoom(key: "OLDKEYOLDKE", userID: s.member.id) == nil)
        #expect(try await s.chat.roomForMember(key: "OLDKEYOLDKE", userID: s.member.id) == nil)
        let history = try await s.chat.history(ofRoom: rotated.key, for: s.member.id, before: nil, limit: nil)
        #expect(history.messages.map(\.text) == ["before"])
    }

    @Test("rooms a user is a member of, created or joined, in pages")
    func roomPages() async throws {
        let s = try await setup()
        for number in 1...4 {
            let other = try await s.chat.createRoom(named: "r\(number)", by: s.owner.id)
            if number != 2 { _ = try await s.chat.joinRoom(key: other.key, userID: s.member.id) }
        }
        let first = try await s.chat.roomsJoined(by: s.member.id, page: 1, perPage: 2)
        #expect(first.rooms.map(\.name) == ["General", "r1"])
        #expect(first.hasMore)
        let second = try await s.chat.roomsJoined(by: s.member.id, page: 2, perPage: 2)
        #expect(second.rooms.map(\.name) == ["r3", "r4"])
        #expect(!second.hasMore)
        #expect(try await s.chat.roomsJoined(by: s.member.id, page: 9, perPage: 2).rooms.isEmpty)
        #expect(try await s.chat.roomsCreated(by: s.owner.id, page: 3, perPage: 2).rooms.map(\.name) == ["r4"])
        #expect(try await s.chat.roomsCreated(by: s.owner.id, page: Int.max, perPage: Int.max).rooms.isEmpty)
    }
}
