import EngineIO
import HTTPTypes
import Hummingbird
public import HummingbirdCore
import HummingbirdWSCompression
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// Builds the HTTP/1.1 server that upgrades WebSocket requests on Engine.IO endpoints
/// (and refuses other WebSocket requests); plain requests go to the router.
public struct EngineIOWebSocketUpgrade: Sendable {
    let endpoints: [EngineIOEndpoint]
    let batchers = EventLoopWriteBatchers()
    /// Frames bypass the WebSocket handler's extensions when written straight into the
    /// channel, so with `permessage-deflate` on everything goes through the handler.
    /// Otherwise the socket is run by channel handlers on its event loop, without a task.
    let writesDirectly: Bool

    /// Upgrades WebSocket requests on `endpoints`' paths. Sockets are run on their event
    /// loop and frames written straight into the channel, unless an endpoint has
    /// `EngineConfiguration.perMessageDeflate` on: then Hummingbird's WebSocket handler
    /// runs each in a task.
    public init(_ endpoints: [EngineIOEndpoint]) {
        self.endpoints = endpoints
        writesDirectly = endpoints.allSatisfy { $0.engine.configuration.perMessageDeflate == nil }
    }

    /// The server builder for `Application(router:server:)`, with `limits` on what slow
    /// clients may hold.
    public func serverBuilder(
        idleTimeout: Duration? = nil,
        limits: HTTPConnectionLimits = HTTPConnectionLimits()
    ) -> HTTPServerBuilder {
        let largestPayload = endpoints.map(\.engine.configuration.maxPayload).max() ?? 1_000_000
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: HTTP1Channel.Configuration(idleTimeout: idleTimeout.map { TimeAmount($0) }),
            ws: WebSocketServerConfiguration(
                maxFrameSize: largestPayload,
                extensions: extensions(largestPayload: largestPayload),
                // Engine.IO has its own heartbeat; a second one would only cost traffic.
                autoPing: .disabled,
                closeTimeout: .seconds(2),
                // Plain text frames are validated as they are decoded (`WebSocketFrameRules`);
                // compressed ones only once inflated, here.
                validateUTF8: !writesDirectly
            )
        )
        let perAddress = limits.maxConnectionsPerAddress.map(ConnectionsPerAddress.init(limit:))
        if writesDirectly {
            return HTTPServerBuilder { responder in
                GuardedServerChildChannel(
                    base: EngineIOUpgradeChannel(
                        responder: responder, idleTimeout: idleTimeout, maxFrameSize: largestPayload, upgrade: self),
                    limits: limits,
                    perAddress: perAddress
                )
            }
        }
        return HTTPServerBuilder { responder in
            GuardedServerChildChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: configuration) {
                    head, channel, _ in
                    self.shouldUpgrade(head, channel: channel)
                },
                limits: limits,
                perAddress: perAddress
            )
        }
    }

    /// `permessage-deflate`, offered back to clients that ask for it, when an endpoint
    /// enables it (the extension is per server, so the smallest threshold counts).
    func extensions(largestPayload: Int) -> [WebSocketExtensionFactory] {
        let thresholds = endpoints.compactMap(\.engine.configuration.perMessageDeflate?.threshold)
        guard let threshold = thresholds.min() else { return [] }
        let deflate = WebSocketExtensionFactory.perMessageDeflate(
            maxDecompressedFrameSize: largestPayload, minFrameSizeToCompress: threshold)
        return [WebSocketExtensionFactory { SizeLimitedDeflateBuilder(base: deflate.build()) }]
    }

    /// Hummingbird's WebSocket handler runs an accepted socket in a task of its own
    /// (`permessage-deflate` lives there).
    func shouldUpgrade(
        _ head: HTTPRequest,
        channel: any Channel
    ) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard let accepted = accept(head, channel: channel) else { return .dontUpgrade }
        try? channel.pipeline.syncOperations.addHandler(InboundTapInstaller(tap: accepted.tap))
        let engine = accepted.engine
        let (admission, sink, arrivals) = (accepted.admission, accepted.sink, accepted.arrivals)
        return .upgrade([:]) { inbound, outbound, _ in
            let failure = InboundFailure()
            let messages = inbound.messages(maxSize: engine.configuration.maxPayload)
            let frames = FailureRecordingSequence(base: messages, failure: failure).map { message -> WebSocketData in
                switch message {
                case .text(let text): return .text(text)
                case .binary(let bytes): return .binary(bytes)
                }
            }
            let writer = HummingbirdEngineWriter(outbound: outbound, sink: sink, arrivals: arrivals, failure: failure)
            await engine.serveWebSocket(admission, inbound: frames, writer: writer)
            // swift-websocket closes with the code its error names.
            if let error = failure.recorded { throw error }
        }
    }

    /// Whether a WebSocket request on one of the endpoints is upgraded, decided before
    /// it is answered, and what its socket will need; nil refuses it.
    func accept(_ head: HTTPRequest, channel: any Channel) -> AcceptedWebSocket? {
        let uri = URI(head.path ?? "/")
        guard let endpoint = endpoints.first(where: { $0.matches(uri.path) }) else { return nil }
        let request = EngineRequest(
            method: head.method,
            uri: uri,
            headers: head.headerFields,
            authority: head.authority,
            remoteAddress: channel.remoteAddress,
            isSecure: endpoint.isSecure
        )
        let engine = endpoint.engine
        let admission = engine.admitWebSocket(request)
        if case .refused = admission { return nil }
        let sink =
            writesDirectly ? ChannelFrameSink(channel: channel, batcher: batchers.batcher(for: channel.eventLoop)) : nil
        let arrivals = InboundArrivals()
        let rules = WebSocketFrameRules(
            maxMessageBytes: engine.configuration.maxPayload, allowsCompression: !writesDirectly)
        let tap = InboundTap(arrivals: arrivals, sink: sink, rules: rules)
        return AcceptedWebSocket(engine: engine, admission: admission, sink: sink, arrivals: arrivals, tap: tap)
    }
}

/// An upgrade that was accepted, with what its socket needs once upgraded.
struct AcceptedWebSocket {
    let engine: EngineServer
    let admission: WebSocketAdmission
    let sink: ChannelFrameSink?
    let arrivals: InboundArrivals
    let tap: InboundTap

    /// On the loop, once NIO's frame decoder and encoder are in place: the tap above the
    /// decoder, the handler that runs the socket above it, and the session attached.
    func attach(to channel: any Channel) throws {
        let operations = channel.pipeline.syncOperations
        guard let sink else {
            channel.close(promise: nil)
            return
        }
        let decoder = try operations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
        try operations.addHandler(tap, position: .after(decoder))
        let handler = EngineWebSocketHandler(sink: sink)
        try operations.addHandler(handler)
        let connection = ChannelWebSocketConnection(
            frameSink: sink, arrivals: arrivals, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
        handler.link = engine.attachWebSocket(admission, connection: connection)
    }
}

/// Writes Engine.IO packets as WebSocket frames; text packets go out as they were
/// encoded, without a detour through `String`.
struct HummingbirdEngineWriter: EngineWebSocketWriter {
    let outbound: WebSocketOutboundWriter
    let sink: ChannelFrameSink?
    let arrivals: InboundArrivals
    let failure: InboundFailure

    var directSink: (any EngineFrameSink)? { sink }
    var messagesArrived: Int? { arrivals.count }

    func write(_ packets: [EngineOutgoing]) async throws {
        for packet in packets {
            try await outbound.write(.custom(packet.frame))
        }
    }

    func close() async {
        await sink?.releaseAll()
        // After a failed read the close frame is swift-websocket's, with the failure's code.
        guard failure.recorded == nil else { return }
        try? await outbound.close(.normalClosure, reason: nil)
    }
}

extension EngineOutgoing {
    /// The packet as one final frame; text packets go out as they were encoded.
    var frame: WebSocketFrame {
        WebSocketFrame(fin: true, opcode: kind == .text ? .text : .binary, data: bytes)
    }
}

/// Writes packets straight into a WebSocket's channel, through its loop's batcher, and
/// counts those not yet handed to the kernel so a slow reader is noticed. Frames are
/// encoded whole here (once per broadcast, see `EncodedFrames`) and written past NIO's
/// frame encoder, which would otherwise allocate a header buffer for every recipient.
///
/// One write at a time, as Node's engine.io flushes: packets that come while a write is
/// under way are held and leave together in the next one. Among a connection's first
/// writes (the handshake: the open packet, CONNECT answers and what connection handlers
/// emit), one that would follow the previous one closely (within `closeSuccession`)
/// waits until the client has read that one: the sink sends a ping frame and writes on
/// its pong, which RFC 6455 clients send only once they have read what came before. So
/// a CONNECT answer and the connection handler's first emit never reach the client in
/// one TCP read, however slowly it is scheduled; clients that wait for each handshake
/// packet with a one-shot listener and dispatch the frames of one read synchronously
/// miss the second otherwise. Later writes go as soon as the previous one is written:
/// a round trip per write would double a busy connection's frames and add a round trip
/// to each delivery. Without a frame decoder in the pipeline to see pongs, the next
/// write waits only for the kernel.
final class ChannelFrameSink: EngineFrameSink {
    let channel: any Channel
    private let batcher: EventLoopWriteBatcher
    private let waiting = Atomic<Int>(0)
    private let writer: NIOLoopBoundBox<EncodedFrameWriter.Attachment>
    private let flight: NIOLoopBoundBox<Flight>

    /// Writes closer together than this wait for the client's pong.
    static let closeSuccession = TimeAmount.milliseconds(10)
    /// How many of a connection's first writes may wait for a pong: the handshake's
    /// packets, with room for the namespaces a client connects to right after.
    static let handshakeWrites = 16

    /// On the loop: the write under way, what waits for it, and the ping it waits for.
    private struct Flight {
        var writing = false
        /// What the awaited pong releases, in a write of its own.
        var afterPong: [EngineOutgoing] = []
        /// What came after that: it leaves in the write after.
        var held: [EngineOutgoing] = []
        var awaitedPong: UInt32?
        var lastPing: UInt32 = 0
        /// When the kernel took the last write.
        var lastWritten: NIODeadline?
        /// Writes made so far, counted up to `handshakeWrites`.
        var writes = 0

        var inHandshake: Bool { writes < ChannelFrameSink.handshakeWrites }

        var mustWait: Bool { writing || awaitedPong != nil || !held.isEmpty || !afterPong.isEmpty }
    }

    init(channel: any Channel, batcher: EventLoopWriteBatcher) {
        self.channel = channel
        self.batcher = batcher
        // Made wherever the upgrade is decided; read and written only on the loop.
        writer = NIOLoopBoundBox.makeBoxSendingValue(.notYet, eventLoop: channel.eventLoop)
        flight = NIOLoopBoundBox.makeBoxSendingValue(Flight(), eventLoop: channel.eventLoop)
    }

    func offer(_ packets: [EngineOutgoing], limit: Int) -> Bool {
        let before = waiting.add(packets.count, ordering: .relaxed).oldValue
        guard before + packets.count <= limit else {
            waiting.subtract(packets.count, ordering: .relaxed)
            return false
        }
        batcher.enqueue(packets, to: self)
        return true
    }

    /// On the loop: writes the batches offered in one loop turn. In the handshake each
    /// batch is a write of its own (what follows the first is held behind it, as Node's
    /// engine.io does), so a client that listens for one frame at a time reads them one
    /// at a time; after it they leave together, in one write. Returns whether anything
    /// was written (and so needs a flush).
    func write(_ batches: [[EngineOutgoing]], frames: inout EncodedFrames) -> Bool {
        if batches.count == 1 || flight.value.inHandshake {
            var wrote = false
            for packets in batches {
                if write(packets, frames: &frames) { wrote = true }
            }
            return wrote
        }
        return write(Array(batches.joined()), frames: &frames)
    }

    /// On the loop: writes the packets, or holds them behind a write still under way or
    /// until the client has read the last one. Returns whether anything was written (and
    /// so needs a flush).
    func write(_ packets: [EngineOutgoing], frames: inout EncodedFrames) -> Bool {
        guard !packets.isEmpty else { return false }
        if flight.value.mustWait {
            flight.value.held.append(contentsOf: packets)
            return false
        }
        if flight.value.inHandshake, let last = flight.value.lastWritten,
            NIODeadline.now() - last < Self.closeSuccession, askForPong()
        {
            flight.value.afterPong = packets
            return true
        }
        writeNow(packets, frames: &frames)
        return true
    }

    private func writeNow(_ packets: [EngineOutgoing], frames: inout EncodedFrames) {
        guard let last = packets.indices.last else { return }
        flight.value.writing = true
        if flight.value.inHandshake { flight.value.writes += 1 }
        let written = channel.eventLoop.makePromise(of: Void.self)
        let count = packets.count
        written.futureResult.whenComplete { [self] _ in
            waiting.subtract(count, ordering: .relaxed)
            flight.value.writing = false
            flight.value.lastWritten = .now()
            // After the flush that completed this write has returned.
            if !flight.value.held.isEmpty { channel.eventLoop.execute { self.sendHeldAfterWrite() } }
        }
        if let context = attachedWriter()?.context {
            for packet in packets[..<last] {
                context.write(NIOAny(frames.frame(for: packet)), promise: nil)
            }
            context.write(NIOAny(frames.frame(for: packets[last])), promise: written)
        } else {
            for packet in packets[..<last] {
                channel.write(packet.frame, promise: nil)
            }
            channel.write(packets[last].frame, promise: written)
        }
    }

    /// On the loop: what came while a write was under way follows it closely, so it
    /// leaves once the client has read that write (or, without pongs to tell, now).
    private func sendHeldAfterWrite() {
        guard !flight.value.held.isEmpty, !flight.value.writing, flight.value.awaitedPong == nil else { return }
        if flight.value.inHandshake, askForPong() {
            flight.value.afterPong = flight.value.held
            flight.value.held = []
            flush()
        } else {
            releaseHeld()
        }
    }

    /// On the loop: writes a ping whose pong releases what is held (the caller flushes);
    /// false when pongs cannot be seen here.
    private func askForPong() -> Bool {
        guard let attached = attachedWriter(), attached.readsPongs, let context = attached.context else { return false }
        flight.value.lastPing &+= 1
        flight.value.awaitedPong = flight.value.lastPing
        context.write(NIOAny(EncodedFrames.ping(flight.value.lastPing)), promise: nil)
        return true
    }

    /// On the loop: a pong came; the one the held packets wait for releases them.
    func receivedPong(_ payload: ByteBuffer) {
        guard let awaited = flight.value.awaitedPong, payload.readableBytes == 4,
            payload.getInteger(at: payload.readerIndex, as: UInt32.self) == awaited
        else { return }
        flight.value.awaitedPong = nil
        let released = flight.value.afterPong
        flight.value.afterPong = []
        writeAndFlush(released)
    }

    /// On the loop: sends what was held, in one write; while a write is under way or a
    /// pong awaited only when `regardless` (the connection is about to close).
    func releaseHeld(regardless: Bool = false) {
        guard regardless || (!flight.value.writing && flight.value.awaitedPong == nil) else { return }
        let held = flight.value.afterPong + flight.value.held
        guard !held.isEmpty else { return }
        flight.value.afterPong = []
        flight.value.held = []
        writeAndFlush(held)
    }

    private func writeAndFlush(_ packets: [EngineOutgoing]) {
        var frames = EncodedFrames()
        writeNow(packets, frames: &frames)
        flush()
    }

    /// Sends whatever is held, before the close frame: nothing queued before a close
    /// may be lost.
    func releaseAll() async {
        try? await channel.eventLoop.submit { [self] in releaseHeld(regardless: true) }.get()
    }

    /// On the loop, after `write`.
    func flush() {
        if let context = attachedWriter()?.context { context.flush() } else { channel.flush() }
    }

    /// The writer below the frame encoder, added on the first write (the upgrade has
    /// put the encoder in place by then); it waits for pongs when an `InboundTap` reads
    /// them. Nil when the pipeline has no encoder.
    private func attachedWriter() -> EncodedFrameWriter? {
        switch writer.value {
        case .attached(let handler): return handler
        case .unavailable: return nil
        case .notYet:
            let operations = channel.pipeline.syncOperations
            guard let encoder = try? operations.handler(type: WebSocketFrameEncoder.self) else {
                writer.value = .unavailable
                return nil
            }
            let handler = EncodedFrameWriter()
            do {
                try operations.addHandler(handler, position: .before(encoder))
                handler.readsPongs = (try? operations.handler(type: InboundTap.self)) != nil
                writer.value = .attached(handler)
                return handler
            } catch {
                writer.value = .unavailable
                return nil
            }
        }
    }
}

/// Messages a WebSocket's client has sent that were read off the network, counted as
/// the frames are decoded, before the handler's task gets to them.
final class InboundArrivals: Sendable {
    private let counted = Atomic<Int>(0)
    /// Set once the tap is in place: before that nothing is counted.
    private let counting = Atomic<Bool>(false)

    /// Nil until the tap counts.
    var count: Int? { counting.load(ordering: .acquiring) ? counted.load(ordering: .relaxed) : nil }

    func startCounting() { counting.store(true, ordering: .releasing) }
    func countMessage() { counted.add(1, ordering: .relaxed) }
}

/// Sits right above the frame decoder: holds the client's frames to `WebSocketFrameRules`
/// (a frame that breaks them closes the connection with the code RFC 6455 names, and
/// nothing from it goes further), counts the client's messages as they arrive and hands
/// its pongs to the sink; every other frame goes on up unchanged.
final class InboundTap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let arrivals: InboundArrivals
    private let sink: ChannelFrameSink?
    private var rules: WebSocketFrameRules
    private var refused = false

    init(
        arrivals: InboundArrivals, sink: ChannelFrameSink?,
        rules: WebSocketFrameRules = WebSocketFrameRules(maxMessageBytes: .max)
    ) {
        self.arrivals = arrivals
        self.sink = sink
        self.rules = rules
    }

    func handlerAdded(context: ChannelHandlerContext) { arrivals.startCounting() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let frame = unwrapInboundIn(data)
        if let code = rules.check(frame) {
            refused = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.write(webSocketErrorCode: code)
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            // Closed at once, not when the frame is written: a client that stops reading
            // cannot hold the connection open. The flush hands the frame to the kernel
            // first unless its buffer is full, and then the client loses only the reason.
            context.writeAndFlush(wrapOutboundOut(close), promise: nil)
            context.close(promise: nil)
            return
        }
        switch frame.opcode {
        case .text, .binary, .continuation:
            if frame.fin { arrivals.countMessage() }
        case .pong:
            sink?.receivedPong(frame.unmaskedData)
        default:
            break
        }
        context.fireChannelRead(data)
    }
}

/// Added when an upgrade is accepted, before the WebSocket handlers exist: once the
/// upgrade is complete (and before any frame that came with it is read) it puts the
/// tap above the frame decoder and leaves.
final class InboundTapInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let tap: InboundTap

    init(tap: InboundTap) { self.tap = tap }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .upgradeComplete = event as? HTTPServerUpgradeEvents {
            let operations = context.pipeline.syncOperations
            if let decoder = try? operations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self) {
                try? operations.addHandler(tap, position: .after(decoder))
            }
            operations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Sits between the WebSocket frame encoder and the socket; whole frames written from its
/// context skip the encoder. Writes that come from above still pass through unchanged.
final class EncodedFrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Attachment {
        case notYet
        case attached(EncodedFrameWriter)
        case unavailable
    }

    private(set) var context: ChannelHandlerContext?
    /// An `InboundTap` sits above the frame decoder: writes can end on the client's pong.
    var readsPongs = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }
}

/// Whole server frames (FIN set, unmasked), each packet encoded once per loop turn: the
/// turn writes each connection's packets together, so the turn's broadcasts come round
/// once per member, interleaved; the latest frames made are kept for them.
struct EncodedFrames {
    /// How many of the latest packets keep their frames.
    static let remembered = 16
    private var recent: [(packet: EngineOutgoing, frame: ByteBuffer)] = []

    mutating func frame(for packet: EngineOutgoing) -> ByteBuffer {
        for entry in recent.reversed() where entry.packet == packet { return entry.frame }
        let frame = Self.encode(packet)
        if recent.count == Self.remembered { recent.removeFirst() }
        recent.append((packet, frame))
        return frame
    }

    /// A ping frame with a 4-byte payload, to be answered by a pong carrying it.
    static func ping(_ payload: UInt32) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.reserveCapacity(6)
        frame.writeInteger(UInt8(0x89))
        frame.writeInteger(UInt8(4))
        frame.writeInteger(payload)
        return frame
    }

    static func encode(_ packet: EngineOutgoing) -> ByteBuffer {
        let length = packet.bytes.readableBytes
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(UInt8(0x80) | (packet.kind == .text ? 0x1 : 0x2))
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(packet.bytes)
        return frame
    }
}

/// Collects the packets offered for the connections of one event loop and writes them
/// in one turn of it: a broadcast wakes each loop once, not once per recipient, and
/// each connection gets one flush (one `writev`) for all its packets of that turn.
final class EventLoopWriteBatcher: Sendable {
    private struct Pending {
        var writes: [(ChannelFrameSink, [EngineOutgoing])] = []
        var scheduled = false
    }

    private let eventLoop: any EventLoop
    private let pending = Mutex(Pending())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ packets: [EngineOutgoing], to sink: ChannelFrameSink) {
        let schedule = pending.withLock { pending -> Bool in
            pending.writes.append((sink, packets))
            if pending.scheduled { return false }
            pending.scheduled = true
            return true
        }
        if schedule {
            eventLoop.execute { self.drain() }
        }
    }

    private func drain() {
        let writes = pending.withLock { pending in
            pending.scheduled = false
            let writes = pending.writes
            pending.writes = []
            return writes
        }
        // Each connection's batches in the order they came, the connection once.
        var connections: [(sink: ChannelFrameSink, batches: [[EngineOutgoing]])] = []
        var position: [ObjectIdentifier: Int] = [:]
        for (sink, packets) in writes {
            if let index = position[ObjectIdentifier(sink)] {
                connections[index].batches.append(packets)
            } else {
                position[ObjectIdentifier(sink)] = connections.count
                connections.append((sink, [packets]))
            }
        }
        var frames = EncodedFrames()
        var written: [ChannelFrameSink] = []
        for (sink, batches) in connections where sink.write(batches, frames: &frames) { written.append(sink) }
        // One flush per connection, after all of its writes.
        for sink in written { sink.flush() }
    }
}

/// One batcher per event loop of the server, made when a loop first carries a WebSocket.
final class EventLoopWriteBatchers: Sendable {
    private let batchers = Mutex<[ObjectIdentifier: EventLoopWriteBatcher]>([:])

    func batcher(for eventLoop: any EventLoop) -> EventLoopWriteBatcher {
        batchers.withLock { batchers in
            let key = ObjectIdentifier(eventLoop)
            if let existing = batchers[key] { return existing }
            let made = EventLoopWriteBatcher(eventLoop: eventLoop)
            batchers[key] = made
            return made
        }
    }
}
