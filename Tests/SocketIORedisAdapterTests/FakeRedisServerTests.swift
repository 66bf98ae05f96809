import EngineTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import SocketIORedisAdapter

/// A server on 127.0.0.1 that answers each command it reads with the bytes `respond`
/// returns, for what a real redis-server 7 never does: refuse HELLO, speak only RESP2,
/// send garbage, or never answer.
final class FakeRedisServer: Sendable {
    typealias Respond = @Sendable (_ command: [String]) -> String

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }
    /// Every command read, as text.
    let received: EventLog<[String]>
    /// One event per client connection that closed.
    let closed = EventLog<Void>()

    /// With `stopsReadingAfter`, the server reads nothing more once it answered that
    /// command, as a stalled path would: what the client writes piles up in the sockets.
    init(stopsReadingAfter lastCommand: String? = nil, respond: @escaping Respond) async throws {
        let received = EventLog<[String]>()
        self.received = received
        let closed = closed
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        CommandHandler(
                            respond: respond, received: received, closed: closed, lastCommand: lastCommand))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() { channel.close(promise: nil) }

    private final class CommandHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var parser = RESPParser()
        private var buffer = ByteBuffer()
        private let respond: Respond
        private let received: EventLog<[String]>
        private let closed: EventLog<Void>
        private let lastCommand: String?

        init(respond: @escaping Respond, received: EventLog<[String]>, closed: EventLog<Void>, lastCommand: String?) {
            self.respond = respond
            self.received = received
            self.closed = closed
            self.lastCommand = lastCommand
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.record(())
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let command = try? parser.next(from: &buffer) {
                let arguments = (command.elements ?? []).compactMap(\.text)
                received.record(arguments)
                let reply = respond(arguments)
                if !reply.isEmpty { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil) }
                if let lastCommand, arguments.first == lastCommand {
                    try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                    return
                }
            }
        }
    }
}

@Suite("Redis client against servers that misbehave or are old")
struct FakeRedisServerTests {
    /// Generous timeouts by default: a busy machine must not turn a slow handshake into
    /// a failure. Tests about a silent server ask for `silenceTimeout`.
    static func configuration(_ server: FakeRedisServer, timeout: Duration = .seconds(10)) -> RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: server.port)
        configuration.connectTimeout = timeout
        return configuration
    }

    /// How long a test about a silent server waits for it: whatever happens first, the
    /// outcome it asserts is the same.
    static let silenceTimeout = Duration.milliseconds(500)

    @Test("a server without HELLO gets RESP2 AUTH, and its pub/sub arrays reach the subscriber")
    func resp2Fallback() async throws {
        let server = try await FakeRedisServer { command in
            switch command.first {
            case "HELLO": return "-ERR unknown command 'HELLO'\r\n"
            case "AUTH": return command == ["AUTH", "alice", "pw"] ? "+OK\r\n" : "-ERR invalid password\r\n"
            case "PING": return "+PONG\r\n"
            case "SUBSCRIBE":
                return "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
            default: return "-ERR unexpected\r\n"
            }
        }
        defer { server.stop() }
        var configuration = Self.configuration(server)
        configuration.username = "alice"
        configuration.password = "pw"
        let connection = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration))
        defer { connection.close() }
        #expect(connection.protocolVersion == 2)
        #expect(try await connection.command(["PING"]) == .simpleString("PONG"))

        let messages = EventLog<String>()
        let subscriber = RedisSubscriber(
            configuration: configuration, patterns: [], channels: ["ch"], logger: Logger(label: "resp2")
        ) { channel, payload in messages.record("\(channel): \(String(decoding: payload, as: UTF8.self))") }
        defer { subscriber.stop() }
        #expect(await messages.next() == "ch: hello")

        configuration.password = "wrong"
        let refusal = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration))
        }
        #expect(refusal?.description == "Redis refused the credentials: ERR invalid password")
    }

    @Test(
        "garbage or an oversized reply is a protocol error that closes the connection",
        arguments: ["?what\r\n", "$999999999999\r\n", String(repeating: "*1\r\n", count: 100)]
    )
    func protocolError(_ reply: String) async throws {
        let server = try await FakeRedisServer { _ in reply }
        defer { server.stop() }
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: Self.configuration(server)))
        }
        #expect(error?.description.contains("Redis protocol error") == true, "\(String(describing: error))")
    }

    @Test("a server that accepts the connection but never answers is given up on after the connect timeout")
    func silentServer() async throws {
        let server = try await FakeRedisServer { _ in "" }
        defer { server.stop() }
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(
                to: RedisEndpoint(configuration: Self.configuration(server, timeout: Self.silenceTimeout)))
        }
        #expect(error?.description.contains("did not complete the handshake within") == true)
    }

    @Test("a subscriber whose subscriptions are never confirmed reconnects instead of waiting forever")
    func unconfirmedSubscription() async throws {
        let server = try await FakeRedisServer { command in command.first == "HELLO" ? "+OK\r\n" : "" }
        defer { server.stop() }
        let subscriber = RedisSubscriber(
            configuration: Self.configuration(server, timeout: Self.silenceTimeout), patterns: [], channels: ["ch"],
            logger: Logger(label: "unconfirmed")
        ) { _, _ in }
        defer { subscriber.stop() }
        var hellos = 0
        while hellos < 2, let command = await server.received.next() {
            if command.first == "HELLO" { hellos += 1 }
        }
        #expect(hellos == 2)
    }

    /// RESP3 pushes confirming a subscription, as Redis 7 sends them.
    static func confirmations(_ kind: String, _ names: ArraySlice<String>) -> String {
        names.enumerated().map { index, name in
            ">3\r\n$\(kind.utf8.count)\r\n\(kind)\r\n$\(name.utf8.count)\r\n\(name)\r\n:\(index + 1)\r\n"
        }.joined()
    }

    @Test("a subscriber whose server goes silent after subscribing notices it and reconnects")
    func silentAfterSubscribing() async throws {
        let server = try await FakeRedisServer { command in
            switch command.first {
            case "HELLO": return "+OK\r\n"
            case "SUBSCRIBE": return Self.confirmations("subscribe", command.dropFirst())
            default: return ""  // PING goes unanswered, as on a path that died without FIN or RST
            }
        }
        defer { server.stop() }
        var configuration = Self.configuration(server, timeout: Self.silenceTimeout)
        configuration.pingInterval = .milliseconds(100)
        let log = RecordingLog()
        let subscriber = RedisSubscriber(
            configuration: configuration, patterns: [], channels: ["ch"], logger: log.logger(label: "silent")
        ) { _, _ in }
        defer { subscriber.stop() }
        #expect(await log.waitFor(.warning, containing: "lost its connection"))
        var hellos = 0
        while hellos < 2, let command = await server.received.next(timeout: .seconds(20)) {
            if command.first == "HELLO" { hellos += 1 }
        }
        #expect(hellos == 2)
    }

    @Test("ping() against a server that answered the handshake and then went silent throws")
    func pingSilentServer() async throws {
        let server = try await FakeRedisServer { command in command.first == "HELLO" ? "+OK\r\n" : "" }
        defer { server.stop() }
        let factory = RedisAdapterFactory(
            configuration: Self.configuration(server, timeout: Self.silenceTimeout),
            logger: RecordingLog().logger(label: "ping"))
        defer { factory.close() }
        let outcome = EventLog<String>()
        Task {
            do {
                try await factory.ping()
                outcome.record("answered")
            } catch {
                outcome.record("threw: \(error)")
            }
        }
        let result = await outcome.next(timeout: .seconds(20))
        #expect(result?.hasPrefix("threw: ") == true, "\(String(describing: result))")
    }

    @Test(
        "the answer to PING in subscribe mode is a reply on RESP2 and RESP3, not a push",
        arguments: [
            // RESP2: the pong and the message are both arrays, told apart by their first element.
            ("-ERR unknown command 'HELLO'\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n", "*3"),
            // RESP3: the pong is a reply and the message a push, as Redis sends them; a
            // message as an array would be the reply to a next PING already on its way.
            ("+OK\r\n", "+PONG\r\n", ">3"),
        ])
    func pongInSubscribeMode(hello: String, pong: String, message: String) async throws {
        let pings = Mutex(0)
        let server = try await FakeRedisServer { command in
            switch command.first {
            case "HELLO": return hello
            case "SUBSCRIBE":
                return "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
            case "PING":
                // After the second PING the first answer was taken as its reply, or the
                // connection would have been closed and a HELLO sent instead.
                let count = pings.withLock { count in
                    count += 1
                    return count
                }
                return count == 2 ? pong + message + "\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nalive\r\n" : pong
            default: return "-ERR unexpected\r\n"
            }
        }
        defer { server.stop() }
        // A reply timeout far above the ping interval: pings must still follow the interval.
        var configuration = Self.configuration(server, timeout: .seconds(30))
        configuration.pingInterval = .milliseconds(50)
        let messages = EventLog<String>()
        let subscriber = RedisSubscriber(
            configuration: configuration, patterns: [], channels: ["ch"], logger: Logger(label: "pong")
        ) { channel, payload in messages.record("\(channel): \(String(decoding: payload, as: UTF8.self))") }
        defer { subscriber.stop() }
        #expect(await messages.next(timeout: .seconds(20)) == "ch: alive")
        #expect(server.received.pending.filter { $0.first == "HELLO" }.count == 1)
    }

    @Test("a refused PSUBSCRIBE fails the subscription with Redis's message, and the log shows it")
    func refusedSubscription() async throws {
        let server = try await FakeRedisServer { command in
            switch command.first {
            case "HELLO": return "+OK\r\n"
            case "PSUBSCRIBE":
                return "-NOPERM No permissions to access a channel\r\n"
            default: return "-ERR unexpected\r\n"
            }
        }
        defer { server.stop() }
        let log = RecordingLog()
        let subscriber = RedisSubscriber(
            configuration: Self.configuration(server), patterns: ["socket.io#/#*"], channels: [],
            logger: log.logger(label: "refused")
        ) { _, _ in }
        defer { subscriber.stop() }
        #expect(
            await log.waitFor(
                .warning, containing: "Redis refused PSUBSCRIBE: NOPERM No permissions to access a channel"))
    }

    @Test("stop() while a subscriber's connection is being set up closes it, and logs no outage")
    func stopWhileSettingUp() async throws {
        let server = try await FakeRedisServer { command in command.first == "HELLO" ? "+OK\r\n" : "" }
        defer { server.stop() }
        var configuration = Self.configuration(server)
        // Long enough that only stop() can be what closes the connection within the wait below.
        configuration.connectTimeout = .seconds(60)
        let log = RecordingLog()
        let subscriber = RedisSubscriber(
            configuration: configuration, patterns: [], channels: ["ch"], logger: log.logger(label: "stop")
        ) { _, _ in }
        while let command = await server.received.next(timeout: .seconds(20)), command.first != "SUBSCRIBE" {}
        subscriber.stop()
        #expect(await server.closed.next(timeout: .seconds(20)) != nil)
        #expect(log.count(.warning) == 0)
    }

    @Test("the streams adapter over sharded Pub/Sub refuses a Redis before 7 at ping(), naming the variable")
    func streamsShardedPubSubOnRedis6() async throws {
        let server = try await FakeRedisServer { command in
            switch command.first {
            case "HELLO": return "+OK\r\n"
            case "PING": return "+PONG\r\n"
            case "PUBSUB":
                return "-ERR Unknown subcommand or wrong number of arguments for 'SHARDNUMSUB'. Try PUBSUB HELP.\r\n"
            default: return "-ERR unexpected\r\n"
            }
        }
        defer { server.stop() }
        func ping(shardedPubSub: Bool) async throws {
            var configuration = Self.configuration(server)
            configuration.adapter = .streams
            configuration.stream.shardedPubSub = shardedPubSub
            let factory = RedisAdapterFactory(configuration: configuration, logger: Logger(label: "ping"))
            defer { factory.close() }
            try await factory.ping()
        }
        try await ping(shardedPubSub: false)
        let refusal = await #expect(throws: RedisIncompatibility.self) { try await ping(shardedPubSub: true) }
        let expected = "REDIS_STREAM_SHARDED_PUBSUB=true needs sharded Pub/Sub (Redis 7 or later); redis://127.0.0.1:"
        #expect(refusal?.description.hasPrefix(expected) == true)
    }

    @Test("publishes to a connection that cannot take more are dropped and counted, not buffered")
    func publishesDroppedWhileNotWritable() async throws {
        let server = try await FakeRedisServer(stopsReadingAfter: "HELLO") { command in
            command.first == "HELLO" ? "+OK\r\n" : ""
        }
        defer { server.stop() }
        var configuration = Self.configuration(server)
        // Long enough that the liveness check does not close the stalled connection first.
        configuration.connectTimeout = .seconds(60)
        let log = RecordingLog()
        let publisher = RedisPublisher(configuration: configuration, logger: log.logger(label: "stalled"))
        defer { publisher.stop() }
        #expect(await log.waitFor(.debug, containing: "publisher connected"))
        let payload = [UInt8](repeating: 120, count: 256 * 1024)
        // Far more than the sockets of a stalled path hold; the loops run each publish's
        // write before the next, so writability is up to date.
        var published = 0
        while published < 400, publisher.droppedWhileCongested == 0 {
            publisher.publish(channel: "ch", message: payload)
            published += 1
            for eventLoop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                try await eventLoop.submit {}.get()
            }
        }
        #expect(publisher.droppedWhileCongested > 0)
        #expect(await log.waitFor(.warning, containing: "is not writable; dropping publishes"))
    }
}
