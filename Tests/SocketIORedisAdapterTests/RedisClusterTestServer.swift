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

    /// Runs redis-cli to its end without blocking a thread of the concurrency pool (it
    /// waits seconds for the nodes to agree): the other tests share that pool.
    private static func runRedisCLI(_ arguments: [String]) async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cli-\(getpid()).log")
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
            throw RedisTestServer.StartFailure(description: "cannot create \(output.path)")
        }
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: -1)
            }
        }
        guard status == 0 else {
            let printed = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            throw RedisTestServer.StartFailure(
                description: "redis-cli \(arguments.joined(separator: " ")) failed (\(status)): \(printed)")
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
