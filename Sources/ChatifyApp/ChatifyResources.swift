public import Foundation

/// Where the page templates, the page assets and the stock Socket.IO browser client are
/// read from. Found from the executable's own location rather than the working
/// directory, so an installed binary serves a working chat page whatever folder it is
/// started from. The lookup order is documented in docs/configuration.md.
public struct ChatifyResources: Sendable, Equatable {
    /// The folder of `*.mustache` page templates.
    public var templates: String
    /// The folder served at `/static/`.
    public var staticFiles: String
    /// The stock `socket.io.min.js` served at `/socket.io/socket.io.min.js`.
    public var socketIOClient: String

    /// The name SwiftPM gives the ChatifyApp resource bundle it builds next to the binary.
    public static let bundleName = "Chatify_ChatifyApp.resources"
    public static let clientFileName = "socket.io.min.js"

    /// Something the server cannot run without, with every place that was tried.
    public struct Missing: Error, Equatable, CustomStringConvertible {
        public var what: String
        public var variable: String
        public var looked: [String]
        public var description: String {
            "\(what) not found (looked in: \(looked.joined(separator: ", "))); set \(variable)"
        }
    }

    /// A folder holding `Templates/` and `Static/`: `CHATIFY_RESOURCES` if set (and
    /// only it); else the SwiftPM bundle next to the executable, `../share/chatify`
    /// from the executable's folder, and the working directory, in that order. The
    /// client: `SOCKETIO_CLIENT_JS` if set (and only it); else `socket.io.min.js` in
    /// that resource folder, `Vendor/socket.io.min.js` in the executable's folder or
    /// the nearest folder above it that has one, and in the working directory.
    public static func locate(
        _ configuration: ChatifyConfiguration,
        executable: String? = currentExecutable(),
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(Missing) -> ChatifyResources {
        let executableFolder = executable.map {
            URL(fileURLWithPath: $0).deletingLastPathComponent().standardizedFileURL.path
        }
        let root = try resourceRoot(
            configuration, executableFolder: executableFolder, workingDirectory: workingDirectory)
        let client = try clientFile(
            configuration, resourceRoot: root, executableFolder: executableFolder, workingDirectory: workingDirectory
        )
        return ChatifyResources(
            templates: join(root, "Templates"), staticFiles: join(root, "Static"), socketIOClient: client
        )
    }

    static func resourceRoot(
        _ configuration: ChatifyConfiguration, executableFolder: String?, workingDirectory: String
    ) throws(Missing) -> String {
        var candidates: [String] = []
        if let configured = configuration.resourcesDirectory {
            candidates = [absolute(configured, from: workingDirectory)]
        } else {
            if let executableFolder {
                candidates.append(join(executableFolder, bundleName))
                candidates.append(
                    join(URL(fileURLWithPath: executableFolder).deletingLastPathComponent().path, "share/chatify"))
            }
            candidates.append(workingDirectory)
        }
        guard
            let found = candidates.first(where: {
                isDirectory(join($0, "Templates")) && isDirectory(join($0, "Static"))
            })
        else {
            throw Missing(
                what: "page templates and static files (a folder holding Templates/ and Static/)",
                variable: "CHATIFY_RESOURCES", looked: candidates
            )
        }
        return found
    }

    static func clientFile(
        _ configuration: ChatifyConfiguration, resourceRoot: String, executableFolder: String?, workingDirectory: String
    ) throws(Missing) -> String {
        var candidates: [String] = []
        if let configured = configuration.socketIOClientScript {
            candidates = [absolute(configured, from: workingDirectory)]
        } else {
            candidates.append(join(resourceRoot, clientFileName))
            if let executableFolder {
                var folder = URL(fileURLWithPath: executableFolder)
                // Up to the file system root: a binary built in a checkout finds the
                // checkout's Vendor/, wherever the build folder is nested.
                while true {
                    candidates.append(join(folder.path, "Vendor/\(clientFileName)"))
                    let parent = folder.deletingLastPathComponent()
                    if parent.path == folder.path { break }
                    folder = parent
                }
            }
            candidates.append(join(workingDirectory, "Vendor/\(clientFileName)"))
        }
        guard let found = candidates.first(where: isReadableFile) else {
            throw Missing(
                what: "the Socket.IO browser client \(clientFileName)", variable: "SOCKETIO_CLIENT_JS",
                looked: candidates)
        }
        return found
    }

    /// The running binary, symbolic links resolved, so that a link in `/usr/local/bin`
    /// finds the files installed beside its target.
    public static func currentExecutable() -> String? {
        guard let url = Bundle.main.executableURL else { return nil }
        return url.resolvingSymlinksInPath().path
    }

    private static func join(_ folder: String, _ name: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(name).path
    }

    private static func absolute(_ path: String, from workingDirectory: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: workingDirectory, isDirectory: true))
            .standardizedFileURL.path
    }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    private static func isReadableFile(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
            && FileManager.default.isReadableFile(atPath: path)
    }
}
