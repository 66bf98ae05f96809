import EngineIO
import Logging
import NIOCore
import Synchronization

/// The options of Node's `@socket.io/redis-streams-adapter`, with its defaults.
public struct RedisStreamOptions: Sendable, Equatable {
    /// The stream every node appends to and reads (`REDIS_STREAM_NAME`), or the prefix of
    /// the streams' names when there are several.
    public var name = "socket.io"
    /// How many streams the namespaces are spread over (`REDIS_STREAM_COUNT`, Node's
    /// `streamCount`): each namespace keeps to one, so its entries stay in order.
    public var count = 1
    /// Requests and responses over sharded Pub/Sub, Redis 7 (`REDIS_STREAM_SHARDED_PUBSUB`,
    /// Node's `useShardedPubSub`), instead of classic Pub/Sub.
    public var shardedPubSub = false
    /// The stream is trimmed to about this many entries (`XADD MAXLEN ~`, `REDIS_STREAM_MAXLEN`).
    public var maximumLength = 10_000
    /// Entries fetched per `XREAD` or `XRANGE`.
    public var readCount = 100
    /// How long one `XREAD` waits for new entries.
    public var blockTime: Duration = .seconds(5)
    /// The prefix of the keys that hold the sessions of disconnected sockets.
    public var sessionKeyPrefix = "sio:session:"

    /// Node's defaults.
    public init() {}

    /// The stream a namespace's entries go to, as Node names it: ``name`` itself with one
    /// stream, else `<name>-<hash of the namespace % count>`. The remainder keeps the sign
    /// of the hash, as JavaScript's `%` does, so a namespace whose hash is negative gets
    /// `<name>--<n>`, a stream Node's nodes do not read (they read `<name>-0` to
    /// `<name>-<count - 1>`); these nodes read it, so their own entries still reach them.
    public func streamName(for namespace: String) -> String {
        guard count > 1 else { return name }
        return name + "-" + String(Int(Self.namespaceHash(namespace)) % count)
    }

    /// Java's `String.hashCode`, as Node's adapter computes it: over UTF-16 code units,
    /// `hash * 31 + unit`, wrapped to a signed 32-bit integer.
    static func namespaceHash(_ namespace: String) -> Int32 {
        namespace.utf16.reduce(Int32(0)) { hash, unit in hash &* 31 &+ Int32(unit) }
    }
}

/// One entry of the stream: its id (`<milliseconds>-<sequence>`) and its fields.
struct RedisStreamEntry: Sendable, Equatable {
    let id: String
    let fields: [String: [UInt8]]

    /// The text of a field, nil when it is absent.
    func text(_ name: String) -> String? { fields[name].map { String(decoding: $0, as: UTF8.self) } }

    /// The entries of an `XRANGE` reply, or of one stream in an `XREAD` reply; malformed
    /// ones are left out.
    static func entries(in reply: RESPValue) -> [RedisStreamEntry] {
        (reply.elements ?? []).compactMap { item in
            guard let parts = item.elements, parts.count == 2, let id = parts[0].text else { return nil }
            let values = parts[1].elements ?? []
            var fields: [String: [UInt8]] = [:]
            var index = 0
            while index + 1 < values.count {
                if let name = values[index].text, let value = values[index + 1].bytes { fields[name] = value }
                index += 2
            }
            return RedisStreamEntry(id: id, fields: fields)
        }
    }

    /// The entries of an `XREAD` reply for one stream (RESP2 array or RESP3 map); none
    /// when it timed out (null).
    static func entries(inRead reply: RESPValue) -> [RedisStreamEntry] {
        switch reply {
        case .map(let streams): return streams.first.map { entries(in: $0.value) } ?? []
        default:
            guard let stream = reply.elements?.first?.elements, stream.count == 2 else { return [] }
            return entries(in: stream[1])
        }
    }

    /// Whether `text` is a stream id, `<digits>-<digits>`, each part a 64-bit number.
    static func isID(_ text: String) -> Bool { parseID(text) != nil }

    /// The two numbers of a stream id; nil for anything else.
    static func parseID(_ text: String) -> (milliseconds: UInt64, sequence: UInt64)? {
        let parts = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 20 }),
            parts.allSatisfy({ $0.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }),
            let milliseconds = UInt64(String(decoding: parts[0], as: UTF8.self)),
            let sequence = UInt64(String(decoding: parts[1], as: UTF8.self))
        else { return nil }
        return (milliseconds, sequence)
    }

    /// Whether stream id `id` comes after stream id `other`; false when either is not one.
    static func isID(_ id: String, after other: String) -> Bool {
        guard let left = parseID(id), let right = parseID(other) else { return false }
        return (left.milliseconds, left.sequence) > (right.milliseconds, right.sequence)
    }

    /// The smallest id after `id` (an inclusive `XRANGE` start that works before Redis 6.2's
    /// exclusive ranges, as Node computes it).
    static func id(after id: String) -> String? {
        guard let (milliseconds, sequence) = parseID(id) else { return nil }
        if sequence == .max {
            return milliseconds == .max ? nil : "\(milliseconds + 1)-0"
        }
        return "\(milliseconds)-\(sequence + 1)"
    }
}

/// A Redis stream as Node's streams adapter uses it: `XADD … MAXLEN ~` on the shared
/// publisher connection, and an `XREAD BLOCK` loop on a connection of its own (a
/// blocking read holds its connection). Reading resumes after the last entry read, so
/// entries appended while Redis was unreachable are read once it is back, as long as
/// the stream still holds them.
final class RedisStream: Sendable {
    typealias Handler = @Sendable (RedisStreamEntry) -> Void

    let options: RedisStreamOptions
    /// The stream this namespace appends to and reads (``RedisStreamOptions/streamName(for:)``).
    let key: String
    private let publisher: RedisPublisher
    private let reader: RedisLink
    private let loop = Mutex<Task<Void, Never>?>(nil)
    /// The id reading starts after, once the reader knows where the stream ends (from
    /// then on, nothing appended is missed); nil when stopped first.
    private let started: Task<String?, Never>

    /// The stream of `namespace`, read from its end on a connection of its own.
    init(
        endpoint: RedisEndpoint, publisher: RedisPublisher, options: RedisStreamOptions, namespace: String,
        logger: Logger, handler: @escaping Handler
    ) {
        self.options = options
        let key = options.streamName(for: namespace)
        self.key = key
        self.publisher = publisher
        let reader = RedisLink(endpoint: endpoint, role: "stream reader", logger: logger)
        self.reader = reader
        let started = Task { await Self.end(of: key, reader: reader) }
        self.started = started
        let task = Task {
            guard let start = await started.value else { return }
            await Self.read(from: start, of: key, options: options, reader: reader, logger: logger, handler: handler)
        }
        loop.withLock { $0 = task }
    }

    /// The id of the stream's last entry (`0-0` when it is empty), asked until Redis
    /// answers: Node's `$`, fixed once, so entries appended between two reads are not skipped.
    private static func end(of stream: String, reader: RedisLink) async -> String? {
        while !Task.isCancelled {
            if let reply = try? await reader.send(["XREVRANGE", stream, "+", "-", "COUNT", "1"].map { Array($0.utf8) })
                .get(), reply.errorMessage == nil
            {
                return RedisStreamEntry.entries(in: reply).first?.id ?? "0-0"
            }
            try? await Task.sleep(for: .milliseconds(100))  // Redis unreachable: the link reconnects meanwhile
        }
        return nil
    }

    private static func read(
        from start: String, of key: String, options: RedisStreamOptions, reader: RedisLink, logger: Logger,
        handler: Handler
    ) async {
        var last = start
        let block = String(options.blockTime.milliseconds)
        while !Task.isCancelled {
            let arguments = [
                "XREAD", "BLOCK", block, "COUNT", String(options.readCount), "STREAMS", key, last,
            ]
            do {
                // The block time is added to the liveness deadline of this one command.
                let reply = try await reader.send(
                    arguments.map { Array($0.utf8) }, serverWait: TimeAmount(options.blockTime)
                ).get()
                if let refusal = reply.errorMessage {
                    logger.warning("redis: XREAD refused: \(refusal)")
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                for entry in RedisStreamEntry.entries(inRead: reply) {
                    handler(entry)
                    last = entry.id
                }
            } catch {
                // Unreachable: the link reconnects; reading goes on from `last`.
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Waits (at most `timeout`) until the reader knows where to read from.
    func waitUntilReading(timeout: Duration) async {
        let started = self.started
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = await started.value }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// `XADD <key> MAXLEN ~ <max> * <field> <value> …`; `completion` gets the entry id,
    /// nil when Redis refused it or could not be reached.
    func append(_ fields: [(name: String, value: [UInt8])], completion: @escaping @Sendable (String?) -> Void) {
        var arguments = ["XADD", key, "MAXLEN", "~", String(options.maximumLength), "*"].map { Array($0.utf8) }
        for field in fields { arguments += [Array(field.name.utf8), field.value] }
        publisher.send(arguments).whenComplete { result in
            switch result {
            case .success(let reply): completion(reply.errorMessage == nil ? reply.text : nil)
            case .failure: completion(nil)
            }
        }
    }

    /// At most `readCount` entries from `start` (inclusive) to the end.
    func entries(from start: String, to end: String = "+") async throws -> [RedisStreamEntry] {
        let reply = try await publisher.command([
            "XRANGE", key, start, end, "COUNT", String(options.readCount),
        ])
        if let refusal = reply.errorMessage { throw RedisError(message: "XRANGE refused: \(refusal)") }
        return RedisStreamEntry.entries(in: reply)
    }

    /// `SET <prefix><pid> <value> PX <milliseconds>`, fire and forget.
    func storeSession(pid: String, value: String, expiresIn: Duration) {
        let milliseconds = max(1, expiresIn.milliseconds)
        publisher.send(
            ["SET", options.sessionKeyPrefix + pid, value, "PX", String(milliseconds)].map { Array($0.utf8) }
        )
        .whenComplete { _ in }
    }

    /// `GETDEL <prefix><pid>`: the session, once.
    func takeSession(pid: String) async throws -> [UInt8]? {
        let reply = try await publisher.command(["GETDEL", options.sessionKeyPrefix + pid])
        if let refusal = reply.errorMessage { throw RedisError(message: "GETDEL refused: \(refusal)") }
        return reply.bytes
    }

    func stop() {
        started.cancel()
        loop.withLock { $0 }?.cancel()
        reader.stop()
    }
}
