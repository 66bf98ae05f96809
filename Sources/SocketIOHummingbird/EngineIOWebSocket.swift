import EngineIO
import HTTPTypes
import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
import HummingbirdWSCompression
import Logging
import NIOCore
import NIOWebSocket

/// Builds the HTTP/1.1 server that upgrades WebSocket requests on Engine.IO endpoints
/// (and refuses other WebSocket requests); plain requests go to the router.
public struct EngineIOWebSocketUpgrade: Sendable {
    let endpoints: [EngineIOEndpoint]

    public init(_ endpoints: [EngineIOEndpoint]) {
        self.endpoints = endpoints
    }

    /// The server builder for `Application(router:server:)`.
    public func serverBuilder(idleTimeout: Duration? = nil) -> HTTPServerBuilder {
        let largestPayload = endpoints.map(\.engine.configuration.maxPayload).max() ?? 1_000_000
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: HTTP1Channel.Configuration(idleTimeout: idleTimeout.map { TimeAmount($0) }),
            ws: WebSocketServerConfiguration(
                maxFrameSize: largestPayload,
                extensions: extensions(largestPayload: largestPayload),
                // Engine.IO has its own heartbeat; a second one would only cost traffic.
                autoPing: .disabled,
                closeTimeout: .seconds(2)
            )
        )
        return .http1WebSocketUpgrade(configuration: configuration) { head, channel, _ in
            self.shouldUpgrade(head, channel: channel)
        }
    }

    /// `permessage-deflate`, offered back to clients that ask for it, when an endpoint
    /// enables it (the extension is per server, so the smallest threshold counts).
    func extensions(largestPayload: Int) -> [WebSocketExtensionFactory] {
        let thresholds = endpoints.compactMap(\.engine.configuration.perMessageDeflate?.threshold)
        guard let threshold = thresholds.min() else { return [] }
        return [.perMessageDeflate(maxDecompressedFrameSize: largestPayload, minFrameSizeToCompress: threshold)]
    }

    func shouldUpgrade(
        _ head: HTTPRequest,
        channel: any Channel
    ) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let uri = URI(head.path ?? "/")
        guard let endpoint = endpoints.first(where: { $0.matches(uri.path) }) else { return .dontUpgrade }
        let request = EngineRequest(
            method: head.method,
            uri: uri,
            headers: head.headerFields,
            authority: head.authority,
            remoteAddress: channel.remoteAddress,
            isSecure: endpoint.isSecure
        )
        let engine = endpoint.engine
        let admission = engine.admitWebSocket(request)
        if case .refused = admission { return .dontUpgrade }
        return .upgrade([:]) { inbound, outbound, _ in
            let frames = inbound.messages(maxSize: engine.configuration.maxPayload).map { message -> WebSocketData in
                switch message {
                case .text(let text): return .text(text)
                case .binary(let bytes): return .binary(bytes)
                }
            }
            await engine.serveWebSocket(admission, inbound: frames, writer: HummingbirdEngineWriter(outbound: outbound))
        }
    }
}

/// Writes Engine.IO packets as WebSocket frames; text packets go out as they were
/// encoded, without a detour through `String`.
struct HummingbirdEngineWriter: EngineWebSocketWriter {
    let outbound: WebSocketOutboundWriter

    func write(_ packets: [EngineOutgoing]) async throws {
        for packet in packets {
            switch packet.kind {
            case .text:
                try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: packet.bytes)))
            case .binary:
                try await outbound.write(.binary(packet.bytes))
            }
        }
    }

    func close() async {
        try? await outbound.close(.normalClosure, reason: nil)
    }
}
