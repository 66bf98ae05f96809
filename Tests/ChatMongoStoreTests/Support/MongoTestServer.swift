import EngineTestSupport
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The repository's root, from this file's place in it.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Support
    .deletingLastPathComponent()  // ChatMongoStoreTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
}

/// The MongoDB-compatible server (SecantusDB, through `scripts/mongo-test-server.sh`)
/// the tests run against: one per test process, started by the first test that needs
/// it, on a free port.
///
/// Its venv lives in `$MONGO_DIR/venv` (`MONGO_DIR` defaults to `.mongo-test` at the
/// repository root, git-ignored, so SecantusDB is installed once); the data, log and
/// pid file of this run live in `$MONGO_DIR/runs/<pid>`.
///
/// No server outlives the tests: the script is given this process's PID and stops the
/// server within about a second of this process ending (a crash included), and an
/// `atexit` hook stops it at once on a normal exit and deletes the run folder.
actor MongoTestServer {
    static let shared = MongoTestServer(tls: false)
    /// A second server that speaks TLS only, with a self-signed certificate made at its
    /// start (`certificateFile`); its `uri()` trusts that certificate (`tlsCAFile`).
    static let sharedTLS = MongoTestServer(tls: true)

    let base: URL
    let runFolder: URL
    let tls: Bool
    /// The TLS server's certificate (PEM), which is its own CA.
    nonisolated var certificateFile: String { runFolder.appendingPathComponent("server.crt").path }
    nonisolated var keyFile: String { runFolder.appendingPathComponent("server.key").path }
    private var port: Int?
    private var running = false
    /// Why the first start failed: later tests fail with it at once instead of trying
    /// to install SecantusDB again.
    private var firstStartFailure: String?

    private init(tls: Bool) {
        self.tls = tls
        let environment = ProcessInfo.processInfo.environment
        if let folder = environment["MONGO_DIR"], !folder.isEmpty {
            base = URL(fileURLWithPath: folder, relativeTo: repositoryRoot).standardizedFileURL
        } else {
            base = repositoryRoot.appendingPathComponent(".mongo-test")
        }
        runFolder = base.appendingPathComponent("runs").appendingPathComponent(tls ? "\(getpid())-tls" : "\(getpid())")
    }

    /// The server's URI; starts the server if it is not running.
    func uri() async throws -> String {
        try await ensureRunning()
        return try uri(port: requirePort())
    }

    func currentPort() async throws -> Int {
        try await ensureRunning()
        return try requirePort()
    }

    private func requirePort() throws -> Int {
        guard let port else { throw TestSetupError(description: "the MongoDB test server has no port") }
        return port
    }

    private func uri(port: Int) -> String {
        tls ? "mongodb://127.0.0.1:\(port)/?tls=true&tlsCAFile=\(certificateFile)" : "mongodb://127.0.0.1:\(port)/"
    }

    func ensureRunning() async throws {
        if running { return }
        if let firstStartFailure { throw TestSetupError(description: firstStartFailure) }
        let isFirst = port == nil
        do {
            try await start(keepData: !isFirst)
        } catch {
            if isFirst { firstStartFailure = "\(error)" }
            throw error
        }
    }

    /// Starts the server (on the port it had, if it ran before); `keepData` keeps what
    /// an earlier run of it stored.
    func start(keepData: Bool) async throws {
        let port: Int
        do {
            port = try self.port ?? freePort()
            try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        } catch {
            throw TestSetupError(
                description: "the MongoDB test server could not be started: cannot prepare \(runFolder.path): \(error)")
        }
        self.port = port
        if tls, !FileManager.default.fileExists(atPath: keyFile) { try await makeCertificate() }
        ServerReaper.register(pidFile: runFolder.appendingPathComponent("server.pid").path, folder: runFolder.path)
        let result = try await runScript("start", port: port, keepData: keepData)
        guard result.status == 0 else {
            throw TestSetupError(
                description: """
                    the MongoDB test server could not be started (scripts/mongo-test-server.sh start exited \
                    \(result.status); it installs SecantusDB from PyPI into \(base.path)/venv on its first run): \
                    \(result.output)
                    """)
        }
        running = true
    }

    /// Stops the server (and waits until its process is gone).
    func stop() async throws {
        guard let port else { return }
        running = false
        let result = try await runScript("stop", port: port, keepData: true)
        guard result.status == 0 else {
            throw TestSetupError(
                description: "scripts/mongo-test-server.sh stop exited \(result.status): \(result.output)")
        }
    }

    /// A self-signed certificate for 127.0.0.1, made for this run only (openssl CLI).
    private func makeCertificate() async throws {
        let result = try await runProcess(
            "/usr/bin/env",
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", certificateFile,
            ],
            timeout: .seconds(60))
        guard result.status == 0 else {
            throw TestSetupError(description: "openssl could not make the test certificate: \(result.output)")
        }
    }

    private func runScript(_ command: String, port: Int, keepData: Bool) async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        if tls {
            environment["MONGO_TLS_CERT_FILE"] = certificateFile
            environment["MONGO_TLS_KEY_FILE"] = keyFile
        }
        environment["MONGO_PORT"] = "\(port)"
        environment["MONGO_DIR"] = runFolder.path
        environment["MONGO_VENV"] = base.appendingPathComponent("venv").path
        environment["MONGO_KEEP_DATA"] = keepData ? "1" : "0"
        environment["MONGO_OWNER_PID"] = "\(getpid())"
        return try await runProcess(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/mongo-test-server.sh").path, command],
            environment: environment, timeout: .seconds(600))
    }
}

/// Stops this process's server when the process exits normally (the script's owner
/// watch covers the other endings).
enum ServerReaper {
    private struct Target {
        var pidFile: String
        var folder: String
    }

    private static let targets = Mutex<[String: Target]>([:])
    private static let installed = Mutex(false)

    static func register(pidFile: String, folder: String) {
        targets.withLock { $0[folder] = Target(pidFile: pidFile, folder: folder) }
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { atexit { ServerReaper.reap() } }
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL; then the run folder goes.
    static func reap() {
        for target in targets.withLock({ Array($0.values) }) { reap(target) }
    }

    private static func reap(_ target: Target) {
        if let text = try? String(contentsOfFile: target.pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        {
            if kill(pid, SIGTERM) == 0 {
                let deadline = ContinuousClock.now + .seconds(10)
                while kill(pid, 0) == 0, ContinuousClock.now < deadline { usleep(50_000) }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            }
        }
        try? FileManager.default.removeItem(atPath: target.folder)
    }
}

struct ProcessResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs a program to its end (killed after `timeout`), its stdout and stderr together
/// in `output` (through a file: a server the program leaves running cannot hold a pipe
/// open).
///
/// With posix_spawn and a blocking waitpid rather than Foundation's Process: under the
/// test runner, Process's termination handler was never called (the child stayed a
/// zombie), and its children inherited a mask that blocks SIGTERM. Here the child
/// starts with no signal blocked and default dispositions.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration
) async throws -> ProcessResult {
    let outputPath = FileManager.default.temporaryDirectory
        .appendingPathComponent("chatify-mongo-test-\(getpid())-\(UUID().uuidString).log").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    closeInheritedDescriptors(&actions)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let environmentEntries = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let envp = environmentEntries.map { strdup($0) } + [nil]
    defer { for pointer in envp { free(pointer) } }

    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard spawned == 0 else {
        throw TestSetupError(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
    }
    let child = pid
    // A deadline, not a synchronisation: a hung program is killed.
    let killer = Task {
        try await Task.sleep(for: timeout)
        kill(child, SIGKILL)
    }
    let status: Int32 = await withCheckedContinuation { continuation in
        // waitpid blocks: on a thread of its own, never on the concurrency pool.
        Thread.detachNewThread {
            var raw: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(child, &raw, 0) } while result == -1 && errno == EINTR
            continuation.resume(returning: result == -1 ? -1 : raw)
        }
    }
    killer.cancel()
    // WIFEXITED / WEXITSTATUS, and 128 + the signal for a killed program, as a shell says.
    let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return ProcessResult(status: exitCode, output: text.trimmingCharacters(in: .whitespacesAndNewlines))
}

/// A TCP port nobody listens on right now: bind port 0 on 127.0.0.1, read it, close.
func freePort() throws -> Int {
    #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestSetupError(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestSetupError(description: "bind() failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw TestSetupError(description: "getsockname() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The project venv's Python with pymongo and Werkzeug (Compat/requirements.txt),
/// created or completed when missing, as scripts/setup does.
actor CompatPython {
    static let shared = CompatPython()
    private var checked: Result<String, TestSetupError>?

    func path() async throws -> String {
        if let checked { return try checked.get() }
        let result: Result<String, TestSetupError>
        do {
            result = .success(try await prepare())
        } catch let error as TestSetupError {
            result = .failure(error)
        } catch {
            result = .failure(TestSetupError(description: "\(error)"))
        }
        checked = result
        return try result.get()
    }

    private func prepare() async throws -> String {
        let venv = repositoryRoot.appendingPathComponent(
            ProcessInfo.processInfo.environment["COMPAT_VENV"] ?? ".venv-compat")
        let python = venv.appendingPathComponent("bin/python").path
        let probe = ["-c", "import pymongo, werkzeug"]
        if FileManager.default.isExecutableFile(atPath: python),
            try await runProcess(python, probe, timeout: .seconds(60)).status == 0
        {
            return python
        }
        if !FileManager.default.isExecutableFile(atPath: python) {
            let created = try await runProcess(
                "/usr/bin/env", ["python3", "-m", "venv", venv.path], timeout: .seconds(120))
            guard created.status == 0 else {
                throw TestSetupError(description: "cannot create the venv \(venv.path): \(created.output)")
            }
        }
        let installed = try await runProcess(
            python,
            [
                "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                repositoryRoot.appendingPathComponent("Compat/requirements.txt").path,
            ],
            timeout: .seconds(600))
        guard installed.status == 0,
            try await runProcess(python, probe, timeout: .seconds(60)).status == 0
        else {
            throw TestSetupError(
                description:
                    "pymongo and Werkzeug could not be installed into \(venv.path) (run scripts/setup): \(installed.output)"
            )
        }
        return python
    }
}

/// Log records kept in memory, for tests that check what the store logs.
final class LogCapture: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let storage = Mutex<[Record]>([])

    var records: [Record] { storage.withLock { $0 } }

    func append(_ record: Record) { storage.withLock { $0.append(record) } }

    func logger(label: String = "mongo-test") -> Logger {
        var logger = Logger(label: label) { _ in CapturingHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(Record(level: event.level, message: "\(event.message)"))
        }
    }
}
