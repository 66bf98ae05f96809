import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What one client may hold of the server with its TCP connections: time to send a
/// request head, a whole request, idle time between requests, and open connections
/// per peer address. Timeouts are about the client being slow to send; a response the
/// server holds (a long-poll) is never cut, and an upgraded WebSocket is left to
/// Engine.IO's heartbeat. Defaults as Node's `http.Server`; nil turns a limit off.
public struct HTTPConnectionLimits: Sendable, Equatable {
    /// From accept, or from the end of the previous response, until the request head
    /// is complete (Node's `headersTimeout`).
    public var headersTimeout: Duration? = .seconds(60)
    /// From the end of a response until the next request's first byte (Node's
    /// `keepAliveTimeout`).
    public var keepAliveTimeout: Duration? = .seconds(5)
    /// From a request's first byte until its body is complete (Node's `requestTimeout`).
    public var requestTimeout: Duration? = .seconds(300)
    /// Open TCP connections one peer address may hold; more are closed at accept.
    public var maxConnectionsPerAddress: Int? = 1000

    /// Node's defaults: 60 s for the head, 5 s keep-alive, 300 s per request, 1000 connections
    /// per address.
    public init() {}

    /// Every limit off.
    public static let none: HTTPConnectionLimits = {
        var limits = HTTPConnectionLimits()
        limits.headersTimeout = nil
        limits.keepAliveTimeout = nil
        limits.requestTimeout = nil
        limits.maxConnectionsPerAddress = nil
        return limits
    }()
}

/// Open connections by TCP peer address; an address leaves the table with its last one.
final class ConnectionsPerAddress: Sendable {
    private let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new connection from `address`, unless that address is at the limit.
    func admit(_ address: String) -> Bool {
        open.withLock { open in
            let count = open[address, default: 0]
            guard count < limit else { return false }
            open[address] = count + 1
            return true
        }
    }

    func release(_ address: String) {
        open.withLock { open in
            guard let count = open[address] else { return }
            open[address] = count > 1 ? count - 1 : nil
        }
    }

    var addresses: Int { open.withLock { $0.count } }
}

/// An HTTP/1 child channel with `HTTPConnectionLimits` applied: connections over the
/// per-address cap are closed as soon as they are active, the others get
/// `HTTPDeadlineHandler` around the request decoder.
struct GuardedServerChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    enum Value: ServerChildChannelValue {
        case admitted(Base.Value)
        case refused(any Channel)

        var channel: any Channel {
            switch self {
            case .admitted(let value): value.channel
            case .refused(let channel): channel
            }
        }
    }

    let base: Base
    let limits: HTTPConnectionLimits
    let perAddress: ConnectionsPerAddress?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        if let perAddress, let address = channel.remoteAddress?.ipAddress {
            guard perAddress.admit(address) else {
                logger.debug("too many connections from one address, closing", metadata: ["peer": "\(address)"])
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CloseWhenActive())
                    return .refused(channel)
                }
            }
            channel.closeFuture.whenComplete { _ in perAddress.release(address) }
        }
        let limits = self.limits
        return base.setup(channel: channel, logger: logger).assumeIsolated().flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            // Without a request decoder there is nothing to time: the channel is left as it is.
            if let decoder = try? operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                let deadlines = HTTPDeadlineHandler(limits: limits, logger: logger)
                let bytes = RequestBytesObserver(deadlines: deadlines)
                deadlines.bytesObserver = bytes
                try operations.addHandler(bytes, position: .before(decoder))
                try operations.addHandler(deadlines, position: .after(decoder))
            }
            return Value.admitted(value)
        }.nonisolated()
    }

    func handle(value: Value, logger: Logger) async {
        switch value {
        case .admitted(let value): await base.handle(value: value, logger: logger)
        case .refused: break
        }
    }
}

/// Closes a refused connection once it is open.
final class CloseWhenActive: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Sits before the request decoder and tells `HTTPDeadlineHandler` when bytes arrive:
/// the first byte after a request starts the next one. It never reads what it passes on.
final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private weak var deadlines: HTTPDeadlineHandler?

    init(deadlines: HTTPDeadlineHandler) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadlines?.bytesArrived()
        context.fireChannelRead(data)
    }
}

/// Closes a connection whose client is slow to send: a request head not complete within
/// `headersTimeout` of accept or of the previous response, a request not complete within
/// `requestTimeout` of its first byte, no new request within `keepAliveTimeout` of a
/// response. A client still waiting for its response is never timed.
///
/// It sits right after the request decoder and sees the requests as they arrive and the
/// responses as they are written. A request that asks to switch protocols is not read
/// until its answer: on `101` the handler leaves the pipeline (the decoder is gone and
/// the bytes that follow are not HTTP); any other answer closes the connection after it.
final class HTTPDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Deadline: String {
        case headers, request, keepAlive
    }

    private enum Mode {
        case timing
        /// A request with `Upgrade` was passed on; nothing is read until its answer.
        case upgradeAsked
        /// The answer to an upgrade request was not `101`: the connection ends with it.
        case closingAfterResponse
        /// `101` was written; the handler leaves the pipeline once it is flushed.
        case upgraded
        case left
    }

    private let limits: HTTPConnectionLimits
    private let logger: Logger
    weak var bytesObserver: RequestBytesObserver?
    private var context: ChannelHandlerContext?
    private var mode = Mode.timing
    /// Requests whose head has arrived and whose response has not ended.
    private var responsesOwed = 0
    private var readingBody = false
    /// No byte of the next request has arrived (since accept, or since a request ended).
    private var betweenRequests = true
    private var headers: Scheduled<Void>?
    private var request: Scheduled<Void>?
    private var keepAlive: Scheduled<Void>?

    init(limits: HTTPConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { connectionOpened() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAll()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionOpened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAll()
        context.fireChannelInactive()
    }

    private func connectionOpened() {
        arm(.headers)
    }

    /// Called by `RequestBytesObserver` for every read.
    func bytesArrived() {
        guard mode == .timing, betweenRequests else { return }
        betweenRequests = false
        cancel(.keepAlive)
        arm(.request)
    }

    /// On graceful shutdown a connection that owes no response goes at once, whether or
    /// not it has carried a request (Hummingbird's own handler only joins after the first).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, mode == .timing, responsesOwed == 0 {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard mode == .timing else {
            context.fireChannelRead(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            cancel(.headers)
            responsesOwed += 1
            readingBody = true
            if head.headers.contains(name: "upgrade") {
                mode = .upgradeAsked
                cancelAll()
            }
        case .body:
            break
        case .end:
            readingBody = false
            betweenRequests = true
            cancel(.request)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .upgraded, .left:
            context.write(data, promise: promise)
        case .upgradeAsked:
            guard case .head(var head) = unwrapOutboundIn(data) else {
                context.write(data, promise: promise)
                return
            }
            if head.status == .switchingProtocols {
                // Leaves at the flush that follows: removed here, a `writeAndFlush` would
                // lose its flush.
                mode = .upgraded
                context.write(data, promise: promise)
            } else if head.status.code >= 200 {
                mode = .closingAfterResponse
                head.headers.replaceOrAdd(name: "connection", value: "close")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .closingAfterResponse:
            guard case .end = unwrapOutboundIn(data) else {
                context.write(data, promise: promise)
                return
            }
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
        case .timing:
            if case .end = unwrapOutboundIn(data) {
                responseEnded()
            }
            context.write(data, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if mode == .upgraded {
            mode = .left
            if let bytesObserver { context.pipeline.syncOperations.removeHandler(bytesObserver, promise: nil) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func responseEnded() {
        responsesOwed = max(0, responsesOwed - 1)
        guard responsesOwed == 0, !readingBody else { return }
        arm(.headers)
        if betweenRequests { arm(.keepAlive) }
    }

    private func arm(_ deadline: Deadline) {
        cancel(deadline)
        let timeout: Duration?
        switch deadline {
        case .headers: timeout = limits.headersTimeout
        case .request: timeout = limits.requestTimeout
        case .keepAlive: timeout = limits.keepAliveTimeout
        }
        guard let timeout, let context else { return }
        let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            self.expired(deadline)
        }
        switch deadline {
        case .headers: headers = scheduled
        case .request: request = scheduled
        case .keepAlive: keepAlive = scheduled
        }
    }

    private func cancel(_ deadline: Deadline) {
        switch deadline {
        case .headers:
            headers?.cancel()
            headers = nil
        case .request:
            request?.cancel()
            request = nil
        case .keepAlive:
            keepAlive?.cancel()
            keepAlive = nil
        }
    }

    private func cancelAll() {
        cancel(.headers)
        cancel(.request)
        cancel(.keepAlive)
    }

    private func expired(_ deadline: Deadline) {
        guard let context, mode == .timing else { return }
        cancelAll()
        logger.debug(
            "closing a connection slow to send",
            metadata: [
                "timeout": "\(deadline.rawValue)", "peer": "\(context.channel.remoteAddress?.description ?? "?")",
            ]
        )
        // Nothing is being answered: the client is told why, as Node does.
        if deadline != .keepAlive, responsesOwed == 0 {
            var head = HTTPResponseHead(version: .http1_1, status: .requestTimeout)
            head.headers.add(name: "connection", value: "close")
            head.headers.add(name: "content-length", value: "0")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }
}
