import ChatDomain
import Foundation
import Prometheus

/// A store that records how long each operation of the store it wraps takes, and counts
/// outages, for `/metrics`.
struct TimedStore: ChatStore {
    let base: any ChatStore
    let metrics: ChatifyMetrics

    var description: String { base.description }

    private func timed<T>(_ operation: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        let started = ContinuousClock.now
        defer { metrics.storeLatency.record(ContinuousClock.now - started) }
        do {
            return try await operation()
        } catch {
            if case .unavailable = error { metrics.countError("store_unavailable") }
            throw error
        }
    }

    func insertUser(_ user: NewUser) async throws(StoreError) -> User {
        try await timed { () async throws(StoreError) in try await base.insertUser(user) }
    }
    func user(id: String) async throws(StoreError) -> User? {
        try await timed { () async throws(StoreError) in try await base.user(id: id) }
    }
    func user(username: String) async throws(StoreError) -> User? {
        try await timed { () async throws(StoreError) in try await base.user(username: username) }
    }
    func user(email: String) async throws(StoreError) -> User? {
        try await timed { () async throws(StoreError) in try await base.user(email: email) }
    }
    func updateUser(id: String, _ change: ProfileChange) async throws(StoreError) {
        try await timed { () async throws(StoreError) in try await base.updateUser(id: id, change) }
    }
    func insertRoom(_ room: NewRoom) async throws(StoreError) -> Room {
        try await timed { () async throws(StoreError) in try await base.insertRoom(room) }
    }
    func room(key: String) async throws(StoreError) -> Room? {
        try await timed { () async throws(StoreError) in try await base.room(key: key) }
    }
    func rooms(createdBy userID: String) async throws(StoreError) -> [Room] {
        try await timed { () async throws(StoreError) in try await base.rooms(createdBy: userID) }
    }
    func addMember(_ userID: String, toRoom key: String) async throws(StoreError) -> Room? {
        try await timed { () async throws(StoreError) in try await base.addMember(userID, toRoom: key) }
    }
    func removeMember(_ userID: String, fromRoom key: String) async throws(StoreError) -> Room? {
        try await timed { () async throws(StoreError) in try await base.removeMember(userID, fromRoom: key) }
    }
    func deleteRoom(key: String, ownedBy userID: String) async throws(StoreError) -> Bool {
        try await timed { () async throws(StoreError) in try await base.deleteRoom(key: key, ownedBy: userID) }
    }
    func rooms(memberOf userID: String) async throws(StoreError) -> [Room] {
        try await timed { () async throws(StoreError) in try await base.rooms(memberOf: userID) }
    }
    func updateRoom(key: String, _ change: RoomChange) async throws(StoreError) -> Room? {
        try await timed { () async throws(StoreError) in try await base.updateRoom(key: key, change) }
    }
    func insertMessage(_ message: NewChatMessage) async throws(StoreError) -> ChatMessage {
        try await timed { () async throws(StoreError) in try await base.insertMessage(message) }
    }
    func messages(inRoom roomID: String, before cursor: String?, limit: Int) async throws(StoreError) -> MessagePage? {
        try await timed { () async throws(StoreError) in
            try await base.messages(inRoom: roomID, before: cursor, limit: limit)
        }
    }
    func messages(inRoom roomID: String, after messageID: String, limit: Int) async throws(StoreError) -> MessagePage? {
        try await timed { () async throws(StoreError) in
            try await base.messages(inRoom: roomID, after: messageID, limit: limit)
        }
    }
    func deleteMessages(inRoom roomID: String) async throws(StoreError) {
        try await timed { () async throws(StoreError) in try await base.deleteMessages(inRoom: roomID) }
    }
    func revokeToken(id: String, expiresAt: Date) async throws(StoreError) {
        try await timed { () async throws(StoreError) in try await base.revokeToken(id: id, expiresAt: expiresAt) }
    }
    func isTokenRevoked(anyOf ids: [String]) async throws(StoreError) -> Bool {
        try await timed { () async throws(StoreError) in try await base.isTokenRevoked(anyOf: ids) }
    }
    func ping() async throws(StoreError) { try await timed { () async throws(StoreError) in try await base.ping() } }
    func close() async { await base.close() }
}
