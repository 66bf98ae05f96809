import ChatDomain
import OrderedJSON
import SocketIO

/// How a refused event is answered over Socket.IO: a `chat_error` event
/// `{event, message}` to the socket that sent it, which the chat page shows.
extension ChatEvents {
    /// The event the client sees when something it asked for was refused.
    static let errorEvent = "chat_error"

    /// Tells the sender of `event` that the chat rules refused it, in their words.
    func refuse(_ event: SocketEvent, _ refusal: ChatRefusal) {
        refuse(event, refusal.description)
    }

    /// Tells the sender of `event` why it was refused.
    func refuse(_ event: SocketEvent, _ message: String) {
        event.socket.emit(Self.errorEvent, ["event": .string(event.name), "message": .string(message)])
    }
}
