import EngineIO
import EngineTestSupport
import OrderedJSON
import SocketIO
import SocketIOTestSupport
import Testing

/// Socket.IO v2 clients over Engine.IO v3 (`allowEIO3`): protocol 4 of socket.io-protocol.
@Suite("Socket.IO v2 clients (Engine.IO v3)")
struct LegacyClientTests {
    private func legacyServer(_ configure: (inout SocketIOConfiguration) -> Void = { _ in }) -> SocketIOServer {
        makeServer(configure: configure, engine: { $0.allowEIO3 = true })
    }

    @Test("a v2 client is in / without asking: bare CONNECT, its Engine.IO id as socket id, events and acks")
    func implicitMainNamespace() async throws {
        let io = legacyServer()
        io.sockets.onConnection { socket in
            socket.on("echo") { event in event.ack?.send(event.args) }
            socket.emit("welcome", .string(socket.id))
        }
        let client = try await RawClient(io, query: ["EIO": "3"])
        #expect(await client.next() == "0")
        #expect(await client.next() == #"2["welcome","\#(client.engineSessionID)"]"#)
        client.send(#"21["echo","hi"]"#)
        #expect(await client.next() == #"31["hi"]"#)
    }

    @Test("other namespaces: the query is not part of the name, the id is nsp#engine id; unknown ones are refused")
    func customNamespaces() async throws {
        let io = legacyServer()
        io.of("/custom").onConnection { socket in socket.emit("id", .string(socket.id)) }
        let client = try await RawClient(io, query: ["EIO": "3"])
        #expect(await client.next() == "0")
        client.send("0/custom?token=abc,")
        #expect(await client.next() == "0/custom,")
        #expect(await client.next() == #"2/custom,["id","/custom#\#(client.engineSessionID)"]"#)
        client.send("0/random,")
        #expect(await client.next() == #"4/random,"Invalid namespace""#)
    }

    @Test("a middleware refusal is the bare message, or its data when it has some")
    func refusals() async throws {
        for (data, expected) in [
            (nil as JSONValue?, #"4"not authorized""#), (["hint": "log in"], #"4{"hint":"log in"}"#),
        ] {
            let io = legacyServer()
            io.sockets.use { _ in throw ConnectRefusal("not authorized", data: data) }
            let client = try await RawClient(io, query: ["EIO": "3"])
            #expect(await client.next() == expected)
        }
    }

    @Test("with recovery on, a v2 client gets broadcasts without the offset a v4 client gets")
    func noOffsetsForLegacyClients() async throws {
        let io = legacyServer { $0.connectionStateRecovery = ConnectionStateRecovery() }
        io.sockets.onConnection { socket in socket.join("room") }
        let legacy = try await RawClient(io, query: ["EIO": "3"])
        #expect(await legacy.next() == "0")
        let modern = try await RawClient(io)
        _ = try await modern.connect()
        io.sockets.to("room").emit("news", "one")
        #expect(await legacy.next() == #"2["news","one"]"#)
        let stamped = try #require(await modern.next())
        #expect(stamped.hasPrefix(#"2["news","one",""#))
    }
}
