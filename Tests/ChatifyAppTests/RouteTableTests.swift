import Hummingbird
import Testing

@testable import ChatifyApp

@Suite("Route table")
struct RouteTableTests {
    @Test("a route registered through a group is in the 405 table with its methods; others are not")
    func tableFollowsRegistrations() {
        let router = Router(context: ChatifyRequestContext.self)
        let table = RouteTable()
        let routes = RegisteringRoutes(router: router, table: table)
        routes.get("/room/:key/settings") { _, _ in "settings" }
        routes.post("/room/:key/settings") { _, _ in "saved" }
        routes.post("/create_room") { _, _ in "created" }
        router.get("/static/:name") { _, _ in "not through the group" }

        #expect(table.allowedMethods(for: "/room/AbC-_9/settings") == [.get, .post])
        #expect(table.allowedMethods(for: "/create_room") == [.post])
        #expect(table.allowedMethods(for: "/room/AbC-_9") == nil)
        #expect(table.allowedMethods(for: "/static/chat.js") == nil)
    }
}
