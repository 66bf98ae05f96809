import CMongoc
import Logging
import Synchronization

/// libmongoc's process-wide state: `mongoc_init` once, and its log messages (the
/// pool's monitor threads write some) routed to swift-log instead of stderr.
enum MongocRuntime {
    /// The logger libmongoc's messages go to: the one given to the latest `connect`.
    /// Before any store connects, and when none is set, messages below warning are
    /// dropped and the others go to a default logger.
    private static let sink = Mutex<Logger?>(nil)

    private static let initialized: Void = {
        mongoc_log_set_handler(
            { level, domain, message, _ in
                MongocRuntime.log(level: level, domain: domain, message: message)
            }, nil)
        mongoc_init()
    }()

    /// Initialises libmongoc (once per process) and sends its logs to `logger`.
    static func prepare(logger: Logger) {
        sink.withLock { $0 = logger }
        _ = initialized
    }

    private static func log(
        level: mongoc_log_level_t, domain: UnsafePointer<CChar>?, message: UnsafePointer<CChar>?
    ) {
        let text = message.map { String(cString: $0) } ?? ""
        let domainText = domain.map { String(cString: $0) } ?? "mongoc"
        let swiftLevel: Logger.Level
        switch level {
        case MONGOC_LOG_LEVEL_ERROR: swiftLevel = .error
        case MONGOC_LOG_LEVEL_CRITICAL: swiftLevel = .critical
        case MONGOC_LOG_LEVEL_WARNING: swiftLevel = .warning
        case MONGOC_LOG_LEVEL_MESSAGE: swiftLevel = .notice
        case MONGOC_LOG_LEVEL_INFO: swiftLevel = .info
        case MONGOC_LOG_LEVEL_DEBUG: swiftLevel = .debug
        default: swiftLevel = .trace
        }
        let logger = sink.withLock { $0 }
        if let logger {
            logger.log(level: swiftLevel, "libmongoc: \(text)", metadata: ["mongoc.domain": "\(domainText)"])
        } else if swiftLevel >= .warning {
            Logger(label: "chatify.mongoc").log(level: swiftLevel, "libmongoc: \(text)")
        }
    }
}
