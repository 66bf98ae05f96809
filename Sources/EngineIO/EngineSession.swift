public import NIOCore
import Synchronization

/// Why a session ended, worded as the reference server words it.
public enum EngineCloseReason: String, Sendable, Equatable {
    /// The client closed (a `1` packet, or its WebSocket went away).
    case transportClose = "transport close"
    /// The client did not answer a ping in time.
    case pingTimeout = "ping timeout"
    /// The client sent something that is not Engine.IO.
    case parseError = "parse error"
    /// The client broke the transport rules (two pending GETs, say).
    case transportError = "transport error"
    /// The server closed the session.
    case forcedClose = "forced close"
    /// The server is shutting down.
    case serverShutdown = "server shutting down"
    /// The client let more packets pile up than `maxBufferedPackets`.
    case bufferOverflow = "buffer overflow"
}

/// What the layer above Engine.IO (Socket.IO) attaches to each session.
///
/// Callbacks run on the thread that received the data, never under the session's lock,
/// so they may call back into the session.
public protocol EngineSessionDelegate: AnyObject, Sendable {
    /// A text or binary message arrived from the client.
    func session(_ session: EngineSession, didReceive message: EngineMessage)
    /// The session ended; called once, and nothing arrives after it.
    func session(_ session: EngineSession, didCloseWith reason: EngineCloseReason)
}

/// One Engine.IO session: its packet queue, transports and heartbeat.
///
/// All state sits behind one lock; waiters (a pending GET, a WebSocket writer) are
/// resumed after the lock is released.
public final class EngineSession: Sendable {
    /// The session id (`sid`): 20 URL-safe characters from ``EngineServer/makeID()``.
    public let id: String
    /// The handshake request (headers, cookies, query, peer address).
    public let request: EngineRequest
    /// 4, or 3 for an old client: then the client pings and the server answers.
    public let protocolVersion: EngineProtocolVersion

    let configuration: Settings
    /// The loop that runs this session's timers; upper layers may schedule theirs on it.
    public let eventLoop: any EventLoop
    /// Tells the server the session is gone.
    let onFinish: @Sendable (EngineSession) -> Void
    /// Tells the server, once, that the session no longer counts against its client's
    /// limits: when it ends, or earlier when the client closed it (its last GET may still
    /// be on the way).
    let onRelease: @Sendable (EngineSession) -> Void
    let statistics: EngineStatistics
    private let state: Mutex<State>

    init(
        id: String,
        request: EngineRequest,
        transport: EngineTransport,
        configuration: EngineConfiguration,
        eventLoop: any EventLoop,
        statistics: EngineStatistics,
        protocolVersion: EngineProtocolVersion = .v4,
        onRelease: @escaping @Sendable (EngineSession) -> Void,
        onFinish: @escaping @Sendable (EngineSession) -> Void
    ) {
        self.id = id
        self.protocolVersion = protocolVersion
        self.statistics = statistics
        self.request = request.compacted()
        self.configuration = Settings(configuration)
        self.eventLoop = eventLoop
        self.onFinish = onFinish
        self.onRelease = onRelease
        self.state = Mutex(State(transport: transport))
    }

    /// The transport the session currently uses.
    public var transport: EngineTransport { state.withLock { $0.transport } }

    /// True until the session starts closing, for whatever reason.
    public var isOpen: Bool { state.withLock { $0.phase == .open } }

    /// Whether a long-poll GET is waiting for packets.
    public var isPolling: Bool { state.withLock { $0.pendingPoll != nil } }

    /// Times a GET during an upgrade was kept waiting for a message the probe had read.
    var upgradeChecksDeferred: Int { state.withLock { $0.upgradeChecksDeferred } }

    /// Queues packets for the client (atomically: a packet and its attachments stay
    /// together). Returns false when the session is already closed.
    @discardableResult
    public func send(_ packets: some Collection<EngineOutgoing>) -> Bool {
        var effects = Effects()
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .open else { return false }
            if state.outbox.count + packets.count > configuration.maxBufferedPackets {
                beginClose(&state, reason: .bufferOverflow, effects: &effects)
                return false
            }
            if offerToIdleSink(packets, &state, effects: &effects) { return true }
            state.outbox.append(contentsOf: packets)
            deliverQueued(&state, effects: &effects)
            return true
        }
        effects.run(self)
        if accepted { statistics.countSent(packets.count) }
        return accepted
    }

    /// A parked WebSocket writer with a sink and nothing queued ahead: the sink takes the
    /// caller's packets as they are (a broadcast's recipients all share one array), instead
    /// of copying them into the outbox and out again into a new batch. Measured by
    /// Benchmarks/Micro (RoomBroadcast): 3 allocations per recipient before, none after.
    private func offerToIdleSink(
        _ packets: some Collection<EngineOutgoing>,
        _ state: inout State,
        effects: inout Effects
    ) -> Bool {
        guard state.transport == .websocket, state.outbox.isEmpty, state.activeLink?.waiter != nil,
            let sink = state.activeLink?.sink, state.activeLink?.direct.isEmpty == true
        else { return false }
        if !sink.offer(Array(packets), limit: configuration.maxBufferedPackets) {
            beginClose(&state, reason: .bufferOverflow, effects: &effects)
        }
        return true
    }

    /// Queues one packet for the client; false when the session is already closed (or the
    /// packet would overflow ``EngineConfiguration/maxBufferedPackets``).
    @discardableResult
    public func send(_ packet: EngineOutgoing) -> Bool {
        send(CollectionOfOne(packet))
    }

    /// Sends only if the transport can take the packets now (a GET is waiting, or the
    /// WebSocket has nothing queued); otherwise drops them. For volatile emits.
    @discardableResult
    public func sendIfWritable(_ packets: some Collection<EngineOutgoing>) -> Bool {
        var effects = Effects()
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .open, state.outbox.isEmpty else { return false }
            switch state.transport {
            case .polling: guard state.pendingPoll != nil else { return false }
            case .websocket:
                guard state.activeLink?.waiter != nil else { return false }
                if let sink = state.activeLink?.sink, state.activeLink?.direct.isEmpty == true {
                    // Writable means nothing else is on its way to the client.
                    return sink.offer(Array(packets), limit: packets.count)
                }
            }
            state.outbox.append(contentsOf: packets)
            deliverQueued(&state, effects: &effects)
            return true
        }
        effects.run(self)
        if accepted { statistics.countSent(packets.count) }
        return accepted
    }

    /// Closes the session from the server side. Queued packets are still delivered.
    public func close(reason: EngineCloseReason = .forcedClose) {
        var effects = Effects()
        state.withLock { state in
            if state.phase == .closing, state.closedByClient, reason == .serverShutdown {
                // Already over for everyone but a GET that may never come: not worth a wait.
                finish(&state, effects: &effects)
                return
            }
            beginClose(&state, reason: reason, effects: &effects)
        }
        effects.run(self)
    }

    // MARK: - Heartbeat

    func startHeartbeat() {
        state.withLock { schedulePing(&$0) }
    }

    private func schedulePing(_ state: inout State) {
        if protocolVersion == .v3 {
            expectClientPing(&state)
            return
        }
        state.pingTimer?.cancel()
        state.pingTimer = eventLoop.scheduleTask(in: TimeAmount(configuration.pingInterval)) { [weak self] in
            self?.sendPing()
        }
    }

    private func sendPing() {
        var effects = Effects()
        state.withLock { state in
            guard state.phase == .open else { return }
            state.outbox.append(.ping)
            deliverQueued(&state, effects: &effects)
            state.pingTimeoutTimer?.cancel()
            state.pingTimeoutTimer = eventLoop.scheduleTask(in: TimeAmount(configuration.pingTimeout)) {
                [weak self] in
                self?.close(reason: .pingTimeout)
            }
        }
        effects.run(self)
    }

    /// v3: the client pings every `pingInterval`; one that stays silent for
    /// `pingInterval + pingTimeout` is gone.
    private func expectClientPing(_ state: inout State) {
        state.pingTimeoutTimer?.cancel()
        state.pingTimeoutTimer = eventLoop.scheduleTask(
            in: TimeAmount(configuration.pingInterval + configuration.pingTimeout)
        ) { [weak self] in
            self?.close(reason: .pingTimeout)
        }
    }

    private func receivedPong(_ state: inout State) {
        guard state.phase == .open, protocolVersion == .v4 else { return }
        state.pingTimeoutTimer?.cancel()
        state.pingTimeoutTimer = nil
        schedulePing(&state)
    }

    // MARK: - Incoming packets

    /// Handles packets from the active transport (a POST body, or frames of the active
    /// WebSocket). Messages reach the delegate in order.
    func receive(_ packets: [EnginePacket]) {
        statistics.countReceived(packets.count)
        for packet in packets {
            var effects = Effects()
            state.withLock { state in
                if state.phase == .closing, packet == .close {
                    // The client says goodbye to a session waiting for its last GET: it will
                    // not come back for it, so nothing is left to wait for.
                    state.outbox.discardAll()
                    finish(&state, effects: &effects)
                    return
                }
                guard state.phase == .open else { return }
                switch packet {
                case .message(let message):
                    effects.messages.append(message)
                case .pong:
                    receivedPong(&state)
                case .close:
                    beginClose(&state, reason: .transportClose, clientInitiated: true, effects: &effects)
                case .ping(let data) where protocolVersion == .v3:
                    state.outbox.append(.control(.pong, data))
                    deliverQueued(&state, effects: &effects)
                    expectClientPing(&state)
                case .ping, .open, .upgrade, .noop:
                    // v4 clients never ping; the rest carry nothing for an established transport.
                    break
                }
            }
            effects.run(self)
        }
    }

    /// A client broke the protocol: the session ends with `reason`.
    func fail(_ reason: EngineCloseReason) {
        close(reason: reason)
    }

    // MARK: - Long-polling

    enum PollOutcome: Sendable {
        case payload([EngineOutgoing])
        case refused(EngineProtocolError)
    }

    /// A GET: answers at once with queued packets, or waits for some.
    func poll() async -> PollOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<PollOutcome, Never>) in
            var effects = Effects()
            state.withLock { state in
                if state.phase == .closed {
                    effects.pollAnswers.append((continuation, .refused(.unknownSession)))
                    return
                }
                if state.transport != .polling {
                    effects.pollAnswers.append((continuation, .refused(.badRequest)))
                    return
                }
                if state.phase == .closing {
                    // A close is waiting for this GET. The server's close hands over the rest
                    // and the close packet; the client's own close is answered with a noop.
                    var batch = state.outbox.takeAll()
                    batch.append(state.closedByClient ? .noop : .close)
                    effects.pollAnswers.append((continuation, .payload(batch)))
                    finish(&state, effects: &effects)
                    return
                }
                if state.pendingPoll != nil {
                    effects.pollAnswers.append((continuation, .refused(.badRequest)))
                    beginClose(&state, reason: .transportError, effects: &effects)
                    return
                }
                if !state.outbox.isEmpty {
                    effects.pollAnswers.append((continuation, .payload(takePollBatch(&state))))
                } else if state.probeAnswered {
                    state.pendingPoll = continuation
                    scheduleUpgradeCheck(&state)
                } else {
                    state.pendingPoll = continuation
                }
            }
            effects.run(self)
        }
    }

    private func takePollBatch(_ state: inout State) -> [EngineOutgoing] {
        state.outbox.take(upTo: max(1, configuration.maxPacketsPerPoll))
    }

    // MARK: - WebSocket

    /// Identifies one WebSocket attached to the session (the active one or a probe).
    struct LinkID: Hashable, Sendable {
        let value: Int
    }

    /// A WebSocket session's first socket: the open packet goes out before anything else.
    func attachInitialWebSocket(openPacket: EngineOutgoing, sink: (any EngineFrameSink)?) -> LinkID {
        state.withLock { state in
            let link = state.makeLink()
            state.activeLink = Link(id: link, sink: sink, direct: [openPacket])
            return link
        }
    }

    /// A WebSocket that wants to take over a polling session.
    /// `arrivals` counts the messages the client has sent on it so far (see
    /// `EngineWebSocketWriter.messagesArrived`).
    func beginUpgrade(sink: (any EngineFrameSink)?, arrivals: @escaping @Sendable () -> Int? = { nil }) -> LinkID? {
        state.withLock { state -> LinkID? in
            guard state.phase == .open, state.transport == .polling, state.probeLink == nil else { return nil }
            let link = state.makeLink()
            state.probeLink = Link(id: link, sink: sink, arrivals: arrivals)
            state.upgradeTimer = eventLoop.scheduleTask(in: TimeAmount(configuration.upgradeTimeout)) {
                [weak self] in
                self?.abortUpgrade(link)
            }
            return link
        }
    }

    /// Whether this WebSocket carries the session (rather than probing an upgrade).
    func isActive(_ link: LinkID) -> Bool {
        state.withLock { $0.activeLink?.id == link }
    }

    /// A frame arrived on a WebSocket. Returns false when that socket should be closed.
    func receive(_ packet: EnginePacket, on link: LinkID) -> Bool {
        statistics.countReceived(1)
        enum Route { case active, handled, reject }
        var effects = Effects()
        let route = state.withLock { state -> Route in
            if state.activeLink?.id == link { return .active }
            guard state.probeLink?.id == link, state.phase == .open else { return .reject }
            state.probeLink?.handled += 1
            switch packet {
            case .ping("probe"):
                state.probeLink?.direct.append(.probeAnswer)
                state.probeAnswered = true
                wakeLink(&state.probeLink, effects: &effects)
                if state.pendingPoll != nil { scheduleUpgradeCheck(&state) }
                return .handled
            case .upgrade:
                completeUpgrade(&state, effects: &effects)
                return .handled
            default:
                // Anything else during an upgrade: the upgrade fails, polling goes on.
                cancelUpgrade(&state, effects: &effects)
                return .reject
            }
        }
        effects.run(self)
        switch route {
        case .active:
            receive([packet])
            return true
        case .handled:
            return true
        case .reject:
            return false
        }
    }

    /// An upgrade is under way and a GET waits. A client finishing the upgrade waits for
    /// that GET before it sends the upgrade packet: a noop releases it shortly, as Node's
    /// upgrade check does every 100 ms. If the upgrade packet comes first, the GET raced
    /// it and is refused like any GET after it.
    private func scheduleUpgradeCheck(_ state: inout State) {
        state.upgradeCheckTimer?.cancel()
        state.upgradeCheckTimer = eventLoop.scheduleTask(in: .milliseconds(100)) { [weak self] in
            self?.checkUpgrade()
        }
    }

    /// The upgrade check: the client's last GET of an upgrade gets its noop. A client
    /// finishing an upgrade sends nothing more on the probe until that GET is answered.
    /// One that already has (a message read off the network, not handled yet) sent its
    /// GET in a race with that message: the GET waits for it, and is refused if it is
    /// the upgrade packet, as any GET after the upgrade.
    private func checkUpgrade() {
        var effects = Effects()
        state.withLock { state in
            guard state.probeAnswered, state.transport == .polling,
                let poll = state.pendingPoll, let probe = state.probeLink
            else { return }
            if let arrived = probe.arrivals(), arrived > probe.handled {
                state.upgradeChecksDeferred += 1
                return
            }
            state.pendingPoll = nil
            effects.pollAnswers.append((poll, .payload([.noop])))
        }
        effects.run(self)
    }

    private func completeUpgrade(_ state: inout State, effects: inout Effects) {
        guard var probe = state.probeLink else { return }
        state.upgradeTimer?.cancel()
        state.upgradeTimer = nil
        state.upgradeCheckTimer?.cancel()
        state.upgradeCheckTimer = nil
        state.probeLink = nil
        state.probeAnswered = false
        state.transport = .websocket
        if let poll = state.pendingPoll {
            // Only a GET that raced the upgrade packet can be waiting here.
            state.pendingPoll = nil
            effects.pollAnswers.append((poll, .refused(.badRequest)))
        }
        probe.direct.append(contentsOf: state.outbox.takeAll())
        state.activeLink = probe
        wakeLink(&state.activeLink, effects: &effects)
    }

    private func cancelUpgrade(_ state: inout State, effects: inout Effects) {
        state.upgradeTimer?.cancel()
        state.upgradeTimer = nil
        state.upgradeCheckTimer?.cancel()
        state.upgradeCheckTimer = nil
        state.probeAnswered = false
        if var probe = state.probeLink {
            state.probeLink = nil
            if let waiter = probe.waiter {
                probe.waiter = nil
                effects.linkAnswers.append((waiter, nil))
            }
        }
    }

    private func abortUpgrade(_ link: LinkID) {
        var effects = Effects()
        state.withLock { state in
            guard state.probeLink?.id == link else { return }
            cancelUpgrade(&state, effects: &effects)
        }
        effects.run(self)
    }

    /// Receives a WebSocket writer's next packets, or nil when it should close.
    typealias LinkWaiter = @Sendable ([EngineOutgoing]?) -> Void

    /// The next packets a WebSocket writer should send; `nil` when it should close.
    func nextBatch(for link: LinkID) async -> [EngineOutgoing]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[EngineOutgoing]?, Never>) in
            let immediate = takeBatch(for: link, orWait: { continuation.resume(returning: $0) })
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// What a WebSocket writer should send now (`.some(nil)`: close), or nil when there is
    /// nothing yet: then `waiter` is parked, and called once, with the next packets or
    /// with nil, when there is. While it is parked, a link with a sink has its packets
    /// offered to that sink instead.
    func takeBatch(for link: LinkID, orWait waiter: @escaping LinkWaiter) -> [EngineOutgoing]?? {
        state.withLock { state -> [EngineOutgoing]?? in
            if state.activeLink?.id == link {
                if var batch = state.activeLink?.direct, !batch.isEmpty || !state.outbox.isEmpty {
                    batch.append(contentsOf: state.outbox.takeAll())
                    state.activeLink?.direct.removeAll()
                    return .some(batch)
                }
                if state.phase != .open { return .some(nil) }
                state.activeLink?.waiter = waiter
                return .none
            }
            if state.probeLink?.id == link {
                if let batch = state.probeLink?.direct, !batch.isEmpty {
                    state.probeLink?.direct.removeAll()
                    return .some(batch)
                }
                state.probeLink?.waiter = waiter
                return .none
            }
            return .some(nil)
        }
    }

    /// A WebSocket went away (closed by the client, or failed).
    func linkClosed(_ link: LinkID) {
        var effects = Effects()
        state.withLock { state in
            if state.probeLink?.id == link {
                cancelUpgrade(&state, effects: &effects)
            } else if state.activeLink?.id == link {
                if let waiter = state.activeLink?.waiter {
                    state.activeLink?.waiter = nil
                    effects.linkAnswers.append((waiter, nil))
                }
                if state.phase != .closed {
                    beginClose(&state, reason: .transportClose, clientInitiated: true, effects: &effects)
                }
            }
        }
        effects.run(self)
    }

    // MARK: - Delivery and closing (called with the lock held)

    private func deliverQueued(_ state: inout State, effects: inout Effects) {
        switch state.transport {
        case .polling:
            if let poll = state.pendingPoll, !state.outbox.isEmpty {
                state.pendingPoll = nil
                effects.pollAnswers.append((poll, .payload(takePollBatch(&state))))
            }
        case .websocket:
            if !wakeLink(&state.activeLink, effects: &effects, includingOutbox: &state.outbox) {
                beginClose(&state, reason: .bufferOverflow, effects: &effects)
            }
        }
    }

    /// Hands the link's packets to its writer; false when its sink refused them because
    /// the client reads too slowly (the caller closes the session).
    @discardableResult
    private func wakeLink(_ link: inout Link?, effects: inout Effects) -> Bool {
        var empty = Outbox()
        return wakeLink(&link, effects: &effects, includingOutbox: &empty)
    }

    @discardableResult
    private func wakeLink(
        _ link: inout Link?,
        effects: inout Effects,
        includingOutbox outbox: inout Outbox
    ) -> Bool {
        guard let waiter = link?.waiter else { return true }
        guard link?.direct.isEmpty == false || !outbox.isEmpty else { return true }
        let queued = outbox.takeAll()
        var batch = link?.direct ?? []
        if batch.isEmpty { batch = queued } else { batch.append(contentsOf: queued) }
        link?.direct.removeAll()
        if let sink = link?.sink {
            // Offered under the lock, so packets keep the order they were sent in; the
            // writer stays parked (it only writes what came before its first wait).
            return sink.offer(batch, limit: configuration.maxBufferedPackets)
        }
        link?.waiter = nil
        effects.linkAnswers.append((waiter, batch))
        return true
    }

    /// Starts closing. Polling with no GET pending keeps the session (`closing`) until
    /// the next GET collects what is left, so a server-side close loses nothing.
    private func beginClose(
        _ state: inout State,
        reason: EngineCloseReason,
        clientInitiated: Bool = false,
        effects: inout Effects
    ) {
        guard state.phase == .open else { return }
        statistics.countClosed(reason)
        state.closeReason = reason
        effects.closed = reason
        state.pingTimer?.cancel()
        state.pingTimeoutTimer?.cancel()
        if state.probeLink != nil { cancelUpgrade(&state, effects: &effects) }
        switch state.transport {
        case .polling:
            if let poll = state.pendingPoll {
                state.pendingPoll = nil
                // A client that closed gets a noop; one the server closes gets a close packet.
                var batch: [EngineOutgoing] = []
                if !clientInitiated {
                    batch.append(contentsOf: state.outbox.takeAll())
                    batch.append(.close)
                } else {
                    batch.append(.noop)
                }
                state.outbox.discardAll()
                effects.pollAnswers.append((poll, .payload(batch)))
                finish(&state, effects: &effects)
            } else if clientInitiated {
                // The client sends its close in a POST while its GET may still be on the way:
                // the session is over for the layers above at once, but stays (one heartbeat
                // period at most) for that GET, which gets a noop instead of an error.
                state.outbox.discardAll()
                state.closedByClient = true
                keepForFinalPoll(&state)
                release(&state, effects: &effects)
                effects.delegate = state.delegate
                state.delegate = nil
            } else if reason == .forcedClose || reason == .serverShutdown {
                // Nobody is polling right now: keep the session one heartbeat period so the
                // next GET collects what is queued and the close packet.
                keepForFinalPoll(&state)
            } else {
                finish(&state, effects: &effects)
            }
        case .websocket:
            // The writer sends what is queued, then sees the end and closes the socket.
            finish(&state, effects: &effects)
            if let waiter = state.activeLink?.waiter {
                state.activeLink?.waiter = nil
                var batch = state.activeLink?.direct ?? []
                batch.append(contentsOf: state.outbox.takeAll())
                state.activeLink?.direct.removeAll()
                effects.linkAnswers.append((waiter, batch.isEmpty ? nil : batch))
            }
        }
    }

    private func keepForFinalPoll(_ state: inout State) {
        state.phase = .closing
        state.closingTimer = eventLoop.scheduleTask(
            in: TimeAmount(configuration.pingInterval + configuration.pingTimeout)
        ) { [weak self] in
            self?.expireClosing()
        }
    }

    /// Ends a session that is still waiting for its client (shutdown grace is over).
    func abandon() {
        expireClosing()
        var effects = Effects()
        state.withLock { state in
            state.outbox.discardAll()
            finish(&state, effects: &effects)
        }
        effects.run(self)
    }

    private func expireClosing() {
        var effects = Effects()
        state.withLock { state in
            guard state.phase == .closing else { return }
            state.outbox.discardAll()
            finish(&state, effects: &effects)
        }
        effects.run(self)
    }

    private func finish(_ state: inout State, effects: inout Effects) {
        guard state.phase != .closed else { return }
        state.phase = .closed
        state.closingTimer?.cancel()
        state.upgradeTimer?.cancel()
        state.upgradeCheckTimer?.cancel()
        state.pingTimer?.cancel()
        state.pingTimeoutTimer?.cancel()
        effects.finished = true
        release(&state, effects: &effects)
        if let delegate = state.delegate {
            // Told now, unless it was told when the client closed.
            if effects.closed == nil, let reason = state.closeReason { effects.closed = reason }
            effects.delegate = delegate
            state.delegate = nil
        }
    }

    private func release(_ state: inout State, effects: inout Effects) {
        guard !state.released else { return }
        state.released = true
        effects.released = true
    }

    func attach(_ delegate: any EngineSessionDelegate) {
        state.withLock { $0.delegate = delegate }
    }

    fileprivate var delegate: (any EngineSessionDelegate)? { state.withLock { $0.delegate } }

    // MARK: - State

    /// What a session reads of the server's configuration; the rest (CORS, compression,
    /// closures) would be carried by every session for nothing.
    struct Settings: Sendable {
        let pingInterval: Duration
        let pingTimeout: Duration
        let upgradeTimeout: Duration
        let maxBufferedPackets: Int
        let maxPacketsPerPoll: Int

        init(_ configuration: EngineConfiguration) {
            pingInterval = configuration.pingInterval
            pingTimeout = configuration.pingTimeout
            upgradeTimeout = configuration.upgradeTimeout
            maxBufferedPackets = configuration.maxBufferedPackets
            maxPacketsPerPoll = configuration.maxPacketsPerPoll
        }
    }

    private struct Link {
        let id: LinkID
        /// Where packets go while the writer waits (nil: the writer takes them all).
        let sink: (any EngineFrameSink)?
        var direct: [EngineOutgoing] = []
        var waiter: LinkWaiter?
        /// Messages read off this socket so far, as its transport counts them.
        var arrivals: @Sendable () -> Int? = { nil }
        /// Messages the session has handled from this socket.
        var handled = 0
    }

    private struct State {
        enum Phase { case open, closing, closed }

        var phase = Phase.open
        var transport: EngineTransport
        var delegate: (any EngineSessionDelegate)?
        var outbox = Outbox()
        var pendingPoll: CheckedContinuation<PollOutcome, Never>?
        var activeLink: Link?
        var probeLink: Link?
        var probeAnswered = false
        var nextLink = 0
        var pingTimer: Scheduled<Void>?
        var pingTimeoutTimer: Scheduled<Void>?
        var upgradeTimer: Scheduled<Void>?
        var upgradeCheckTimer: Scheduled<Void>?
        /// Upgrade checks that left a GET waiting for what the probe had already read.
        var upgradeChecksDeferred = 0
        var closingTimer: Scheduled<Void>?
        var closeReason: EngineCloseReason?
        /// The client closed a polling session; its last GET gets a noop.
        var closedByClient = false
        /// `onRelease` was called.
        var released = false

        init(transport: EngineTransport) { self.transport = transport }

        mutating func makeLink() -> LinkID {
            nextLink += 1
            return LinkID(value: nextLink)
        }
    }

    /// Packets waiting for the transport. Most of the time nothing waits (a WebSocket's
    /// sink takes packets as they are sent), so the ring is made on the first packet and
    /// let go once it is empty again: an idle session holds no storage for it.
    struct Outbox {
        private var packets: CircularBuffer<EngineOutgoing>?

        var count: Int { packets?.count ?? 0 }
        var isEmpty: Bool { packets?.isEmpty ?? true }

        mutating func append(_ packet: EngineOutgoing) {
            append(contentsOf: CollectionOfOne(packet))
        }

        mutating func append(contentsOf newPackets: some Collection<EngineOutgoing>) {
            guard !newPackets.isEmpty else { return }
            if packets == nil {
                packets = CircularBuffer(initialCapacity: Swift.max(4, newPackets.count))
            }
            packets?.append(contentsOf: newPackets)
        }

        mutating func take(upTo limit: Int) -> [EngineOutgoing] {
            guard var queued = packets.take() else { return [] }
            let count = Swift.min(limit, queued.count)
            var batch: [EngineOutgoing] = []
            batch.reserveCapacity(count)
            for _ in 0..<count { batch.append(queued.removeFirst()) }
            if !queued.isEmpty { packets = queued }
            return batch
        }

        mutating func takeAll() -> [EngineOutgoing] {
            guard let queued = packets.take() else { return [] }
            return Array(queued)
        }

        /// Drops what is queued (the session is gone).
        mutating func discardAll() {
            packets = nil
        }
    }

    /// Work decided under the lock and done after it is released.
    private struct Effects {
        var pollAnswers: [(CheckedContinuation<PollOutcome, Never>, PollOutcome)] = []
        var linkAnswers: [(LinkWaiter, [EngineOutgoing]?)] = []
        var messages: [EngineMessage] = []
        var closed: EngineCloseReason?
        var finished = false
        var released = false
        /// Set when the delegate is detached: it hears of the close, once.
        var delegate: (any EngineSessionDelegate)?

        func run(_ session: EngineSession) {
            for (continuation, outcome) in pollAnswers { continuation.resume(returning: outcome) }
            for (waiter, batch) in linkAnswers { waiter(batch) }
            if !messages.isEmpty, let delegate = session.delegate {
                for message in messages { delegate.session(session, didReceive: message) }
            }
            if released { session.onRelease(session) }
            if finished { session.onFinish(session) }
            if let delegate, let reason = closed { delegate.session(session, didCloseWith: reason) }
        }
    }
}
