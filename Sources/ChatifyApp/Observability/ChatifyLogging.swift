import Foundation
public import Logging
import OrderedJSON
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `LOG_FORMAT`: how each log record is written to standard error.
public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    /// swift-log's own line: time, level, label, metadata, source, message.
    case text
    /// One JSON object per line, for log collectors.
    case json
}

public enum ChatifyLogging {
    /// Installs the process-wide log handler. swift-log allows this once per process,
    /// before the first logger is made, so only the executable calls it.
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label, output: JSONLogHandler.writeToStandardError)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Writes each record as one line of JSON: `time` (ISO 8601, UTC), `level`, `label`,
/// `message`, `request_id` and `sid` when the record carries them, then every metadata
/// value under `metadata`. Strings are escaped byte by byte on their UTF-8, so any
/// message (quotes, control characters, line breaks) stays one valid line.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    let label: String
    let output: @Sendable ([UInt8]) -> Void

    /// Metadata keys shown at the top level, under a name a log collector expects.
    static let promotedKeys: [(metadataKey: String, field: String)] = [("hb.request.id", "request_id"), ("sid", "sid")]

    public init(label: String, output: @escaping @Sendable ([UInt8]) -> Void) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        output(
            Self.line(
                time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    /// One record, newline included.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata)
        -> [UInt8]
    {
        var record = JSONObject()
        record["time"] = .string(iso8601(time))
        record["level"] = .string(level.rawValue)
        record["label"] = .string(label)
        record["message"] = .string(message)
        for promoted in promotedKeys {
            if let value = metadata[promoted.metadataKey] { record[promoted.field] = .string(value.description) }
        }
        if !metadata.isEmpty {
            record["metadata"] = json(.dictionary(metadata))
        }
        var out: [UInt8] = []
        var noAttachments: [[UInt8]]? = nil
        JSONValue.object(record).serialize(into: &out, attachments: &noAttachments)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): return .string(text)
        case .stringConvertible(let convertible): return .string(convertible.description)
        case .array(let values): return .array(values.map(json))
        case .dictionary(let entries):
            return .object(JSONObject(entries.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }

    /// `2026-01-31T23:59:59.123Z`.
    static func iso8601(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        let milliseconds = min(999, max(0, Int((since1970 - Double(seconds)) * 1000)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), milliseconds
        )
    }

    /// Serialised so that records written from many threads never interleave.
    private static let standardError = Mutex(RecordWriter(descriptor: STDERR_FILENO))

    static func writeToStandardError(_ bytes: [UInt8]) {
        standardError.withLock { $0.write(bytes) }
    }
}

/// Writes log records to one descriptor, each on a line of its own: a record cut short
/// (see `writeAll`) gets its line ended before the next record.
struct RecordWriter {
    let descriptor: Int32
    var blockedWriteWait: Int32 = 1_000
    private var lastRecordCut = false

    init(descriptor: Int32, blockedWriteWait: Int32 = 1_000) {
        self.descriptor = descriptor
        self.blockedWriteWait = blockedWriteWait
    }

    mutating func write(_ record: [UInt8]) {
        let bytes = lastRecordCut ? [UInt8(ascii: "\n")] + record : record
        let written = bytes.withUnsafeBytes { writeAll($0, to: descriptor, blockedWriteWait: blockedWriteWait) }
        // A record dropped whole leaves the line as it was.
        lastRecordCut = written > 0 && written < bytes.count
    }
}

/// Writes the whole buffer, resuming after partial writes and interruptions; returns
/// how many bytes were written. A full non-blocking pipe is waited on, for at most
/// `blockedWriteWait` milliseconds per buffer in all, so a brief stall does not split a
/// record; a reader stalled longer, or a closed descriptor, costs the rest (a log must
/// never stop the server). `whenBlocked` runs each time the descriptor is full, before
/// the wait.
@discardableResult
func writeAll(
    _ buffer: UnsafeRawBufferPointer, to descriptor: Int32, blockedWriteWait: Int32 = 1_000,
    whenBlocked: () -> Void = {}
) -> Int {
    guard let start = buffer.baseAddress else { return 0 }
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(blockedWriteWait)
    var offset = 0
    while offset < buffer.count {
        let written = write(descriptor, start + offset, buffer.count - offset)
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            whenBlocked()
            let left = clock.now.duration(to: deadline).components
            let remaining = Int32(clamping: max(left.seconds * 1_000 + left.attoseconds / 1_000_000_000_000_000, 0))
            var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = poll(&writable, 1, remaining) } while ready < 0 && errno == EINTR
            guard ready > 0 else { return offset }
        } else {
            return offset
        }
    }
    return offset
}
