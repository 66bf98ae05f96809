import ChatMongoStore
import ChatifyApp
import SocketIO
import SocketIORedisAdapter
import Foundation
import Hummingbird
import Logging

/// `chatify`: loads the configuration (environment and `.env`), connects the store,
/// serves until SIGTERM or SIGINT.
@main
struct ChatifyMain {
    static func main() async {
        let configuration: ChatifyConfiguration
        do {
            configuration = try ChatifyConfiguration.load()
        } catch {
            FileHandle.standardError.write(Data("chatify: \(error)\n".utf8))
            exit(2)
        }
        // A bad certificate or key stops the start before the store is contacted.
        if let tls = configuration.transport.tls {
            do {
                _ = try tls.serverConfiguration()
            } catch {
                FileHandle.standardError.write(Data("chatify: \(error)\n".utf8))
                exit(2)
            }
        }
        var logger = Logger(label: "chatify")
        logger.logLevel = configuration.debug ? .debug : .info
        if let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            logger.logLevel = level
        }
        if configuration.jwtSecretKey == ChatifyConfiguration.defaultJWTSecretKey {
            logger.warning(
                "JWT_SECRET_KEY is the published default: anyone can forge sign-in tokens. Set a long random secret."
            )
        }
        let storeLogger = logger
        let store = await StoreChain.connect(configuration, logger: logger) { uri, timeout in
            try await MongoStore.connect(
                uri: uri,
                database: configuration.databaseName,
                usersCollection: configuration.usersCollection,
                roomsCollection: configuration.roomsCollection,
                serverSelectionTimeout: timeout,
                logger: storeLogger
            )
        }
        var adapter = AdapterFactory.inMemory
        var redis: RedisAdapterFactory?
        if let url = configuration.redisURL {
            do {
                let factory = RedisAdapterFactory(configuration: try RedisConfiguration(url: url), logger: logger)
                do {
                    try await factory.ping()
                    logger.info("cluster: sharing rooms through \(factory.configuration.description)")
                } catch {
                    logger.warning("cluster: Redis not answering yet (\(error)); will keep retrying")
                }
                adapter = factory.factory
                redis = factory
            } catch {
                FileHandle.standardError.write(Data("chatify: \(error)\n".utf8))
                exit(2)
            }
        }
        do {
            let server = ChatifyServer(configuration: configuration, store: store, adapter: adapter, logger: logger)
            try await server.run { channel in
                // One line on stdout with the real address, for scripts that start it on port 0.
                let port = channel.localAddress?.port ?? configuration.port
                FileHandle.standardOutput.write(Data("chatify listening on \(configuration.host):\(port)\n".utf8))
            }
            await store.close()
            redis?.close()
        } catch {
            logger.critical("chatify stopped: \(error)")
            exit(1)
        }
    }
}
