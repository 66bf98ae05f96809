import EngineIO
import Hummingbird
import SocketIO
import SocketIOHummingbird

@main
struct RelayServer {
    static func main() async throws {
        var engine = EngineConfiguration()
        engine.cors = CORSPolicy(allowedOrigins: "https://chat.example.com")
        let io = SocketIOServer(engine: EngineServer(configuration: engine))

        // Connect middleware: throwing refuses the CONNECT with that message.
        io.sockets.use { socket in
            guard socket.handshake.auth["token"]?.stringValue == "let-me-in" else {
                throw ConnectRefusal("not authorized")
            }
        }
        io.sockets.onConnection { socket in
            socket.on("join") { event in
                guard let room = event.args.first?.stringValue else { return }
                event.socket.join(room)
                event.ack?("joined", .string(room))  // when the client asked for an ack
            }
            socket.on("say") { event in
                guard event.args.count == 2, let room = event.args[0].stringValue else { return }
                // Everyone in the room but the sender.
                event.socket.to(room).emit("said", event.args[1], .string(event.socket.id))
            }
            socket.onDisconnect { socket, reason, rooms in
                print("\(socket.id) left \(rooms.count) rooms: \(reason)")
            }
        }

        let endpoints = [EngineIOEndpoint(path: "/socket.io", engine: io.engine)]
        let router = Router()
        router.add(middleware: ConnectionCloseMiddleware())
        router.add(middleware: EngineIOMiddleware(endpoints))  // long-polling
        router.get("/") { _, _ in "hello" }  // ordinary routes beside it
        let app = Application(
            router: router,
            server: EngineIOWebSocketUpgrade(endpoints).serverBuilder(),  // WebSocket upgrades
            configuration: .init(address: .hostname("127.0.0.1", port: 3000))
        )
        try await app.runService()
    }
}
