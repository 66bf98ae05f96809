import EngineTestSupport
import Foundation

@testable import SocketIORedisAdapter

/// A Redis Cluster of three primaries on loopback, made of Debian's `redis-server` and
/// joined with `redis-cli --cluster create`, started once for this test process.
actor RedisClusterTestServer {
    static let shared = RedisClusterTestServer()

    private var starting: Task<[Int], any Error>?

    /// The client ports of the three primaries, once every slot is served.
    func ports() async throws -> [Int] {
        if let starting { return try await starting.value }
        let task = Task<[Int], any Error> { try await Self.start() }
        starting = task
        return try await task.value
    }

    /// Where the nodes keep their cluster configuration; removed when the process exits.
    private static var directory: URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("chatify-redis-cluster-\(getpid())")
    }

    private static func start() async throws -> [Int] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: RedisClusterTestServer.directory) }
        var ports: [Int] = []
        for _ in 0..<3 {
            let port = try RedisServerProcess.freePort()
            // The cluster bus would be port + 10,000 otherwise, which may not exist or be taken.
            let busPort = try RedisServerProcess.freePort()
            _ = try await RedisServerProcess.start(
                port: port,
                extraArguments: [
                    "--cluster-enabled", "yes", "--cluster-port", "\(busPort)",
                    "--cluster-config-file", directory.appendingPathComponent("nodes-\(port).conf").path,
                    "--cluster-node-timeout", "5000", "--dir", directory.path,
                ],
                readiness: RedisConfiguration(host: "127.0.0.1", port: port))
            ports.append(port)
        }
        try await runRedisCLI(["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + ["--cluster-yes"])
        for port in ports { try await waitUntilServing(port: port) }
        return ports
    }

    /// Runs redis-cli to its end (it waits seconds for the nodes to agree), polling for
    /// its exit instead of blocking a thread of the concurrency pool the other tests share.
    private static func runRedisCLI(_ arguments: [String]) async throws {
        let output = directory.appendingPathComponent("redis-cli.log").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        var argv = (["/usr/bin/redis-cli"] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for argument in argv { free(argument) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, "/usr/bin/redis-cli", &actions, nil, argv, environ)
        guard spawned == 0 else { throw RedisTestServer.StartFailure(description: "redis-cli: posix_spawn \(spawned)") }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        var status: Int32 = 0
        while waitpid(child, &status, WNOHANG) == 0 {
            guard clock.now < deadline else {
                kill(child, SIGKILL)
                waitpid(child, &status, 0)
                throw RedisTestServer.StartFailure(description: "redis-cli \(arguments) did not finish within 60 s")
            }
            try await Task.sleep(for: .milliseconds(20))  // no event to wait on: the child is another process
        }
        // Exited with 0: the low 7 bits (signal) and the exit code byte are all zero.
        guard status == 0 else {
            let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw RedisTestServer.StartFailure(
                description: "redis-cli \(arguments.joined(separator: " ")) failed (status \(status)): \(printed)")
        }
    }

    /// Waits until the node says the cluster is up and its view of the slots covers them all.
    private static func waitUntilServing(port: Int) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        let endpoint = RedisEndpoint(configuration: RedisConfiguration(host: "127.0.0.1", port: port))
        var last = "no answer"
        while clock.now < deadline {
            if let connection = try? await RedisClientConnection.connect(to: endpoint) {
                defer { connection.close() }
                let info = try? await connection.command(["CLUSTER", "INFO"]).text
                let shards = try? await connection.command(["CLUSTER", "SHARDS"])
                let slots = shards.flatMap { try? RedisClusterSlots(shardsReply: $0, tls: false) }
                if let info, info.contains("cluster_state:ok"), let slots, slots.coversEverySlot,
                    slots.primaries.count == 3
                {
                    return
                }
                last = info ?? "no CLUSTER INFO"
            }
            try await Task.sleep(for: .milliseconds(50))  // no event to wait on: the nodes are other processes
        }
        throw RedisTestServer.StartFailure(description: "the cluster on port \(port) did not come up in 30 s: \(last)")
    }
}
