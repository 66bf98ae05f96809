import ArgumentParser
import ChatMongoStore
import ChatifyApp
import Foundation
import Hummingbird
import Logging
import SocketIO
import SocketIORedisAdapter

/// `chatify`: loads the configuration (environment and `.env`), connects the store,
/// serves until SIGTERM or SIGINT. `chatify check-config` only shows the configuration.
@main
struct ChatifyMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chatify",
        abstract: "The Chatify chat server.",
        discussion: "Settings come from the environment and the .env file; see docs/configuration.md.",
        version: ChatifyVersion.current,
        subcommands: [CheckConfiguration.self]
    )

    @OptionGroup var settings: SettingsSource

    func run() async throws {
        let (configuration, redisConfiguration, resources) = try settings.validatedConfiguration()
        ChatifyLogging.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "chatify")
        for warning in configuration.warnings {
            logger.warning("\(warning)")
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
        if let redisConfiguration {
            let factory = RedisAdapterFactory(configuration: redisConfiguration, logger: logger)
            do {
                try await factory.ping()
                let configuration = factory.configuration
                logger.info(
                    "cluster: sharing rooms through \(configuration.description) (\(configuration.adapter.rawValue))")
            } catch let incompatibility as RedisIncompatibility {
                // Retrying would not help: the nodes would never hear each other.
                logger.critical("cluster: \(incompatibility)")
                throw ExitCode(2)
            } catch {
                logger.warning("cluster: Redis not answering yet (\(error)); will keep retrying")
            }
            adapter = factory.factory
            redis = factory
        }
        do {
            let server = ChatifyServer(
                configuration: configuration, store: store, adapter: adapter, resources: resources, logger: logger
            )
            try await server.run { channel in
                // One line on stdout with the real address, for scripts that start it on port 0.
                let port = channel.localAddress?.port ?? configuration.port
                FileHandle.standardOutput.write(Data("chatify listening on \(configuration.host):\(port)\n".utf8))
                let scheme = configuration.transport.tls == nil ? "http" : "https"
                logger.info("Chatify is running at \(scheme)://\(configuration.host):\(port)/")
            }
            await store.close()
            redis?.close()
        } catch {
            logger.critical("chatify stopped: \(error)")
            throw ExitCode.failure
        }
    }
}
