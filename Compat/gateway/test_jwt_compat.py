"""Tokens interchangeable with Flask-JWT-Extended 4.5.3, in both directions.

(a) A token made by Flask-JWT-Extended's ``create_access_token`` for a user of our
    server opens the dashboard and a Socket.IO connection.
(b) The cookie chatify sets at register/login is decoded by Flask-JWT-Extended's
    ``decode_token`` (claims fresh/iat/jti/type/sub/nbf/exp as the old backend wrote
    them) and accepted by a Flask route protected with ``@jwt_required()`` reading the
    ``access_token_cookie`` cookie.
(c) A short secret (``abc``; the old default was not 32 bytes long either) works on
    both sides.
"""

import pytest
from flask import Flask, jsonify
from flask_jwt_extended import JWTManager, create_access_token, decode_token, get_jwt, get_jwt_identity, jwt_required

import gateway_support as gs


def flask_app(secret):
    """A Flask app configured as the old backend was (cookies, no CSRF check)."""
    app = Flask("fje-compat")
    app.config.update(
        JWT_SECRET_KEY=secret,
        JWT_TOKEN_LOCATION=["cookies"],
        JWT_COOKIE_CSRF_PROTECT=False,
        JWT_ACCESS_COOKIE_NAME=gs.COOKIE_NAME,
        JWT_ACCESS_COOKIE_PATH="/",
    )
    JWTManager(app)

    @app.get("/protected")
    @jwt_required()
    def protected():
        return jsonify(identity=get_jwt_identity(), type=get_jwt()["type"])

    return app


def fje_token(secret, identity):
    app = flask_app(secret)
    with app.app_context():
        return create_access_token(identity=identity)


def fje_decode(secret, token):
    app = flask_app(secret)
    with app.app_context():
        return decode_token(token)


def fje_protected(secret, token):
    app = flask_app(secret)
    client = app.test_client()
    client.set_cookie(gs.COOKIE_NAME, token)
    response = client.get("/protected")
    return response.status_code, response.get_json()


def dashboard_shows(base, token, user):
    response = gs.http(base, "GET", "/dashboard", token=token)
    assert response.status_code == 200, f"/dashboard: {response.status_code} {response.headers.get('Location')!r}"
    page = gs.summarise(response.text)
    assert page.title == "Dashboard - Chatify"
    assert user.username in page.text and user.email in page.text


# --------------------------------------------------------------------------- (a)


def test_flask_jwt_extended_token_opens_the_dashboard(server):
    user = gs.register(server.url, gs.unique("fje"))
    token = fje_token(gs.TEST_JWT_SECRET, user.id)
    assert token != user.token
    dashboard_shows(server.url, token, user)
    assert gs.http(server.url, "GET", "/", token=token).headers.get("Location") == "/dashboard"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_flask_jwt_extended_token_opens_a_socket(transport, server, peers):
    owner = gs.register(server.url, gs.unique("fjeowner"))
    key = gs.create_room(server.url, owner, "FJE room")
    token = fje_token(gs.TEST_JWT_SECRET, owner.id)
    peer = peers("A", server.url, transport, gs.cookie_header(token))
    assert peer.client.connected
    assert peer.call("join", {"room": key}) is None
    assert peer.wait_events(1)[0] == [
        "message",
        {"username": "System", "message": f"{owner.username} has joined the room", "timestamp": peer.events[0][1]["timestamp"]},
    ]
    assert list(peer.events[0][1]) == ["username", "message", "timestamp"]


# --------------------------------------------------------------------------- (b)


def check_claims(claims, user_id):
    assert claims["sub"] == user_id
    assert claims["type"] == "access"
    assert claims["fresh"] is False
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    # Flask-JWT-Extended's claims, and the sign-in id Chatify adds (an additional claim to it).
    assert sorted(claims) == ["exp", "fresh", "iat", "jti", "nbf", "sid", "sub", "type"], sorted(claims)
    assert isinstance(claims["sid"], str) and claims["sid"]


def test_chatify_cookies_decode_with_flask_jwt_extended(server):
    user = gs.register(server.url, gs.unique("cookie"))
    login_token = gs.login(server.url, user.username, user.password)
    for token in (user.token, login_token):
        check_claims(fje_decode(gs.TEST_JWT_SECRET, token), user.id)


def test_chatify_cookie_passes_jwt_required(server):
    user = gs.register(server.url, gs.unique("required"))
    status, body = fje_protected(gs.TEST_JWT_SECRET, user.token)
    assert status == 200, body
    assert body == {"identity": user.id, "type": "access"}
    # And a token signed with another secret does not (the check is real).
    status, _ = fje_protected("another-secret-key", user.token)
    assert status == 422


# --------------------------------------------------------------------------- (c)


def test_short_secret(start_server):
    server = start_server(JWT_SECRET_KEY="abc")
    user = gs.register(server.url, gs.unique("short"))
    token = gs.login(server.url, user.username, user.password)
    dashboard_shows(server.url, token, user)
    check_claims(fje_decode("abc", token), user.id)
    assert gs.decode_verified(token, secret="abc")["sub"] == user.id
    # Flask-JWT-Extended's token with the short secret is accepted too...
    dashboard_shows(server.url, fje_token("abc", user.id), user)
    # ...and one signed with the usual test secret is not.
    response = gs.http(server.url, "GET", "/dashboard", token=fje_token(gs.TEST_JWT_SECRET, user.id))
    assert response.status_code == 302 and response.headers.get("Location") == "/login"
