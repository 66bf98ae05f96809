import EngineIO
import EngineTestSupport
import Hummingbird
import Logging
import NIOCore
import SocketIO
import SocketIOHummingbird
import Testing

/// A real server on a free port: Socket.IO at `path`, an ordinary route at `/hello`.
struct TestServer {
    let port: Int
    let io: SocketIOServer
    private let task: Task<Void, any Error>

    static func start(
        path: String = "/socket.io",
        secure: Bool = false,
        engine configureEngine: (inout EngineConfiguration) -> Void = { _ in },
        socketIO configureSocketIO: (inout SocketIOConfiguration) -> Void = { _ in },
        setUp: (SocketIOServer) -> Void = { _ in }
    ) async throws -> TestServer {
        var engineConfiguration = EngineConfiguration()
        configureEngine(&engineConfiguration)
        var socketConfiguration = SocketIOConfiguration()
        configureSocketIO(&socketConfiguration)
        let io = SocketIOServer(
            engine: EngineServer(configuration: engineConfiguration), configuration: socketConfiguration)
        setUp(io)

        let endpoints = [EngineIOEndpoint(path: path, engine: io.engine, isSecure: secure)]
        let router = Router()
        router.add(middleware: ConnectionCloseMiddleware())
        router.add(middleware: EngineIOMiddleware(endpoints))
        router.get("/hello") { _, _ in "hello" }
        let ready = EventLog<Int>()
        var logger = Logger(label: "test-server")
        // Cancelling the server task at the end of a test logs a harmless error.
        logger.logLevel = .critical
        let app = Application(
            router: router,
            server: EngineIOWebSocketUpgrade(endpoints).serverBuilder(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ready.record(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let task = Task { try await app.run() }
        let port = try #require(await ready.next(), "server did not start")
        return TestServer(port: port, io: io, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    func get(_ target: String, headers: [(String, String)] = []) async throws -> WireResponse {
        try await WireHTTP.request(port: port, "GET", target, headers: headers)
    }

    func post(_ target: String, _ body: String, headers: [(String, String)] = []) async throws -> WireResponse {
        try await WireHTTP.request(port: port, "POST", target, headers: headers, body: ByteBuffer(string: body))
    }

    func webSocket(_ target: String, headers: [(String, String)] = []) async throws -> WireWebSocket {
        try await WireWebSocket(port: port, target: target, headers: headers)
    }

    /// Opens a polling session and returns its id.
    func handshake(path: String = "/socket.io/") async throws -> String {
        let response = try await get("\(path)?EIO=4&transport=polling")
        #expect(response.status == 200)
        let prefix = #"0{"sid":""#
        try #require(response.text.hasPrefix(prefix), "handshake: \(response.text)")
        return String(response.text.dropFirst(prefix.count).prefix(20))
    }
}
