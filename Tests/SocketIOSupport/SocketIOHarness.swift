public import EngineIO
public import EngineTestSupport
public import HTTPTypes
import NIOCore
import OrderedJSON
public import SocketIO
import Testing

/// A Socket.IO client speaking raw packets over a fake WebSocket, so tests see exactly
/// what the server sends.
public final class RawClient: Sendable {
    public let socket = FakeWebSocket()
    public let serving: Task<Void, Never>
    public let engineSessionID: String

    /// Opens an Engine.IO session over WebSocket and reads the open packet.
    public init(_ server: SocketIOServer, query: [String: String] = [:], headers: HTTPFieldsLiteral = [:]) async throws
    {
        var fullQuery = ["EIO": "4", "transport": "websocket"]
        fullQuery.merge(query) { _, new in new }
        let request = EngineRequest(
            method: .get, path: "/socket.io/", query: fullQuery, headers: headers.fields, host: "127.0.0.1:5000")
        let admission = server.engine.admitWebSocket(request)
        let engine = server.engine
        let socket = self.socket
        serving = Task { await engine.serveWebSocket(admission, inbound: socket.inbound, writer: socket) }
        let open = try #require(await socket.nextText())
        engineSessionID = String(open.dropFirst(#"0{"sid":""#.count).prefix(20))
    }

    /// Sends a Socket.IO packet (its text, without the Engine.IO `4`).
    public func send(_ packet: String) { socket.send("4" + packet) }
    public func send(binary: [UInt8]) { socket.send(binary: binary) }

    /// The next Socket.IO packet text from the server (pings answered and skipped).
    public func next() async -> String? {
        while let frame = await socket.written.next() {
            switch frame {
            case .text("2"):
                socket.send("3")
            case .text(let text) where text.hasPrefix("4"):
                return String(text.dropFirst())
            case .text(let other):
                return "engine:" + other
            case .binary(let bytes):
                return "binary:" + bytes.readableBytesView.map(String.init).joined(separator: ",")
            }
        }
        return nil
    }

    /// Connects to a namespace and returns the socket id from the server's CONNECT.
    public func connect(_ namespace: String = "/", auth: String = "") async throws -> String {
        let prefix = namespace == "/" ? "" : namespace + ","
        send("0" + prefix + auth)
        let reply = try #require(await next())
        let expected = "0" + prefix + #"{"sid":""#
        try #require(reply.hasPrefix(expected), "got \(reply)")
        return String(reply.dropFirst(expected.count).prefix(20))
    }

    /// Waits for the server to close the WebSocket.
    public func waitForClose() async -> Bool {
        await socket.closedLog.next() == true
    }

    public func disconnect() async {
        socket.disconnect()
        await serving.value
    }
}

/// Header fields written as a literal, without importing HTTPTypes in every test.
public struct HTTPFieldsLiteral: ExpressibleByDictionaryLiteral {
    public let fields: HTTPFields
    public init(dictionaryLiteral elements: (String, String)...) {
        var fields = HTTPFields()
        for (name, value) in elements {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        self.fields = fields
    }
}

public func makeServer(
    configure: (inout SocketIOConfiguration) -> Void = { _ in }, engine: (inout EngineConfiguration) -> Void = { _ in }
)
    -> SocketIOServer
{
    var engineConfiguration = EngineConfiguration()
    engine(&engineConfiguration)
    var configuration = SocketIOConfiguration()
    configure(&configuration)
    return SocketIOServer(engine: EngineServer(configuration: engineConfiguration), configuration: configuration)
}
