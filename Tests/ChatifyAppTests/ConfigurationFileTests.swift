import Foundation
import Testing

@testable import ChatifyApp

@Suite("Configuration: documentation, .env files, check-config output")
struct ConfigurationFileTests {
    /// The first column of the table under "## Every variable" in docs/configuration.md.
    static func documentedVariables() throws -> [String] {
        let documentation = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: documentation, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| `") else { return nil }
            let firstCell = line.dropFirst(3).prefix { $0 != "`" }
            return String(firstCell)
        }
    }

    @Test("docs/configuration.md lists exactly the variables the configuration reads")
    func documentationMatchesCode() throws {
        let documented = try Self.documentedVariables()
        #expect(documented.count == Set(documented).count, "a variable is listed twice")
        let read = Set(ChatifyConfiguration.variableNames)
        #expect(read.subtracting(documented).sorted() == [], "read but not documented")
        #expect(Set(documented).subtracting(read).sorted() == [], "documented but not read")
    }

    @Test("every variable read is in variableNames (an assertion guards the reads)")
    func everyReadVariableIsListed() throws {
        // Reading the empty environment walks every read; a name missing from the list
        // would stop the debug build here.
        _ = try ChatifyConfiguration(environment: [:])
        #expect(ChatifyConfiguration().effectiveValues.map(\.name) == ChatifyConfiguration.variableNames)
    }

    @Test("a line without '=' or with a bad name is an error with its line number")
    func malformedLines() {
        let cases: [(text: String, line: Int)] = [
            ("A=1\n\n# comment\nbroken line\n", 4),
            ("A=1\r\nBAD NAME=2\r\n", 2),
            ("=value\n", 1),
            ("1ST=x\n", 1),
        ]
        for (text, line) in cases {
            #expect {
                try DotEnv.parse(text)
            } throws: { error in
                (error as? DotEnv.Problem)?.line == line
            }
        }
    }

    @Test("a bare name sets nothing and is no error, as python-dotenv reads it")
    func bareNames() throws {
        #expect(try DotEnv.parse("FLASK_DEBUG\nPORT=5001\n") == ["PORT": "5001"])
    }

    @Test("an .env-file that is missing is an error naming it only when required")
    func missingFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chatify-absent-\(UUID().uuidString).env"
        ).path
        let configuration = try ChatifyConfiguration.load(environment: [:], dotEnvPath: path)
        #expect(configuration == ChatifyConfiguration())
        #expect {
            try ChatifyConfiguration.load(environment: [:], dotEnvPath: path, dotEnvRequired: true)
        } throws: { error in
            (error as? DotEnv.Problem)?.path == path && String(describing: error).contains(path)
        }
    }

    @Test("passwords in URIs are masked, the rest kept")
    func uriMasking() {
        let cases = [
            ("redis://:secret@localhost:6379/0", "redis://:********@localhost:6379/0"),
            (
                "mongodb://user:p%40ss@a:1,b:2/db?authSource=admin",
                "mongodb://user:********@a:1,b:2/db?authSource=admin"
            ),
            (
                "mongodb://a/?tlsCertificateKeyFilePassword=k&x=1",
                "mongodb://a/?tlsCertificateKeyFilePassword=********&x=1"
            ),
            ("mongodb://localhost:27017/", "mongodb://localhost:27017/"),
            ("redis://user@host", "redis://user@host"),
        ]
        for (uri, expected) in cases {
            #expect(ChatifyConfiguration.maskingPassword(inURI: uri) == expected)
        }
    }
}
