import ChatDomain
import Testing

@testable import ChatifyApp

@Suite("Room kinds")
struct ChatifyRoomTests {
    @Test(
        "every kind reads back from its Socket.IO name; only chat rooms are open to clients",
        arguments: [
            ChatifyRoom.user(id: "65a1f0"), .signIn(id: "s-1"), .watchers(roomKey: "AbC-_9"), .chat(key: "AbC-_9"),
        ]
    )
    func roundTrip(room: ChatifyRoom) {
        #expect(ChatifyRoom(name: room.name) == room)
        #expect(room.isServerRoom == (room != .chat(key: "AbC-_9")))
    }

    @Test("a generated room key is always a chat room")
    func keysAreChatRooms() {
        for _ in 0..<1000 {
            let key = RoomKey.random()
            #expect(ChatifyRoom(name: key) == .chat(key: key))
        }
    }

    @Test("a socket's own id room and the server's rooms are internal; chat rooms are not")
    func internalRooms() {
        #expect(ChatEvents.isInternalRoom("sock-1", socketID: "sock-1"))
        #expect(ChatEvents.isInternalRoom("user:42", socketID: "sock-1"))
        #expect(ChatEvents.isInternalRoom("token:abc", socketID: "sock-1"))
        #expect(ChatEvents.isInternalRoom("watch:AbC", socketID: "sock-1"))
        #expect(!ChatEvents.isInternalRoom("AbC", socketID: "sock-1"))
    }
}
