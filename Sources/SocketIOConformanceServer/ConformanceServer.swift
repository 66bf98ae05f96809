import ArgumentParser
import EngineIO
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

    @Option(help: "Port to listen on.")
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
        let io = SocketIOServer(engine: EngineServer(configuration: engineConfiguration), configuration: socketConfiguration)
        io.sockets.onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
            socket.on("message") { event in
                event.socket.emit("message-back", args: event.args)
            }
            socket.on("message-with-ack") { event in
                event.ack?.send(event.args)
            }
        }
        io.of("/custom").onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
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
