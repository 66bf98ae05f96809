import CHiredis
import Foundation

/// A reply from Redis.
enum RedisReply: Equatable {
    case string([UInt8])
    case status(String)
    case error(String)
    case integer(Int64)
    case array([RedisReply])
    case null

    var bytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }

    var text: String? {
        switch self {
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }
}

/// One hiredis connection, used by one thread at a time (its owner's).
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit { redisFree(context) }

    /// Connects, authenticates and selects the database.
    static func open(_ configuration: RedisConfiguration) throws -> RedisConnection {
        let (seconds, attoseconds) = configuration.connectTimeout.components
        let timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), timeout) else {
            throw RedisError(message: "cannot allocate a Redis connection")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw RedisError(message: "cannot connect to \(configuration.description): \(message)")
        }
        let connection = RedisConnection(context: context)
        if let password = configuration.password {
            var auth = ["AUTH"]
            if let user = configuration.username { auth.append(user) }
            auth.append(password)
            if case .error(let message) = try connection.command(auth.map { Array($0.utf8) }) {
                throw RedisError(message: "Redis refused the credentials: \(message)")
            }
        }
        if let database = configuration.database, database != 0 {
            if case .error(let message) = try connection.command([Array("SELECT".utf8), Array(String(database).utf8)]) {
                throw RedisError(message: "Redis refused SELECT \(database): \(message)")
            }
        }
        return connection
    }

    /// Sends a command and waits for its reply.
    func command(_ arguments: [[UInt8]]) throws -> RedisReply {
        try append(arguments)
        return try nextReply()
    }

    /// Queues a command without waiting (pipelining); replies come from `nextReply`.
    func append(_ arguments: [[UInt8]]) throws {
        let status = withArgv(arguments) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        guard status == REDIS_OK else { throw RedisError(message: Self.errorText(context)) }
    }

    /// The next reply (blocking), flushing what was appended first.
    func nextReply() throws -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            throw RedisError(message: Self.errorText(context))
        }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Makes a thread blocked in `nextReply` on this connection return with an error.
    func interrupt() {
        chatify_redis_interrupt(context)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .string(Array(UnsafeRawBufferPointer(start: value.str, count: value.len)))
        case REDIS_REPLY_STATUS:
            return .status(String(cString: value.str))
        case REDIS_REPLY_ERROR:
            return .error(String(cString: value.str))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(value.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for index in 0..<value.elements {
                if let element = value.element[index] { items.append(convert(element)) }
            }
            return .array(items)
        default:
            return .null
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "connection lost" : String(decoding: bytes, as: UTF8.self)
        }
    }

    private func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        // Copies keep every argument alive and contiguous for the C call.
        let buffers = arguments.map { argument -> UnsafeMutablePointer<CChar> in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress {
                    UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: raw.count)
                }
            }
            return pointer
        }
        defer { for buffer in buffers { buffer.deallocate() } }
        var pointers: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        let lengths = arguments.map(\.count)
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { lengthPointer in
                body(Int32(arguments.count), argv.baseAddress!, lengthPointer.baseAddress!)
            }
        }
    }
}
