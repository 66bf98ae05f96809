import Foundation
import Testing

@testable import ChatifyApp

@Suite("Resource lookup: templates, static files and the client, from the executable's place")
struct ResourceLookupTests {
    /// A fresh folder; `make` creates the given folders and files (names ending `.js`) in it.
    final class Sandbox {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chatify-lookup-\(UUID().uuidString)")

        func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

        func make(_ entries: String...) throws {
            for entry in entries {
                let url = root.appendingPathComponent(entry)
                if entry.hasSuffix(".js") {
                    try FileManager.default.createDirectory(
                        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data("client".utf8).write(to: url)
                } else {
                    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                }
            }
        }

        deinit { try? FileManager.default.removeItem(at: root) }
    }

    @Test("an installed prefix: share/chatify beside bin/, whatever the working directory")
    func installedPrefix() throws {
        let sandbox = Sandbox()
        try sandbox.make(
            "prefix/bin", "prefix/share/chatify/Templates", "prefix/share/chatify/Static",
            "prefix/share/chatify/socket.io.min.js", "elsewhere/Templates", "elsewhere/Static")
        let found = try ChatifyResources.locate(
            ChatifyConfiguration(), executable: sandbox.path("prefix/bin/chatify"),
            workingDirectory: sandbox.path("elsewhere")
        )
        #expect(found.templates == sandbox.path("prefix/share/chatify/Templates"))
        #expect(found.socketIOClient == sandbox.path("prefix/share/chatify/socket.io.min.js"))
    }

    @Test("a build in a checkout: the bundle beside the binary, the client from the checkout's Vendor/")
    func buildFolder() throws {
        let sandbox = Sandbox()
        let bundle = "repo/.build/x86_64/debug/\(ChatifyResources.bundleName)"
        try sandbox.make("\(bundle)/Templates", "\(bundle)/Static", "repo/Vendor/socket.io.min.js", "cwd")
        let found = try ChatifyResources.locate(
            ChatifyConfiguration(), executable: sandbox.path("repo/.build/x86_64/debug/chatify"),
            workingDirectory: sandbox.path("cwd")
        )
        #expect(found.staticFiles == sandbox.path("\(bundle)/Static"))
        #expect(found.socketIOClient == sandbox.path("repo/Vendor/socket.io.min.js"))
    }

    @Test("the variables win, relative to the working directory; a miss names the variable and every place tried")
    func variables() throws {
        let sandbox = Sandbox()
        try sandbox.make("cwd/mine/Templates", "cwd/mine/Static", "cwd/client.js", "bin")
        var configuration = ChatifyConfiguration()
        configuration.resourcesDirectory = "mine"
        configuration.socketIOClientScript = "client.js"
        let found = try ChatifyResources.locate(
            configuration, executable: sandbox.path("bin/chatify"), workingDirectory: sandbox.path("cwd"))
        #expect(
            found.templates == sandbox.path("cwd/mine/Templates")
                && found.socketIOClient == sandbox.path("cwd/client.js"))

        #expect {
            try ChatifyResources.locate(
                ChatifyConfiguration(), executable: sandbox.path("bin/chatify"), workingDirectory: sandbox.path("bin"))
        } throws: { error in
            guard let missing = error as? ChatifyResources.Missing else { return false }
            return missing.variable == "CHATIFY_RESOURCES"
                && missing.looked == [
                    sandbox.path("bin/\(ChatifyResources.bundleName)"), sandbox.path("share/chatify"),
                    sandbox.path("bin"),
                ]
        }
    }
}
