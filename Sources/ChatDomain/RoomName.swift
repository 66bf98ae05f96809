import Foundation

/// The rules a room's name follows, the same for creating and renaming a room.
public enum RoomName {
    /// Longest name, in characters after trimming. A character is what Swift's
    /// `String.count` counts: an extended grapheme cluster, what a reader sees as one
    /// letter or emoji (the page's `maxlength` counts UTF-16 code units, never fewer).
    public static let maximumLength = 100

    /// The name to store: trimmed of white space and newlines, not empty, at most
    /// ``maximumLength`` characters. Refuses with ``ChatRefusal/emptyRoomName`` or
    /// ``ChatRefusal/roomNameTooLong(limit:)``.
    public static func validated(_ name: String) throws(ChatRefusal) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .emptyRoomName }
        guard trimmed.count <= maximumLength else { throw .roomNameTooLong(limit: maximumLength) }
        return trimmed
    }
}
