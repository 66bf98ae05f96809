import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A command on its way to Redis, and where its reply goes.
struct RedisOutboundCommand: Sendable {
    enum Reply: Sendable {
        /// An ordinary reply; nil when nobody waits for it.
        case value(EventLoopPromise<RESPValue>?)
        /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` or `SUNSUBSCRIBE` with `count` channels
        /// or patterns: confirmed by as many pushes, refused by an error reply. On a RESP2
        /// connection what comes after it are pub/sub arrays, not replies.
        case subscription(command: String, count: Int, confirmed: EventLoopPromise<Void>)
    }

    let command: RESPValue
    let reply: Reply
    /// How long Redis may hold the reply on purpose (`XREAD BLOCK`): the liveness
    /// deadline starts after it.
    var serverWait = TimeAmount.zero
}

/// Redis (or something between) closed the connection.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the server closed the connection" }
}

/// Redis sent nothing for a whole reply timeout while a reply was due: the path is taken
/// for dead (a silent one sends no FIN or RST) and the connection is closed.
struct ReplyTimeout: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "Redis sent no reply within \(timeout)" }
}

/// How a connection notices that Redis went silent.
struct RedisLiveness: Sendable {
    /// After this long without a byte from Redis, the connection sends `PING`.
    var pingInterval: TimeAmount
    /// How long a due reply may take, counted from the command or the last byte read,
    /// whichever is later, before the connection is closed.
    var replyTimeout: Duration
}

/// Owns the FIFO of pending replies of one connection, on its event loop: replies come
/// in the order commands went out (pipelining), pushes go to `onPush`. Pings an idle
/// connection and closes one whose due reply does not come.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisOutboundCommand
    typealias OutboundOut = ByteBuffer

    /// What a command sent waits for.
    private enum Awaited {
        /// A reply; no promise for the handler's own `PING`.
        case reply(EventLoopPromise<RESPValue>?)
        case subscription(command: String, remaining: Int, confirmed: EventLoopPromise<Void>)

        func fail(_ error: any Error) {
            switch self {
            case .reply(let promise): promise?.fail(error)
            case .subscription(_, _, let confirmed): confirmed.fail(error)
            }
        }
    }

    private struct Pending {
        var awaited: Awaited
        /// When the reply may come at the earliest: sent, plus what Redis may hold it for.
        let dueFrom: NIODeadline
    }

    private var parser: RESPParser
    private var received = ByteBuffer()
    private var pending = CircularBuffer<Pending>()
    private var subscribeMode = false
    private var failure: (any Error)?
    private let liveness: RedisLiveness?
    private var lastRead = NIODeadline.now()
    private var timer: (deadline: NIODeadline, task: Scheduled<Void>)?
    private let onPush: @Sendable (RESPValue) -> Void
    private let onFailure: @Sendable (String) -> Void
    private let onRefusal: @Sendable (String) -> Void
    /// Pub/sub arrays on a RESP2 connection, which has no push type. Not `pong`: in
    /// subscribe mode RESP2 answers `PING` with `["pong", ""]`, which is a reply.
    private static let pushKinds: Set<String> = [
        "message", "pmessage", "smessage", "subscribe", "psubscribe", "ssubscribe", "unsubscribe",
        "punsubscribe", "sunsubscribe",
    ]
    /// What answers a (un)subscribe command, one push per channel or pattern.
    private static let confirmationKinds: Set<String> = ["subscribe", "psubscribe", "ssubscribe", "sunsubscribe"]

    /// `onFailure` hears why the connection ends (once), for the log. Without `liveness`
    /// the connection waits for replies as long as it stays open.
    init(
        limits: RESPParser.Limits = RESPParser.Limits(), liveness: RedisLiveness? = nil,
        onPush: @escaping @Sendable (RESPValue) -> Void,
        onFailure: @escaping @Sendable (String) -> Void = { _ in },
        onRefusal: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.parser = RESPParser(limits: limits)
        self.liveness = liveness
        self.onPush = onPush
        self.onFailure = onFailure
        self.onRefusal = onRefusal
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startIdleClock(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleClock(context: context)
        context.fireChannelActive()
    }

    /// The connection counts as idle from when it is up, not from when it was dialled.
    private func startIdleClock(context: ChannelHandlerContext) {
        lastRead = .now()
        armTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        let awaited: Awaited
        switch outbound.reply {
        case .value(let reply): awaited = .reply(reply)
        case .subscription(let command, let count, let confirmed):
            awaited = .subscription(command: command, remaining: count, confirmed: confirmed)
        }
        if let failure {
            awaited.fail(failure)
            promise?.fail(failure)
            return
        }
        pending.append(Pending(awaited: awaited, dueFrom: .now() + outbound.serverWait))
        if case .subscription = outbound.reply { subscribeMode = true }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        outbound.command.encode(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: promise)
        armTimer(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a protocol error nothing more is read: the parser's state is not to be trusted.
        guard failure == nil else { return }
        lastRead = .now()
        var incoming = unwrapInboundIn(data)
        if received.readableBytes == 0 {
            received = incoming
        } else {
            received.writeBuffer(&incoming)
        }
        do {
            while let value = try parser.next(from: &received) {
                try dispatch(value)
            }
        } catch {
            fail(context: context, error)
            return
        }
        // Keep memory bounded by what is unread, not by everything ever received.
        if received.readerIndex > 64 * 1024 { received.discardReadBytes() }
        // The awaited reply came: the next check is the idle one, not that reply's deadline.
        armTimer(context: context)
    }

    private func dispatch(_ value: RESPValue) throws {
        if case .push(let elements) = value {
            confirmSubscription(elements)
            onPush(value)
            return
        }
        if subscribeMode, case .array(let elements) = value, let kind = elements.first?.text,
            Self.pushKinds.contains(kind)
        {
            confirmSubscription(elements)
            onPush(.push(elements))
            return
        }
        guard let awaited = pending.popFirst()?.awaited else {
            throw RESPProtocolError(message: "a reply to no command")
        }
        switch awaited {
        case .reply(let reply?):
            reply.succeed(value)
        case .reply(nil):
            // Nobody waits for this reply (a publish): a refusal would otherwise go unseen.
            if let refusal = value.errorMessage { onRefusal(refusal) }
        case .subscription(let command, _, let confirmed):
            // The only reply a subscribe command gets is its refusal (an ACL user
            // without the channel, for one).
            let refusal = value.errorMessage ?? "\(value)"
            confirmed.fail(RedisError(message: "Redis refused \(command): \(refusal)"))
        }
    }

    /// Counts a subscribe confirmation against the subscribe command it answers.
    private func confirmSubscription(_ elements: [RESPValue]) {
        // Matched by kind: Redis Cluster also sends `sunsubscribe` on its own when a
        // channel's slot moves to another shard, which confirms no command.
        guard let kind = elements.first?.text, Self.confirmationKinds.contains(kind),
            case .subscription(let command, let remaining, let confirmed) = pending.first?.awaited,
            command.lowercased() == kind
        else { return }
        if remaining > 1 {
            pending[pending.startIndex].awaited = .subscription(
                command: command, remaining: remaining - 1, confirmed: confirmed)
        } else {
            pending.removeFirst()
            confirmed.succeed()
        }
    }

    /// Keeps one timer: at the due reply's deadline while one is awaited, else when the
    /// connection will have been idle for the ping interval.
    private func armTimer(context: ChannelHandlerContext) {
        guard let liveness, failure == nil else { return }
        let deadline: NIODeadline
        if let oldest = pending.first {
            deadline = max(oldest.dueFrom, lastRead) + TimeAmount(liveness.replyTimeout)
        } else {
            deadline = lastRead + liveness.pingInterval
        }
        if let timer {
            guard deadline < timer.deadline else { return }
            timer.task.cancel()
        }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            checkLiveness(context: context)
        }
        timer = (deadline, task)
    }

    private func checkLiveness(context: ChannelHandlerContext) {
        guard let liveness, failure == nil else { return }
        let now = NIODeadline.now()
        if let oldest = pending.first {
            if now >= max(oldest.dueFrom, lastRead) + TimeAmount(liveness.replyTimeout) {
                fail(context: context, ReplyTimeout(timeout: liveness.replyTimeout))
                return
            }
        } else if now >= lastRead + liveness.pingInterval {
            pending.append(Pending(awaited: .reply(nil), dueFrom: now))
            var buffer = context.channel.allocator.buffer(capacity: 16)
            RESPValue.command([Array("PING".utf8)]).encode(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        armTimer(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending(failure ?? ConnectionClosed())
        timer?.task.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: any Error) {
        if failure == nil {
            failure = error
            onFailure("\(error)")
        }
        while let oldest = pending.popFirst() { oldest.awaited.fail(error) }
    }
}

/// Where Redis is and how to reach it: the configuration, its TLS context (made once)
/// and the event loops connections run on.
struct RedisEndpoint: Sendable {
    let configuration: RedisConfiguration
    let tlsContext: Result<NIOSSLContext?, RedisError>
    let eventLoopGroup: any EventLoopGroup

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
    {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        do {
            tlsContext = .success(try configuration.makeTLSContext())
        } catch {
            tlsContext = .failure(RedisError(message: "\(error)"))
        }
    }
}

/// One connection to Redis on SwiftNIO: authenticated, on the selected database, RESP3
/// when the server speaks it. Commands may be sent from any thread; they go out in order.
final class RedisClientConnection: Sendable {
    let channel: any Channel
    /// 3 when `HELLO 3` was accepted, 2 for a server that only speaks RESP2.
    let protocolVersion: Int
    private let failure: FailureReason

    /// The first error of a connection, written on its event loop, read by whoever logs.
    private final class FailureReason: Sendable {
        private let text = Mutex<String?>(nil)
        func record(_ reason: String) { text.withLock { $0 = $0 ?? reason } }
        var reason: String? { text.withLock { $0 } }
    }

    private init(channel: any Channel, protocolVersion: Int, failure: FailureReason) {
        self.channel = channel
        self.protocolVersion = protocolVersion
        self.failure = failure
    }

    /// Why the connection ended, once it has: a protocol error, a TLS alert, or that the
    /// server closed it.
    var closeReason: String { failure.reason ?? "the connection to Redis closed" }

    /// Completes when the connection has closed, for whatever reason.
    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Connects (TLS for `rediss://`), negotiates RESP3 with `HELLO 3` (authenticating in
    /// it), falls back to RESP2 `AUTH` when the server has no `HELLO`, then selects the
    /// database. All within ``RedisConfiguration/connectTimeout``.
    /// `onRefusal` hears the error replies to commands nobody waits for
    /// (``sendWithoutReply(_:)``), such as a publish an ACL refuses.
    static func connect(
        to endpoint: RedisEndpoint, onPush: @escaping @Sendable (RESPValue) -> Void = { _ in },
        onRefusal: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> RedisClientConnection {
        let configuration = endpoint.configuration
        let tlsContext = try endpoint.tlsContext.get()
        // SNI takes names only; for an address NIOSSL checks the certificate against the peer's IP.
        let serverHostname =
            (try? SocketAddress(ipAddress: configuration.host, port: 0)) == nil ? configuration.host : nil
        let timeout = TimeAmount(configuration.connectTimeout)
        let failure = FailureReason()
        let liveness = RedisLiveness(
            pingInterval: TimeAmount(configuration.pingInterval), replyTimeout: configuration.connectTimeout)
        let bootstrap = ClientBootstrap(group: endpoint.eventLoopGroup)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(
                            limits: RESPParser.Limits(maximumValueBytes: configuration.maximumValueBytes),
                            liveness: liveness, onPush: onPush, onFailure: { failure.record($0) },
                            onRefusal: onRefusal))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError(message: "cannot connect to \(configuration.description): \(error)")
        }
        // The handshake must not hang either: past the timeout the channel is closed,
        // which fails whatever is still waiting.
        let timedOut = Mutex(false)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLock { $0 = true }
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let protocolVersion = try await handshake(channel: channel, configuration: configuration)
            return RedisClientConnection(channel: channel, protocolVersion: protocolVersion, failure: failure)
        } catch {
            channel.close(promise: nil)
            if timedOut.withLock({ $0 }) || error is ReplyTimeout {
                throw RedisError(
                    message:
                        "\(configuration.description) did not complete the handshake within \(configuration.connectTimeout)"
                )
            }
            // A refusal (credentials, SELECT) says it all; otherwise the first failure the
            // handler saw is the cause, a failed write after it only a consequence.
            if error is RedisError { throw error }
            let reason = failure.reason ?? "\(error)"
            if tlsContext != nil {
                throw RedisError(message: "TLS with \(configuration.description) failed: \(reason)")
            }
            throw RedisError(message: "the connection to \(configuration.description) failed: \(reason)")
        }
    }

    private static func handshake(channel: any Channel, configuration: RedisConfiguration) async throws -> Int {
        func send(_ arguments: [String]) async throws -> RESPValue {
            try await write(.command(arguments.map { Array($0.utf8) }), on: channel, flush: true).get()
        }
        var hello = ["HELLO", "3"]
        if let password = configuration.password {
            hello += ["AUTH", configuration.username ?? "default", password]
        }
        var protocolVersion = 3
        if let message = try await send(hello).errorMessage {
            if message.hasPrefix("NOPROTO") || message.lowercased().hasPrefix("err unknown command") {
                // A server before Redis 6: RESP2, and AUTH on its own.
                protocolVersion = 2
                if let password = configuration.password {
                    let auth = ["AUTH"] + (configuration.username.map { [$0] } ?? []) + [password]
                    if let refusal = try await send(auth).errorMessage {
                        throw RedisError(message: "Redis refused the credentials: \(refusal)")
                    }
                }
            } else if message.hasPrefix("NOAUTH") {
                throw RedisError(
                    message: "Redis requires credentials (REDIS_URL redis://user:password@host): \(message)")
            } else if message.hasPrefix("WRONGPASS") || configuration.password != nil {
                throw RedisError(message: "Redis refused the credentials: \(message)")
            } else {
                throw RedisError(message: "Redis refused HELLO 3: \(message)")
            }
        }
        if let database = configuration.database, database != 0,
            let message = try await send(["SELECT", String(database)]).errorMessage
        {
            throw RedisError(message: "Redis refused SELECT \(database): \(message)")
        }
        return protocolVersion
    }

    /// Sends a command; the reply (an error reply too) completes the future, in order.
    /// Without `flush`, it goes out with the next flush of the channel. `serverWait` is how
    /// long a blocking command may keep Redis silent without the connection being taken
    /// for dead.
    func send(_ arguments: [[UInt8]], flush: Bool = true, serverWait: TimeAmount = .zero) -> EventLoopFuture<RESPValue>
    {
        Self.write(.command(arguments), on: channel, flush: flush, serverWait: serverWait)
    }

    /// Writes a command nobody waits for (a publish), to go out with the next flush: no
    /// promise per command; an error reply goes to the connection's `onRefusal`.
    func sendWithoutReply(_ arguments: [[UInt8]]) {
        channel.write(RedisOutboundCommand(command: .command(arguments), reply: .value(nil)), promise: nil)
    }

    /// Writes a command whose reply completes the future. A write that fails (the
    /// channel closed before it reached the handler) fails the reply too, so no caller
    /// waits for a reply that can never come.
    private static func write(
        _ command: RESPValue, on channel: any Channel, flush: Bool, serverWait: TimeAmount = .zero
    ) -> EventLoopFuture<RESPValue> {
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { reply.fail($0) }
        let outbound = RedisOutboundCommand(command: command, reply: .value(reply), serverWait: serverWait)
        if flush {
            channel.writeAndFlush(outbound, promise: written)
        } else {
            channel.write(outbound, promise: written)
        }
        return reply.futureResult
    }

    /// Sends a command and waits for its reply.
    func command(_ arguments: [String]) async throws -> RESPValue {
        try await send(arguments.map { Array($0.utf8) }).get()
    }

    /// Sends `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` or `SUNSUBSCRIBE` (with at least one
    /// channel): their confirmations, like the messages after them, arrive as pushes. The
    /// future succeeds once every channel or pattern is confirmed and fails with Redis's
    /// message when it refuses the command.
    func subscribe(_ arguments: [String]) -> EventLoopFuture<Void> {
        let confirmed = channel.eventLoop.makePromise(of: Void.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { confirmed.fail($0) }
        let command = RESPValue.command(arguments.map { Array($0.utf8) })
        let reply = RedisOutboundCommand.Reply.subscription(
            command: arguments.first ?? "SUBSCRIBE", count: arguments.count - 1, confirmed: confirmed)
        channel.writeAndFlush(RedisOutboundCommand(command: command, reply: reply), promise: written)
        return confirmed.futureResult
    }

    func close() {
        channel.close(promise: nil)
    }
}
