import ChatDomain
import ChatMemoryStore
import Foundation
import Logging
import SocketIO
import SocketIOTestSupport
import Testing

@testable import ChatifyApp

@Suite("Sign-in races")
struct SignInRaceTests {
    @Test("a logout that lands while a socket of its sign-in connects closes that socket too")
    func logoutDuringConnect() async throws {
        let chat = ChatEventsHarness()
        let user = try await chat.user("leaver")
        let pause = JoinPause()
        let io = chat.server(afterSignInCheck: { await pause.hold() })
        let (token, claims) = chat.signer.issue(subject: user.id)
        let client = try await RawClient(io, headers: ["Cookie": "access_token_cookie=\(token)"])

        client.send("0")
        await pause.waitUntilHeld()
        // What the logout route does: end the sign-in, then close its sockets.
        try await chat.auth.endSession(claims)
        await io.sockets.to(ChatifyRoom.signIn(id: claims.sessionID).name).disconnectSockets(close: true)
        pause.release()

        // An event with an ack: a socket left open answers it.
        client.send(#"21["leave",{"room":"none"}]"#)
        var seen: [String] = []
        while let packet = await client.next() {
            seen.append(packet)
            if packet.hasPrefix("31") || packet == "1" { break }
        }
        #expect(seen.last == "1", "the socket of the ended sign-in stayed connected: \(seen)")
        // The whole connection ends, as a logout's does; by then the socket has left.
        #expect(await client.waitForClose())
        #expect(await io.sockets.fetchSockets().isEmpty)
    }
}
