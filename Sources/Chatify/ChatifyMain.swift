import ChatMongoStore
import ChatifyApp
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
        var logger = Logger(label: "chatify")
        logger.logLevel = configuration.debug ? .debug : .info
        if let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            logger.logLevel = level
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
        do {
            let server = ChatifyServer(configuration: configuration, store: store, logger: logger)
            try await server.run { channel in
                // One line on stdout with the real address, for scripts that start it on port 0.
                let port = channel.localAddress?.port ?? configuration.port
                FileHandle.standardOutput.write(Data("chatify listening on \(configuration.host):\(port)\n".utf8))
            }
            await store.close()
        } catch {
            logger.critical("chatify stopped: \(error)")
            exit(1)
        }
    }
}
