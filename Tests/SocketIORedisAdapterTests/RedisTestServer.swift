import EngineTestSupport
import Foundation
import Synchronization

@testable import SocketIORedisAdapter

/// A real `redis-server` (Debian's), started once for this test process on a free port
/// and killed when the process exits.
actor RedisTestServer {
    static let shared = RedisTestServer()

    /// One start for every caller: the actor is reentrant while the server starts.
    private var starting: Task<Int, any Error>?

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    func port() async throws -> Int {
        if let starting { return try await starting.value }
        let task = Task<Int, any Error> {
            do {
                let port = try RedisServerProcess.freePort()
                _ = try await RedisServerProcess.start(
                    port: port, readiness: RedisConfiguration(host: "127.0.0.1", port: port))
                return port
            } catch {
                throw StartFailure(
                    description: "redis-server could not be started (apt-get install redis-server): \(error)")
            }
        }
        starting = task
        return try await task.value
    }
}

/// One `redis-server` process a test started, with the options it needs (TLS, a port
/// of its own to stop and restart); killed by ``stop()`` or when the test process exits.
final class RedisServerProcess: Sendable {
    let pid: pid_t
    let port: Int

    private init(pid: pid_t, port: Int) {
        self.pid = pid
        self.port = port
    }

    /// Every process still running, killed at exit.
    private static let running = Mutex<Set<pid_t>>([])
    private static let exitHook: Void = {
        atexit {
            for child in RedisServerProcess.running.withLock({ $0 }) {
                kill(child, SIGKILL)
                var status: Int32 = 0
                waitpid(child, &status, 0)
            }
        }
    }()

    /// Starts `redis-server` listening on `port` (plain, unless `extraArguments` say
    /// otherwise) and waits until it answers PING as `readiness` connects.
    static func start(
        port: Int, extraArguments: [String] = [], readiness: RedisConfiguration
    ) async throws -> RedisServerProcess {
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw RedisTestServer.StartFailure(description: "no redis-server executable")
        }
        let arguments =
            [
                executable, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--loglevel", "warning",
            ] + extraArguments
        _ = exitHook
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        closeInheritedDescriptors(&actions)
        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for argument in argv { free(argument) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard status == 0 else { throw RedisTestServer.StartFailure(description: "posix_spawn failed: \(status)") }
        running.withLock { _ = $0.insert(child) }
        let process = RedisServerProcess(pid: child, port: port)
        do {
            try await waitForPing(readiness)
        } catch {
            process.stop()
            throw error
        }
        return process
    }

    /// A plain server of the test's own on a free port (to stop and start again), and how
    /// to reach it.
    static func startOwn() async throws -> (server: RedisServerProcess, configuration: RedisConfiguration) {
        let port = try freePort()
        let configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        return (try await start(port: port, readiness: configuration), configuration)
    }

    /// A new server on this one's port, after ``stop()``: Redis coming back after a crash.
    func restarted() async throws -> RedisServerProcess {
        try await Self.start(port: port, readiness: RedisConfiguration(host: "127.0.0.1", port: port))
    }

    /// Kills the server at once (as a crash or a lost machine would) and reaps it.
    func stop() {
        guard Self.running.withLock({ $0.remove(pid) }) != nil else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    private static func waitForPing(_ configuration: RedisConfiguration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        var lastError: any Error = RedisTestServer.StartFailure(description: "no attempt")
        while clock.now < deadline {
            do {
                let connection = try await RedisClientConnection.connect(
                    to: RedisEndpoint(configuration: configuration))
                defer { connection.close() }
                if try await connection.command(["PING"]).text == "PONG" { return }
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(20))  // no event to wait on: the server is another process
        }
        throw RedisTestServer.StartFailure(
            description: "redis-server on port \(configuration.port) did not answer PING within 10 s: \(lastError)")
    }

    /// A TCP port nothing listens on right now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RedisTestServer.StartFailure(description: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw RedisTestServer.StartFailure(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
