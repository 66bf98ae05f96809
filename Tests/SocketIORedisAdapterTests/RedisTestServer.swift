import Foundation
import Synchronization

@testable import SocketIORedisAdapter

/// A real `redis-server` (Debian's), started once for this test process on a free port
/// and killed when the process exits.
actor RedisTestServer {
    static let shared = RedisTestServer()

    private var started: Int?
    private var failure: String?

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    func port() throws -> Int {
        if let started { return started }
        if let failure { throw StartFailure(description: failure) }
        do {
            let port = try Self.freePort()
            try Self.spawn(port: port)
            try Self.waitForPing(port: port)
            started = port
            return port
        } catch {
            failure = "redis-server could not be started (apt-get install redis-server): \(error)"
            throw StartFailure(description: failure ?? "")
        }
    }

    private static let pid = Mutex<pid_t>(0)

    private static func spawn(port: Int) throws {
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw StartFailure(description: "no redis-server executable")
        }
        let arguments = [
            executable, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for argument in argv { free(argument) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard status == 0 else { throw StartFailure(description: "posix_spawn failed: \(status)") }
        pid.withLock { $0 = child }
        atexit {
            let child = RedisTestServer.pid.withLock { $0 }
            if child > 0 {
                kill(child, SIGKILL)
                var status: Int32 = 0
                waitpid(child, &status, 0)
            }
        }
    }

    private static func waitForPing(port: Int) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let connection = try? RedisConnection.open(RedisConfiguration(host: "127.0.0.1", port: port)),
                (try? connection.command([Array("PING".utf8)]))?.text == "PONG"
            {
                return
            }
            usleep(20_000)  // no event to wait on: the server is another process
        }
        throw StartFailure(description: "redis-server on port \(port) did not answer PING within 10 s")
    }

    private static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StartFailure(description: "socket() failed") }
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
        guard bound == 0 else { throw StartFailure(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
