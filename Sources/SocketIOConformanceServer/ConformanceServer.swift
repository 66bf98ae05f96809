import ArgumentParser
import EngineIO
import Foundation
import Hummingbird
import Logging
import OrderedJSON
import SocketIO
import SocketIOHummingbird

/// Serves what the official Engine.IO and Socket.IO protocol suites expect: an echo
/// Engine.IO server on /engine.io/ and a Socket.IO server on /socket.io/.
@main
struct ConformanceServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socketio-conformance-server",
        abstract: "The server the official Engine.IO / Socket.IO test suites run against."
    )

    @Option(help: "Port to listen on (0: any free port, printed at start).")
    var port = 3000

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    func run() async throws {
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.pingInterval = .milliseconds(300)
        engineConfiguration.pingTimeout = .milliseconds(200)
        engineConfiguration.maxPayload = 1_000_000
        engineConfiguration.cors = .anyOrigin

        let echo = EngineServer(configuration: engineConfiguration)
        echo.onConnection { _ in EchoDelegate() }

        var socketConfiguration = SocketIOConfiguration()
        socketConfiguration.connectTimeout = .milliseconds(1000)
        let io = SocketIOServer(
            engine: EngineServer(configuration: engineConfiguration), configuration: socketConfiguration)
        io.sockets.onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
            socket.on("message") { event in
                event.socket.emit("message-back", args: event.args)
            }
            socket.on("message-with-ack") { event in
                event.ack?.send(event.args)
            }
            CompatEvents.install(on: socket)
        }
        io.of("/custom").onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
            CompatEvents.install(on: socket)
        }

        let endpoints = [
            EngineIOEndpoint(path: "/engine.io", engine: echo),
            EngineIOEndpoint(path: "/socket.io", engine: io.engine),
        ]
        let router = Router()
        router.add(middleware: ConnectionCloseMiddleware())
        router.add(middleware: EngineIOMiddleware(endpoints))
        var logger = Logger(label: "conformance")
        logger.logLevel = .info
        let app = Application(
            router: router,
            server: EngineIOWebSocketUpgrade(endpoints).serverBuilder(),
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                // Scripts that start the server on port 0 read the real port from here.
                let line = "listening on \(channel.localAddress?.port ?? port)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger
        )
        try await app.runService()
    }
}

/// Sends every message back as it came.
final class EchoDelegate: EngineSessionDelegate {
    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        switch message {
        case .text(let text): session.send(.message(text: text))
        case .binary(let bytes): session.send(.message(binary: bytes))
        }
    }

    func session(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {}
}

/// Extra events for the stock-client compatibility suite in `Compat/`. The official
/// suites never send them, so they leave the reference behaviour untouched.
enum CompatEvents {
    static func install(on socket: Socket) {
        // ["join", room] -> joins, acks ["joined", room]
        socket.on("join") { event in
            guard let room = event.args.first?.stringValue else { return }
            event.socket.join(room)
            event.ack?("joined", .string(room))
        }
        // ["to-room", room, payload] -> "room-message" [payload, senderID] to the room, sender excluded
        socket.on("to-room") { event in
            guard event.args.count >= 2, let room = event.args[0].stringValue else { return }
            event.socket.to(room).emit("room-message", event.args[1], .string(event.socket.id))
            event.ack?("sent")
        }
        // ["ask-client", payload] -> server emits "question" [payload] with an ack, then acks
        // the caller with what the client answered
        socket.on("ask-client") { event in
            let socket = event.socket
            let ack = event.ack
            do {
                let answer = try await socket.emitWithAck("question", args: event.args, timeout: .seconds(5))
                ack?.send([.string("answered")] + answer)
            } catch {
                ack?.send([.string("no-answer"), .string("\(error)")])
            }
        }
        // ["disconnect-me", close] -> server-side disconnect, whole connection when close is true
        socket.on("disconnect-me") { event in
            event.socket.disconnect(close: event.args.first?.boolValue ?? false)
        }
        // ["whoami"] -> acks [namespace socket id, engine session id, transport]
        socket.on("whoami") { event in
            event.ack?(
                .string(event.socket.id), .string(event.socket.session.id),
                .string(event.socket.session.transport.rawValue))
        }
    }
}
