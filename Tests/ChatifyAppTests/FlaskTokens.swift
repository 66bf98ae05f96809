/// Tokens written by Flask-JWT-Extended 4.5.3 (Flask 2.3.3, PyJWT 2.8.0) with
/// `JWT_SECRET_KEY=test-jwt-secret`.
enum FlaskTokens {
    /// `create_access_token(identity="user-1")`, iat 1796170486.
    static let user1 =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJmcmVzaCI6ZmFsc2UsImlhdCI6MTc5NjE3MDQ4NiwianRpIjoiNWI4OWJiM2QtMzlkOS00YjIxLTg0YmItZGYxNTQzZGUwODhkIiwidHlwZSI6ImFjY2VzcyIsInN1YiI6InVzZXItMSIsIm5iZiI6MTc5NjE3MDQ4NiwiZXhwIjoxNzk2MTcxMzg2fQ.0p7XLuGsYWRqrzacRd3tHS5ia5_gUtvPeCwdSHdg_D8"
    static let user1IssuedAt: Double = 1_796_170_486
}
