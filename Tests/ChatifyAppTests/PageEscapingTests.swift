import ChatDomain
import Foundation
import Mustache
import Testing

@testable import ChatifyApp

@Suite("Page escaping")
struct PageEscapingTests {
    /// The templates in the source tree, the ones the build copies next to the binary.
    static let templatesFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/ChatifyApp/Resources/Templates").path
    /// Text whose `<`, `>` or `"` shares a grapheme cluster with the character before or
    /// after it, so that a comparison of Characters does not see it.
    static let roomName = "\u{06DD}<meta http-equiv=refresh content=\"0;url=/x\">"
    static let quotedRoomName = "den\"\u{0301} data-injected=\"1"
    static let username = "eve<i>\u{0301}"
    static let email = "mail>\u{0301}@example.com"

    /// User text that must not appear raw on a page, and how it must appear instead.
    static let hostile: [(raw: String, escaped: String)] = [
        (roomName, "\u{06DD}&lt;meta http-equiv=refresh content=&quot;0;url=/x&quot;&gt;"),
        (quotedRoomName, "den&quot;\u{0301} data-injected=&quot;1"),
        (username, "eve&lt;i&gt;\u{0301}"),
        (email, "mail&gt;\u{0301}@example.com"),
    ]

    /// Every template a page is rendered from, with a model full of `name` and `user`.
    static func pages(roomName name: String, username user: String, email: String) -> [(String, Any)] {
        let room = Room(
            id: "r1", name: name, key: "k_1", createdBy: "u1", createdAt: Date(timeIntervalSince1970: 0),
            members: ["u1", "u2"]
        )
        let member = RoomSettingsPage.Member(
            userID: "u2", username: user, role: "member", muted: false, moderatable: true)
        return [
            ("dashboard", DashboardPage(username: user, email: email)),
            (
                "my_rooms",
                RoomsPage(rooms: [room], paging: Paging(page: 1, hasMore: false, path: "/my_rooms"), error: name)
            ),
            (
                "rooms",
                JoinedRoomsPage(
                    rooms: [.init(name: name, key: room.key, memberCount: 2, role: "owner")],
                    paging: Paging(page: 2, hasMore: true, path: "/rooms")
                )
            ),
            (
                "chat",
                ChatPage(
                    roomName: name, roomKey: room.key, userID: "u1", isOwner: "true", csrfToken: "t",
                    sessionLifetime: 900)
            ),
            (
                "room_settings",
                RoomSettingsPage(
                    roomName: name, roomKey: room.key, isOwner: true, members: [member], banned: [member], error: user,
                    csrfToken: "t"
                )
            ),
            ("confirm", ConfirmPage.delete(room: room, csrfToken: "t")),
            ("join_room", FormPage(error: name, csrfToken: "t")),
            ("login", FormPage(error: user)),
            ("register", FormPage(error: user)),
        ]
    }

    /// Whether the UTF-8 bytes of `html` hold those of `text`. `String.contains` compares
    /// Characters and would miss a `>` that a combining mark joins.
    static func bytes(of html: String, contain text: String) -> Bool {
        let haystack = Array(html.utf8)
        let needle = Array(text.utf8)
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }

    @Test("user text with combining marks is escaped on every page", arguments: [roomName, quotedRoomName])
    func combiningMarksAreEscaped(_ name: String) async throws {
        let renderer = try await PageRenderer.load(templatesFolder: Self.templatesFolder)
        for (template, model) in Self.pages(roomName: name, username: Self.username, email: Self.email) {
            let html = try #require(renderer.library.render(model, withTemplate: template), "\(template)")
            for (raw, _) in Self.hostile {
                #expect(!Self.bytes(of: html, contain: raw), "\(template) shows \(raw.debugDescription) raw")
            }
            for tag in ["<meta http-equiv", "<i>", ">\u{0301}", "\"\u{0301}", "data-injected=\"1\""] {
                #expect(!Self.bytes(of: html, contain: tag), "\(template) shows \(tag.debugDescription)")
            }
        }
    }

    @Test("each hostile text is shown, escaped, on the pages that show user text")
    func hostileTextIsShown() async throws {
        let renderer = try await PageRenderer.load(templatesFolder: Self.templatesFolder)
        let rendered = Dictionary(
            uniqueKeysWithValues: Self.pages(roomName: Self.roomName, username: Self.username, email: Self.email).map {
                ($0.0, renderer.library.render($0.1, withTemplate: $0.0) ?? "")
            }
        )
        let expected: [(String, String)] = [
            ("dashboard", Self.hostile[2].escaped), ("dashboard", Self.hostile[3].escaped),
            ("my_rooms", Self.hostile[0].escaped), ("rooms", Self.hostile[0].escaped),
            ("chat", Self.hostile[0].escaped),
            ("room_settings", Self.hostile[0].escaped), ("room_settings", Self.hostile[2].escaped),
            ("confirm", Self.hostile[0].escaped),
        ]
        for (template, escaped) in expected {
            #expect(
                Self.bytes(of: rendered[template] ?? "", contain: escaped),
                "\(template) lacks \(escaped.debugDescription)")
        }
    }

    @Test("ordinary text renders exactly as with the Mustache library's own escaping")
    func ordinaryTextUnchanged() throws {
        let templates = try PageRenderer.templateFiles(in: Self.templatesFolder)
        let ours = try PageRenderer.library(templates: templates)
        var stock = MustacheLibrary()
        for (name, text) in templates { try stock.register(text, named: name) }
        let ordinary = Self.pages(roomName: "Tom & Jerry's \"den\" <3", username: "O'Brien", email: "o@example.com")
        for (template, model) in ordinary {
            let html = try #require(ours.render(model, withTemplate: template))
            #expect(html == stock.render(model, withTemplate: template), "\(template)")
            #expect(!html.contains("&amp;amp;") && !html.contains("&amp;#39;"), "\(template) escapes twice")
        }
        let dashboard = try #require(ours.render(ordinary[0].1, withTemplate: "dashboard"))
        #expect(dashboard.contains("Hello, O&#39;Brien"))
        let rooms = try #require(ours.render(ordinary[2].1, withTemplate: "rooms"))
        #expect(rooms.contains("Tom &amp; Jerry&#39;s &quot;den&quot; &lt;3"))
    }

    @Test("escaping works on UTF-8 bytes: every < > & \" ' is replaced, whatever surrounds it")
    func byteWiseEscaping() {
        #expect(HTMLEscaping.escape("plain text é 😀") == "plain text é 😀")
        #expect(HTMLEscaping.escape("Tom & Jerry, O'Brien") == "Tom &amp; Jerry, O&#39;Brien")
        for (raw, escaped) in Self.hostile { #expect(HTMLEscaping.escape(raw) == escaped) }
        #expect(HTMLEscaping.escape("'\u{0301}&\u{20DD}<\u{200D}") == "&#39;\u{0301}&amp;\u{20DD}&lt;\u{200D}")
    }
}
