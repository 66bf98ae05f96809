public import ChatDomain
import ChatMemoryStore
import EngineIO
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import ServiceLifecycle
public import SocketIO
import SocketIOHummingbird

/// Everything the gateway is made of, wired together: store, chat rules, auth, pages,
/// routes, Socket.IO events. The executable only loads the configuration and runs it.
public struct ChatifyServer: Sendable {
    public let configuration: ChatifyConfiguration
    /// Reached only through the chat rules (`ChatService`), never directly.
    let store: any ChatStore
    public let io: SocketIOServer
    /// Templates, static files and the client; found at start when not given.
    let resources: ChatifyResources?
    let logger: Logger

    public init(
        configuration: ChatifyConfiguration, store: any ChatStore, adapter: AdapterFactory = .inMemory,
        resources: ChatifyResources? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.resources = resources
        self.logger = logger
        var engine = EngineConfiguration()
        engine.cors = CORSPolicy(allowedOrigins: configuration.corsAllowedOrigins)
        engine.maxPayload = configuration.maxPayload
        engine.allowEIO3 = configuration.allowEIO3
        if configuration.maxConnectionsPerAddress > 0 {
            engine.maxSessionsPerAddress = configuration.maxConnectionsPerAddress
        }
        let proxies = configuration.trustedProxies
        if proxies.count > 0 {
            engine.clientAddress = { request in proxies.clientAddress(request.headers) ?? request.remoteAddress }
        }
        configuration.transport.apply(to: &engine)
        if let node = configuration.nodeID {
            engine.handshakeCookie = "chatify_node=\(node); Path=/; HttpOnly; SameSite=Lax"
        }
        var socketIO = SocketIOConfiguration()
        if configuration.connectionStateRecovery > 0 {
            // Middlewares run again: the token is checked anew and the user's state rebuilt.
            socketIO.connectionStateRecovery = ConnectionStateRecovery(
                maxDisconnectionDuration: .seconds(configuration.connectionStateRecovery), skipMiddlewares: false
            )
        }
        self.io = SocketIOServer(
            engine: EngineServer(configuration: engine, logger: logger), configuration: socketIO, adapter: adapter,
            logger: logger
        )
    }

    /// The Hummingbird application serving pages and Socket.IO on `HOST`:`PORT`.
    public func application(
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let metrics = ChatifyMetrics(io: io)
        // Every store call is timed: the chat rules are the only way to the store.
        let chat = ChatService(store: TimedStore(base: store, metrics: metrics))
        let auth = Authenticator(
            signer: AccessTokenSigner(
                secret: configuration.jwtSecretKey, lifetime: TimeInterval(configuration.jwtAccessTokenExpires)
            ),
            chat: chat,
            cookieName: configuration.jwtAccessCookieName,
            cookiePath: configuration.jwtAccessCookiePath,
            locations: configuration.jwtTokenLocation,
            csrfProtect: configuration.jwtCookieCSRFProtect
        )
        let resources = try self.resources ?? ChatifyResources.locate(configuration)
        let pages = try await PageRenderer.load(templatesFolder: resources.templates)
        let chatEvents = ChatEvents(
            chat: chat, auth: auth, clock: MessageClock(), limits: configuration.eventLimits, metrics: metrics,
            cookieOrigins: CookieOrigins(
                listed: Self.listedOrigins(configuration.corsAllowedOrigins), proxies: configuration.trustedProxies
            ),
            logger: logger
        )
        chatEvents.install(on: io.sockets)
        let sockets = io.sockets

        // Checked before anything listens: a bad certificate or key stops the start.
        let tls = try configuration.transport.tls?.serverConfiguration()
        let endpoints = [EngineIOEndpoint(path: "/socket.io", engine: io.engine, isSecure: tls != nil)]
        let router = Router(context: ChatifyRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ConnectionCloseMiddleware())
        router.add(middleware: EngineIOMiddleware(endpoints))
        router.add(
            middleware: WebSecurityMiddleware(allowedOrigins: Self.listedOrigins(configuration.corsAllowedOrigins)))
        // The 405 and OPTIONS answers know every path the site's routes register. The
        // static files are registered on the router itself: another method there is a 404.
        let routeTable = RouteTable()
        router.add(middleware: ErrorPagesMiddleware(routes: routeTable, logger: logger))
        SiteRoutes(
            chat: chat, auth: auth, pages: pages, limits: LoginLimits(configuration),
            proxies: configuration.trustedProxies,
            servesTLS: tls != nil,
            endSockets: { sessionID in
                await sockets.to(ChatifyRoom.signIn(id: sessionID).name).disconnectSockets(close: true)
            },
            roomBroadcasts: RoomBroadcasts(events: chatEvents, namespace: sockets),
            metrics: metrics,
            logger: logger
        ).addRoutes(to: RegisteringRoutes(router: router, table: routeTable))
        try StaticFiles.load(resources, logger: logger).add(to: router)

        let plainServer = EngineIOWebSocketUpgrade(endpoints).serverBuilder(
            limits: configuration.transport.connectionLimits)
        return Application(
            router: router,
            server: try tls.map { try HTTPServerBuilder.tls(plainServer, tlsConfiguration: $0) } ?? plainServer,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "Chatify"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The origins `CORS_ALLOWED_ORIGINS` names (`*` names none: it means any origin for
    /// Socket.IO, not that other sites may post forms).
    static func listedOrigins(_ setting: String) -> Set<String> {
        Set(
            setting.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty && $0 != "*"
            })
    }

    /// Serves until SIGTERM or SIGINT, then says goodbye to every Socket.IO client before
    /// the HTTP server stops, and closes the store last.
    public func run(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        let app = try await application(onServerRunning: onServerRunning)
        // Services shut down in reverse order: the realtime goodbye runs first, while the
        // HTTP server can still deliver it.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: app),
                    .init(
                        service: RealtimeShutdown(io: io, grace: .seconds(configuration.shutdownGrace), logger: logger)
                    ),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// On SIGTERM/SIGINT: every Socket.IO session gets a close packet (the executable
/// closes the store after the server stops).
struct RealtimeShutdown: Service, CustomStringConvertible {
    let io: SocketIOServer
    /// How long sessions get to say goodbye and finish their writes (`SHUTDOWN_GRACE`).
    let grace: Duration
    let logger: Logger

    var description: String { "RealtimeShutdown" }

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: closing realtime sessions")
        await io.close(grace: grace)
        logger.info("realtime sessions closed")
    }
}

/// The old backend's start-up chain: `MONGODB_ATLAS_URI` (10 s), then
/// `MONGODB_LOCAL_URI` (3 s), then memory; each step in one log line.
public enum StoreChain {
    /// Opens a database store at a URI within a timeout (the MongoDB store's `connect`).
    public typealias Connector = @Sendable (_ uri: String, _ timeout: Duration) async throws -> any ChatStore

    public static func connect(
        _ configuration: ChatifyConfiguration,
        logger: Logger,
        database: Connector
    ) async -> any ChatStore {
        var attempts: [(label: String, uri: String, timeout: Duration)] = []
        if let atlas = configuration.mongoAtlasURI { attempts.append(("MongoDB Atlas", atlas, .seconds(10))) }
        if !configuration.mongoLocalURI.isEmpty {
            attempts.append(("local MongoDB", configuration.mongoLocalURI, .seconds(3)))
        }
        for attempt in attempts {
            do {
                let store = try await database(attempt.uri, attempt.timeout)
                logger.info("store: connected to \(attempt.label), using \(store.description)")
                return store
            } catch {
                logger.warning("store: \(attempt.label) not reachable (\(error)); trying the next option")
            }
        }
        logger.warning("store: no database answered; using the in-memory store, data is lost on restart")
        return MemoryStore()
    }
}
