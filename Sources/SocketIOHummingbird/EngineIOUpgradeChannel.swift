import EngineIO
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// HTTP/1.1 with Engine.IO WebSockets run by channel handlers on the connection's event
/// loop: once a WebSocket is upgraded, `handle(value:)` returns and no task stays for the
/// connection's life (Hummingbird's server does not close a child channel when its
/// `handle` returns). Requests that do not upgrade go to the responder as Hummingbird's
/// WebSocket channel sends them; a refused upgrade gets its 400.
struct EngineIOUpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        /// The channel's handlers own the WebSocket now.
        case webSocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let http1: HTTP1Channel.Configuration
    let idleTimeout: Duration?
    let maxFrameSize: Int
    let upgrade: EngineIOWebSocketUpgrade

    init(
        responder: @escaping HTTPChannelHandler.Responder,
        idleTimeout: Duration?,
        maxFrameSize: Int,
        upgrade: EngineIOWebSocketUpgrade
    ) {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.http1 = HTTP1Channel.Configuration()
        self.idleTimeout = idleTimeout
        self.maxFrameSize = maxFrameSize
        self.upgrade = upgrade
    }

    /// How each connection sizes its reads. NIO keeps a channel's receive buffer for the
    /// channel's life, grown to the size its allocator last asked for, so an idle
    /// WebSocket holds what its reads have needed (NIO starts at 2 KB). 512 bytes take a
    /// chat message in one read, and most of an upgrade request: the rest of a larger
    /// one goes to a second buffer, let go at the upgrade. A larger read grows the next
    /// ones, doubling, as it would from 2 KB.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// NIO's read pool keeps up to `maxMessagesPerRead` buffers for the channel's life, a
    /// new one for each read that found the others still held downstream, as the upgrade
    /// request's are. Lowering the count to one and back lets all but the first go; a
    /// fresh allocator keeps the request's reads from growing that one.
    static func releaseUpgradeReadBuffers(_ channel: any Channel) throws {
        guard let options = channel.syncOptions else { return }
        let reads = try options.getOption(ChannelOptions.maxMessagesPerRead)
        try options.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
        try options.setOption(ChannelOptions.maxMessagesPerRead, value: reads)
        try options.setOption(ChannelOptions.recvAllocator, value: Self.receiveAllocator)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveAllocator)
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let accepted = NIOLoopBoundBox<AcceptedWebSocket?>(nil, eventLoop: channel.eventLoop)
            let upgrade = self.upgrade
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        upgradeAttempted.value = true
                        let request = try HTTPRequest(head, secure: false, splitCookie: false)
                        guard let webSocket = upgrade.accept(request, channel: channel) else { return nil }
                        accepted.value = webSocket
                        return HTTPHeaders()
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        if let webSocket = accepted.value {
                            accepted.value = nil
                            try Self.releaseUpgradeReadBuffers(channel)
                            try webSocket.attach(to: channel)
                        }
                        return UpgradeResult.webSocket
                    }
                }
            )
            let idleTimeout = self.idleTimeout
            let serverUpgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return upgradeAttempted.value
                            ? UpgradeResult.failedUpgrade(asyncChannel) : UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
                upgradeConfiguration: serverUpgrade)
            // As Hummingbird's own HTTP/1 channels: requests are taken one at a time by the
            // async channel, errors answered by the responder, headers already validated.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                return
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .failedUpgrade(let http1):
                logger.debug("WebSocket upgrade refused")
                await Self.refuseUpgrade(http1, logger: logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its request was read")
        } catch {
            logger.error("Error handling upgrade result", metadata: ["error.type": .string("\(error)")])
        }
    }

    /// An empty 400 that closes the connection, as Hummingbird answers a refused upgrade.
    private static func refuseUpgrade(
        _ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger
    ) async {
        do {
            try await channel.executeThenClose { _, outbound in
                let head = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            }
        } catch {
            logger.trace("could not answer a refused upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// NIO upgrades only a connection's first request: a later one asking for a WebSocket
    /// is sent back to the same target on a new connection, where it can be upgraded.
    private static func redirectingLateUpgrades(
        _ responder: @escaping HTTPChannelHandler.Responder
    ) -> HTTPChannelHandler.Responder {
        struct RedirectedUpgrade: Error {}
        return { request, responseWriter, channel in
            guard request.headers[.upgrade] == "websocket" else {
                try await responder(request, responseWriter, channel)
                return
            }
            var target = request.uri.path
            if let query = request.uri.query { target += "?\(query)" }
            let response = HTTPResponse(
                status: .temporaryRedirect, headerFields: [.connection: "close", .location: target])
            try await responseWriter.writeResponse(response)
            // Thrown so the connection closes after the answer.
            throw RedirectedUpgrade()
        }
    }
}

/// Owns an upgraded Engine.IO WebSocket on its channel's event loop: reassembles the
/// client's messages (the `InboundTap` below has held their frames to the rules) and
/// hands them to the session, answers pings, and runs the closing handshake from either
/// side. Sits above NIO's frame decoder and the tap.
final class EngineWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// How long a client gets to answer the server's close frame before the connection is
    /// cut: one that neither answers nor closes cannot hold it open.
    static let closeTimeout = TimeAmount.seconds(2)

    /// Set once the session has taken the socket.
    var link: EngineWebSocketLink?
    private let sink: ChannelFrameSink
    private var context: ChannelHandlerContext?
    /// The fragments of a message so far.
    private var message: ByteBuffer?
    private var messageIsText = false
    private var closeSent = false
    private var closeTimer: Scheduled<Void>?

    init(sink: ChannelFrameSink) {
        self.sink = sink
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        closeTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            messageIsText = frame.opcode == .text
            if frame.fin { deliver(frame.unmaskedData) } else { message = frame.unmaskedData }
        case .continuation:
            // The tap has refused continuations outside a message.
            guard var partial = message else { return }
            message = nil
            var fragment = frame.unmaskedData
            partial.writeBuffer(&fragment)
            if frame.fin { deliver(partial) } else { message = partial }
        case .ping:
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            receivedClose(frame, context: context)
        default:
            // Pongs are the sink's, taken by the tap on their way here.
            break
        }
    }

    private func deliver(_ bytes: ByteBuffer) {
        guard let link, !closeSent else { return }
        // Text was checked to be UTF-8 as its frames were decoded.
        let received = link.receive(messageIsText ? .text(String(buffer: bytes)) : .binary(bytes))
        // The session has let the socket go: its writer closes it.
        if !received { link.closed() }
    }

    /// The client closes: its close frame is answered (unless it answers the server's)
    /// and the connection ends once that answer is written.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard !closeSent else {
            context.close(promise: nil)
            return
        }
        closeSent = true
        link?.closed()
        let written = context.eventLoop.makePromise(of: Void.self)
        sendClose(Self.answer(toClose: frame.unmaskedData), context: context, promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// The server closes (the session ended): what the sink holds goes first, then the
    /// close frame; the client's answer, or the timeout, ends the connection.
    func closeFromServer() {
        guard let context, !closeSent else { return }
        sink.releaseHeld(regardless: true)
        closeSent = true
        sendClose(.normalClosure, context: context, promise: nil)
    }

    private func sendClose(
        _ code: WebSocketErrorCode, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) {
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        context.writeAndFlush(wrapOutboundOut(close), promise: promise)
        let channel = context.channel
        closeTimer = context.eventLoop.scheduleTask(in: Self.closeTimeout) { channel.close(promise: nil) }
    }

    /// RFC 6455 7.4: a close frame with a code no one may send, or a lone byte for a
    /// code, is answered with 1002; any other with 1000.
    static func answer(toClose payload: ByteBuffer) -> WebSocketErrorCode {
        var payload = payload
        guard payload.readableBytes != 0 else { return .normalClosure }
        guard let code = payload.readWebSocketErrorCode() else { return .protocolError }
        if case .unknown(let value) = code, value < 3000 || value > 4999 { return .protocolError }
        return .normalClosure
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        link?.closed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            // The client will send nothing more: the socket is over.
            link?.closed()
            context.close(promise: nil)
        } else if event is ChannelShouldQuiesceEvent {
            // The server stops: the session says goodbye, and the close frame follows
            // whatever that put on its way to the loop.
            link?.engineSession.close(reason: .serverShutdown)
            context.eventLoop.assumeIsolated().execute { self.closeFromServer() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIO's protocol error handler answers frame errors with their close code.
        if !(error is NIOWebSocketError) { context.close(promise: nil) }
    }
}

/// The Engine.IO side's view of a WebSocket run by `EngineWebSocketHandler`: packets go
/// through the sink, and closing runs on the channel's loop.
struct ChannelWebSocketConnection: EngineWebSocketConnection {
    let frameSink: ChannelFrameSink
    let arrivals: InboundArrivals
    let handler: NIOLoopBound<EngineWebSocketHandler>

    var eventLoop: any EventLoop { frameSink.channel.eventLoop }
    var sink: any EngineFrameSink { frameSink }
    var messagesArrived: Int? { arrivals.count }

    /// What the session had queued before the sink took over (the open packet, above
    /// all): written as a writer task wrote it, outside the sink's pacing of the
    /// handshake's writes, and after everything already on its way to the loop.
    func write(_ packets: [EngineOutgoing]) {
        let channel = frameSink.channel
        eventLoop.execute {
            for packet in packets { channel.write(packet.frame, promise: nil) }
            channel.flush()
        }
    }

    func close() {
        // After the writes already on their way to the loop.
        let handler = self.handler
        eventLoop.execute { handler.value.closeFromServer() }
    }
}
