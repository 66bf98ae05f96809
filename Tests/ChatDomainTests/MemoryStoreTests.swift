import ChatDomain
import ChatMemoryStore
import Foundation
import Testing

@Suite("Memory store history")
struct MemoryStoreHistoryTests {
    func post(_ text: String, in room: String, to store: MemoryStore) async throws -> ChatMessage {
        try await store.insertMessage(
            NewChatMessage(
                roomID: room, userID: "u1", username: "alice", text: text, timestamp: "12:00",
                createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        )
    }

    @Test("each room keeps exactly its newest 1,000 messages, whatever the trimming batch")
    func keepsTheNewest() async throws {
        let store = MemoryStore()
        let kept = MemoryStore.messagesKeptPerRoom
        var posted: [ChatMessage] = []
        for number in 1...(kept + 601) {
            posted.append(try await post("m\(number)", in: "busy", to: store))
            // Every count past the cap must read the same: the newest `kept`, oldest first.
            if number == kept + 1 || number == kept + 249 || number == kept + 250 || number == kept + 601 {
                let page = try #require(try await store.messages(inRoom: "busy", before: nil, limit: 5000))
                #expect(page.messages.count == kept)
                #expect(page.messages.first?.content.text == "m\(number - kept + 1)")
                #expect(page.messages.last?.content.text == "m\(number)")
                #expect(page.olderCursor == nil)
            }
        }
        _ = try await post("quiet", in: "other", to: store)
        let other = try #require(try await store.messages(inRoom: "other", before: nil, limit: 50))
        #expect(other.messages.map(\.content.text) == ["quiet"])
    }

    @Test("paging back from the newest stops at the oldest message kept")
    func pagingStopsAtTheCap() async throws {
        let store = MemoryStore()
        let kept = MemoryStore.messagesKeptPerRoom
        for number in 1...(kept + 100) { _ = try await post("m\(number)", in: "busy", to: store) }
        var cursor: String? = nil
        var seen: [String] = []
        repeat {
            let page = try #require(try await store.messages(inRoom: "busy", before: cursor, limit: 100))
            seen = page.messages.map(\.content.text) + seen
            cursor = page.olderCursor
        } while cursor != nil
        #expect(seen.count == kept)
        #expect(seen.first == "m101")
        #expect(seen.last == "m\(kept + 100)")
    }
}

@Suite("Memory store membership and catching up")
struct MemoryStoreMembershipTests {
    @Test("one question tells whether any of a token's ids was revoked and is still live")
    func revocationsAskedTogether() async throws {
        let store = MemoryStore()
        try await store.revokeToken(id: "live", expiresAt: Date().addingTimeInterval(600))
        try await store.revokeToken(id: "stale", expiresAt: Date().addingTimeInterval(-60))
        #expect(try await store.isTokenRevoked(anyOf: ["never", "live"]))
        #expect(!(try await store.isTokenRevoked(anyOf: ["never", "stale"])), "an expired revocation is over")
        #expect(!(try await store.isTokenRevoked(anyOf: [])))
    }

    @Test("adding a banned user leaves them out")
    func bannedUserIsNotAdded() async throws {
        let store = MemoryStore()
        _ = try await store.insertRoom(NewRoom(name: "r", key: "k", createdBy: "owner", createdAt: Date()))
        _ = try await store.updateRoom(key: "k", .ban("member"))
        let answer = try #require(try await store.addMember("member", toRoom: "k"))
        #expect(answer.isBanned("member") && !answer.isMember("member"))
        #expect(try await store.room(key: "k")?.members == ["owner"])
        #expect(try await store.addMember("member", toRoom: "nothing") == nil)
    }

    @Test("messages after one are the later ones of that room, the newest when over the limit")
    func messagesAfter() async throws {
        let store = MemoryStore()
        let history = MemoryStoreHistoryTests()
        var stored: [ChatMessage] = []
        for number in 0..<5 {
            stored.append(try await history.post("m\(number)", in: "a", to: store))
            _ = try await history.post("other\(number)", in: "b", to: store)
        }
        let after = try #require(try await store.messages(inRoom: "a", after: stored[1].id, limit: 10))
        #expect(after.messages == Array(stored[2...4]) && after.olderCursor == nil)
        let newest = try #require(try await store.messages(inRoom: "a", after: stored[0].id, limit: 2))
        #expect(newest.messages.map(\.content.text) == ["m3", "m4"] && newest.olderCursor != nil)
        #expect(try await store.messages(inRoom: "a", after: stored[4].id, limit: 10)?.messages == [])
        #expect(try await store.messages(inRoom: "a", after: "999999", limit: 10) == nil)
        #expect(try await store.messages(inRoom: "a", after: "garbage", limit: 10) == nil)
    }
}
