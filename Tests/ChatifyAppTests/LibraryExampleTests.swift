import Foundation
import Testing

@Suite("docs/library.md")
struct LibraryExampleTests {
    @Test("the page's example is Examples/RelayServer, which the package builds")
    func exampleIsTheBuiltFile() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/library.md"), encoding: .utf8)
        let example = try String(
            contentsOf: root.appendingPathComponent("Examples/RelayServer/RelayServer.swift"), encoding: .utf8
        )
        let block = try #require(page.components(separatedBy: "```swift\n").dropFirst().first)
        let code = try #require(block.components(separatedBy: "```").first)
        #expect(code == example)
    }
}
