import EngineTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import SocketIORedisAdapter

/// The NIO client against the real redis-server.
@Suite("Redis client on SwiftNIO")
struct RedisClientTests {
    static func endpoint(
        username: String? = nil, password: String? = nil, database: Int? = nil
    ) async throws -> RedisEndpoint {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: try await RedisTestServer.shared.port())
        configuration.username = username
        configuration.password = password
        configuration.database = database
        return RedisEndpoint(configuration: configuration)
    }

    @Test("PING answers PONG over RESP3")
    func ping() async throws {
        let connection = try await RedisClientConnection.connect(to: try await Self.endpoint())
        defer { connection.close() }
        #expect(connection.protocolVersion == 3)
        #expect(try await connection.command(["PING"]) == .simpleString("PONG"))
        // A RESP3-only reply type: HGETALL answers with a map.
        let key = "hash-\(UUID().uuidString)"
        _ = try await connection.command(["HSET", key, "field", "value"])
        #expect(
            try await connection.command(["HGETALL", key])
                == .map([RESPMapEntry(key: .bulkString(Array("field".utf8)), value: .bulkString(Array("value".utf8)))])
        )
    }

    @Test("1,000 pipelined commands get their replies in order")
    func pipelined() async throws {
        let connection = try await RedisClientConnection.connect(to: try await Self.endpoint())
        defer { connection.close() }
        let replies = (0..<1000).map { connection.send([Array("ECHO".utf8), Array("reply \($0)".utf8)]) }
        for (index, reply) in replies.enumerated() {
            #expect(try await reply.get().text == "reply \(index)")
        }
    }

    @Test("a blocking read longer than the reply timeout is waited for, not taken for a dead connection")
    func blockingReadOutlivesReplyTimeout() async throws {
        var configuration = try await Self.endpoint().configuration
        configuration.connectTimeout = .milliseconds(200)
        let connection = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration))
        defer { connection.close() }
        let empty = "stream-\(UUID().uuidString)"
        // Redis holds the reply for 1 s (nothing is appended), five times the reply timeout.
        let reply = try await connection.send(
            ["XREAD", "BLOCK", "1000", "STREAMS", empty, "$"].map { Array($0.utf8) }, serverWait: .seconds(1)
        ).get()
        #expect(reply == .null)
        #expect(try await connection.command(["PING"]) == .simpleString("PONG"))
    }

    /// Runs `body` with a new ACL user made with `rules`, deleted afterwards.
    static func withACLUser(_ rules: [String], _ body: (_ user: String) async throws -> Void) async throws {
        let admin = try await RedisClientConnection.connect(to: try await endpoint())
        defer { admin.close() }
        let user = "user-\(UUID().uuidString.prefix(8))"
        #expect(try await admin.command(["ACL", "SETUSER", user] + rules).text == "OK")
        defer { _ = admin.send([Array("ACL".utf8), Array("DELUSER".utf8), Array(user.utf8)]) }
        try await body(user)
    }

    @Test("an ACL user authenticates; a wrong password is refused with a clear error")
    func aclUser() async throws {
        try await Self.withACLUser(["on", ">right-password", "~*", "&*", "+@all"]) { user in
            try await Self.checkACLUser(user)
        }
    }

    private static func checkACLUser(_ user: String) async throws {
        let connection = try await RedisClientConnection.connect(
            to: try await endpoint(username: user, password: "right-password"))
        defer { connection.close() }
        #expect(try await connection.command(["ACL", "WHOAMI"]).text == user)

        let refusal = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(to: try await endpoint(username: user, password: "wrong"))
        }
        #expect(refusal?.description.hasPrefix("Redis refused the credentials: WRONGPASS") == true)
    }

    @Test("an ACL user without channel permissions: the refused PSUBSCRIBE is logged with Redis's reason")
    func refusedSubscription() async throws {
        try await Self.withACLUser(["on", ">pw", "~*", "+@all", "resetchannels"]) { user in
            try await Self.checkRefusedSubscription(user)
        }
    }

    private static func checkRefusedSubscription(_ user: String) async throws {
        let log = RecordingLog()
        let subscriber = RedisSubscriber(
            endpoint: try await endpoint(username: user, password: "pw"), patterns: ["socket.io#/#*"],
            channels: [], logger: log.logger(label: "acl")
        ) { _, _ in }
        defer { subscriber.stop() }
        #expect(await log.waitFor(.warning, containing: "Redis refused PSUBSCRIBE: NOPERM"))
    }

    @Test("an ACL user that may not publish: the refused PUBLISH is logged once, with Redis's reason")
    func refusedPublish() async throws {
        try await Self.withACLUser(["on", ">pw", "~*", "&*", "+@all", "-publish"]) { user in
            try await Self.checkRefusedPublish(user)
        }
    }

    private static func checkRefusedPublish(_ user: String) async throws {
        let log = RecordingLog()
        let publisher = RedisPublisher(
            endpoint: try await endpoint(username: user, password: "pw"), logger: log.logger(label: "acl"))
        defer { publisher.stop() }
        for index in 1...3 { publisher.publish(channel: "socket.io#/#", message: Array("refused \(index)".utf8)) }
        // Redis 7.0 words it "NOPERM this user has no permissions to run the 'publish' command".
        #expect(await log.waitFor(.warning, containing: "publisher command refused by"))
        // The three publishes came back refused; the fourth command's answer proves it.
        #expect(try await publisher.command(["PING"]).text == "PONG")
        #expect(log.count(.warning) == 1)
    }

    @Test("the database of the URL is selected: a key set in db 3 is not in db 0")
    func selectDatabase() async throws {
        let key = "selected-\(UUID().uuidString)"
        let three = try await RedisClientConnection.connect(to: try await Self.endpoint(database: 3))
        defer { three.close() }
        _ = try await three.command(["SET", key, "in three"])
        let zero = try await RedisClientConnection.connect(to: try await Self.endpoint())
        defer { zero.close() }
        #expect(try await zero.command(["GET", key]) == .null)
        #expect(try await three.command(["GET", key]).text == "in three")
    }

    @Test("nothing listening on the port is a clear error, within the connect timeout")
    func refused() async throws {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: try RedisServerProcess.freePort())
        configuration.connectTimeout = .seconds(2)
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration))
        }
        #expect(error?.description.hasPrefix("cannot connect to redis://127.0.0.1:") == true)
    }
}

/// Log lines as they happen, to wait for one and to count them.
final class RecordingLog: Sendable {
    let lines = EventLog<(Logger.Level, String)>()
    private let counts = Mutex<[String: Int]>([:])

    func record(_ level: Logger.Level, _ message: String) {
        counts.withLock { $0["\(level)", default: 0] += 1 }
        lines.record((level, message))
    }

    func count(_ level: Logger.Level) -> Int { counts.withLock { $0["\(level)"] ?? 0 } }

    /// Waits for a line at `level` (any level: nil) containing `text`, skipping others;
    /// false after `timeout`.
    func waitFor(_ level: Logger.Level?, containing text: String, timeout: Duration = .seconds(20)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            guard let (seen, message) = await lines.next(timeout: deadline - clock.now) else { return false }
            if level == nil || seen == level, message.contains(text) { return true }
        }
        return false
    }

    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in RecordingLogHandler(log: self) }
        logger.logLevel = .debug
        return logger
    }
}

struct RecordingLogHandler: LogHandler {
    let log: RecordingLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.record(event.level, "\(event.message)")
    }
}
