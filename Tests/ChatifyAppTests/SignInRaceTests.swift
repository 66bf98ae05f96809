import Foundation
import SocketIO
import SocketIOTestSupport
import Testing

@testable import ChatifyApp

@Suite("Sign-in races")
struct SignInRaceTests {
    /// Connects a socket of a fresh sign-in, runs `meanwhile` between the connect
    /// middleware's sign-in check and the socket's entry into its rooms, then sends an
    /// event with an ack. Returns what the client read up to the ack or a DISCONNECT, the
    /// client and the server.
    func connect(
        meanwhile: @escaping (ChatEventsHarness, AccessClaims, SocketIOServer) async throws -> Void
    ) async throws -> (seen: [String], client: RawClient, io: SocketIOServer) {
        let chat = ChatEventsHarness()
        let user = try await chat.user("leaver")
        let pause = JoinPause()
        let io = chat.server(afterSignInCheck: { await pause.hold() })
        let (token, claims) = chat.signer.issue(subject: user.id)
        let client = try await RawClient(io, headers: ["Cookie": "access_token_cookie=\(token)"])

        client.send("0")
        await pause.waitUntilHeld()
        try await meanwhile(chat, claims, io)
        pause.release()

        // An event with an ack: a socket left open answers it.
        client.send(#"21["leave",{"room":"none"}]"#)
        var seen: [String] = []
        while let packet = await client.next() {
            seen.append(packet)
            if packet.hasPrefix("31") || packet == "1" { break }
        }
        return (seen, client, io)
    }

    @Test("a logout that lands while a socket of its sign-in connects closes that socket too")
    func logoutDuringConnect() async throws {
        let (seen, client, io) = try await connect { chat, claims, io in
            // What the logout route does: end the sign-in, then close its sockets.
            try await chat.auth.endSession(claims)
            await io.sockets.to(ChatifyRoom.signIn(id: claims.sessionID).name).disconnectSockets(close: true)
        }
        #expect(seen.last == "1", "the socket of the ended sign-in stayed connected: \(seen)")
        // The whole connection ends, as a logout's does; by then the socket has left.
        #expect(await client.waitForClose())
        #expect(await io.sockets.fetchSockets().isEmpty)
    }

    @Test("a refresh that lands while a socket connects leaves that socket connected")
    func refreshDuringConnect() async throws {
        let (seen, client, _) = try await connect { chat, claims, _ in
            // What a refresh does to the token it replaces.
            try await chat.auth.revoke(claims)
        }
        #expect(seen.last?.hasPrefix("31") == true, "the socket was closed: \(seen)")
        await client.disconnect()
    }
}
