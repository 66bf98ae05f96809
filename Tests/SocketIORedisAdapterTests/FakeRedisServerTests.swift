import EngineTestSupport
import Logging
import NIOCore
import NIOPosix
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

    init(respond: @escaping Respond) async throws {
        let received = EventLog<[String]>()
        self.received = received
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        CommandHandler(respond: respond, received: received))
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

        init(respond: @escaping Respond, received: EventLog<[String]>) {
            self.respond = respond
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let command = try? parser.next(from: &buffer) {
                let arguments = (command.elements ?? []).compactMap(\.text)
                received.record(arguments)
                let reply = respond(arguments)
                if !reply.isEmpty { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil) }
            }
        }
    }
}

@Suite("Redis client against servers that misbehave or are old")
struct FakeRedisServerTests {
    static func configuration(_ server: FakeRedisServer) -> RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: server.port)
        configuration.connectTimeout = .milliseconds(500)
        return configuration
    }

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
            _ = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: Self.configuration(server)))
        }
        #expect(error?.description.contains("did not complete the handshake within") == true)
    }

    @Test("a subscriber whose subscriptions are never confirmed reconnects instead of waiting forever")
    func unconfirmedSubscription() async throws {
        let server = try await FakeRedisServer { command in command.first == "HELLO" ? "+OK\r\n" : "" }
        defer { server.stop() }
        let subscriber = RedisSubscriber(
            configuration: Self.configuration(server), patterns: [], channels: ["ch"],
            logger: Logger(label: "unconfirmed")
        ) { _, _ in }
        defer { subscriber.stop() }
        var hellos = 0
        while hellos < 2, let command = await server.received.next() {
            if command.first == "HELLO" { hellos += 1 }
        }
        #expect(hellos == 2)
    }
}
