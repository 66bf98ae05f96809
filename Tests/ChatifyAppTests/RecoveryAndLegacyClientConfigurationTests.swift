import ChatMemoryStore
import Logging
import SocketIO
import Testing

@testable import ChatifyApp

@Suite("Configuration: connection state recovery and Engine.IO v3 clients")
struct RecoveryAndLegacyClientConfigurationTests {
    @Test("both are off by default, so old clients see unchanged packets")
    func offByDefault() {
        let defaults = ChatifyConfiguration()
        #expect(defaults.connectionStateRecovery == 0 && !defaults.allowEIO3)
        let server = ChatifyServer(configuration: defaults, store: MemoryStore(), logger: Logger(label: "test"))
        #expect(server.io.configuration.connectionStateRecovery == nil)
    }

    @Test("CONNECTION_STATE_RECOVERY is the window in seconds, with the middleware run again; ALLOW_EIO3 a boolean")
    func read() throws {
        let custom = try ChatifyConfiguration(environment: ["CONNECTION_STATE_RECOVERY": "30", "ALLOW_EIO3": "True"])
        #expect(custom.connectionStateRecovery == 30 && custom.allowEIO3)
        let server = ChatifyServer(configuration: custom, store: MemoryStore(), logger: Logger(label: "test"))
        let recovery = try #require(server.io.configuration.connectionStateRecovery)
        #expect(recovery.maxDisconnectionDuration == .seconds(30) && !recovery.skipMiddlewares)
        #expect(throws: ChatifyConfiguration.Problem.self) {
            try ChatifyConfiguration(environment: ["CONNECTION_STATE_RECOVERY": "-1"])
        }
        #expect(throws: ChatifyConfiguration.Problem.self) {
            try ChatifyConfiguration(environment: ["ALLOW_EIO3": "maybe"])
        }
    }
}
