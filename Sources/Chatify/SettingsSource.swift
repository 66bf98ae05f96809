import ArgumentParser
import ChatifyApp
import Foundation
import SocketIORedisAdapter

/// Where the settings come from, shared by serving and `check-config`.
struct SettingsSource: ParsableArguments {
    @Option(
        name: .customLong("env-file"),
        help: ArgumentHelp(
            "Read this file instead of .env in the working directory; it must exist.",
            valueName: "path"
        )
    )
    var envFile: String?

    /// The configuration, with its TLS files, Redis URL and resource files checked, so
    /// that a bad value or a missing file stops the start (exit 2) before the store is
    /// contacted.
    func validatedConfiguration() throws -> (ChatifyConfiguration, RedisConfiguration?, ChatifyResources) {
        do {
            let configuration = try ChatifyConfiguration.load(
                dotEnvPath: envFile ?? ".env", dotEnvRequired: envFile != nil)
            if let tls = configuration.transport.tls {
                _ = try tls.serverConfiguration()
            }
            var redis = try configuration.redisURL.map { try RedisConfiguration(url: $0) }
            // A broadcast carries one client payload, plus its envelope.
            redis?.maximumValueBytes = max(RedisConfiguration.defaultMaximumValueBytes, 4 * configuration.maxPayload)
            // Both values were checked with the configuration; the fallbacks are never taken.
            redis?.adapter = RedisAdapterMode(rawValue: configuration.redisAdapter) ?? .pubsub
            redis?.subscriptionMode = ClusterSubscriptionMode(rawValue: configuration.redisSubscriptionMode) ?? .dynamic
            redis?.cluster = configuration.redisCluster
            redis?.stream.name = configuration.redisStreamName
            redis?.stream.maximumLength = configuration.redisStreamMaxLength
            redis?.stream.count = configuration.redisStreamCount
            redis?.stream.shardedPubSub = configuration.redisStreamShardedPubSub
            if redis?.tls != nil {
                redis?.tls = RedisTLS(
                    caFile: configuration.redisTLSCAFile, certificateFile: configuration.redisTLSCertificateFile,
                    keyFile: configuration.redisTLSKeyFile)
                try redis?.validateTLSFiles()
            }
            let resources = try ChatifyResources.locate(configuration)
            return (configuration, redis, resources)
        } catch {
            FileHandle.standardError.write(Data("chatify: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// `chatify check-config`: the effective settings, secrets masked, and what is unsafe.
struct CheckConfiguration: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Print the effective configuration (secrets masked) and its warnings, then exit.",
        discussion: "Exits 0 when the server would start with it, 2 with the error otherwise."
    )

    @OptionGroup var settings: SettingsSource

    func run() throws {
        let (configuration, _, resources) = try settings.validatedConfiguration()
        var lines = configuration.effectiveValues.map { "\($0.name)=\($0.value)" }
        lines.append("templates: \(resources.templates)")
        lines.append("static files: \(resources.staticFiles)")
        lines.append("Socket.IO client: \(resources.socketIOClient)")
        lines += configuration.warnings.map { "warning: \($0)" }
        print(lines.joined(separator: "\n"))
    }
}
