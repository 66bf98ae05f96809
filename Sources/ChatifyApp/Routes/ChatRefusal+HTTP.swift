import ChatDomain
import HTTPTypes
import Hummingbird
import OrderedJSON

/// How a refusal of the chat rules is answered over HTTP: the status of the page
/// that shows it, and `/update_profile`'s JSON.
extension ChatRefusal {
    /// The status of the page (or JSON) showing the refusal. The Flask backend showed
    /// registration and profile refusals with 200, and clients rely on that.
    var httpStatus: HTTPResponse.Status {
        switch self {
        case .missingRegistrationFields, .accountTaken, .emptyProfileValue, .profileValueTaken, .unknownProfileField:
            return .ok
        case .notMember, .notOwner, .banned:
            return .forbidden
        case .noSuchRoom, .notYourself, .muted, .invalidCursor, .emptyRoomName, .roomNameTooLong, .emptyMessage,
            .messageTooLong:
            return .badRequest
        }
    }

    /// `/update_profile`'s answer to a refused change.
    var profileAnswer: Response {
        var response = Self.profileAnswer(success: false, message: description)
        response.status = httpStatus
        return response
    }

    /// `/update_profile`'s answer to a change that was made.
    static var profileUpdated: Response { profileAnswer(success: true, message: "Profile updated successfully") }

    /// `{"message": …, "success": …}`, the keys sorted as Flask's `jsonify` sorts them.
    private static func profileAnswer(success: Bool, message: String) -> Response {
        let body: JSONValue = ["message": .string(message), "success": .bool(success)]
        return Pages.json(body.jsonString)
    }
}
