"""Credentials under attack: parallel password guessing, forged proxy headers, tokens
that outlive a logout or a refresh, sockets opened with the login cookie from another
site's page, and the JWT secret the server starts with.

Every test starts the real server (port 0) with the settings it attacks.
"""

import json
import threading

import pytest
import requests
import socketio
import websocket

import conftest
import gateway_support as gs
import socketio_support as ss

EVIL_ORIGIN = "https://evil.example"


# --------------------------------------------------------------------------- helpers


def ws_url(base):
    return base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def websocket_connect_answer(base, headers, origin=None):
    """The answer to a Socket.IO CONNECT over a WebSocket opened with `headers` (and
    `Origin: origin`, or none at all): `40{...}` or `44{...}`."""
    options = {"origin": origin} if origin else {"suppress_origin": True}
    connection = websocket.create_connection(
        ws_url(base), header=[f"{name}: {value}" for name, value in headers.items()], timeout=ss.TIMEOUT, **options
    )
    try:
        assert connection.recv().startswith("0{")
        connection.send("40")
        return connection.recv()
    finally:
        connection.close()


def polling_connect_answer(base, headers):
    """The answer to a Socket.IO CONNECT over long-polling, every request sent with
    `headers`: `40{...}` or `44{...}`."""
    url = base + "/socket.io/?EIO=4&transport=polling"
    opened = requests.get(url, headers=headers, timeout=gs.HTTP_TIMEOUT)
    assert opened.status_code == 200, opened.text[:200]
    url += "&sid=" + json.loads(opened.text[1:])["sid"]
    posted = requests.post(url, data="40", headers=headers, timeout=gs.HTTP_TIMEOUT)
    assert posted.status_code == 200, posted.text[:200]
    return requests.get(url, headers=headers, timeout=gs.HTTP_TIMEOUT).text


def connect_answers(base, headers, origin):
    """CONNECT answers over both transports, with `Origin: origin` (None: no Origin)."""
    polling_headers = dict(headers)
    if origin:
        polling_headers["Origin"] = origin
    return {
        "websocket": websocket_connect_answer(base, headers, origin),
        "polling": polling_connect_answer(base, polling_headers),
    }


def assert_socket_refused(base, token):
    refused = socketio.Client(reconnection=False)
    errors = []
    refused.on("connect_error", lambda *data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(base, headers={"Cookie": gs.cookie_header(token)}, transports=["polling"], wait_timeout=ss.TIMEOUT)
    assert errors and "Authentication required" in str(errors[0])


def signed_in(base, token):
    page = gs.http(base, "GET", "/dashboard", token=token)
    return page.status_code == 200


def refresh(base, token):
    response = gs.http(base, "POST", "/refresh_session", token=token)
    assert response.status_code == 200, response.text[:300]
    return gs.auth_cookie_of(response)


def connected_socket(peers, name, base, token):
    """A stock client connected with `token`, and an Event set when the server drops it."""
    peer = peers(name, base, "websocket", cookie=gs.cookie_header(token), connect=False)
    gone = threading.Event()
    peer.client.on("disconnect", lambda *args: gone.set())
    peer.connect()
    return peer, gone


# --------------------------------------------------------------------------- login limiter


def test_parallel_wrong_passwords_get_at_most_the_allowed_checks(start_server):
    # Slowing never starts before refusing, so every answer is immediate.
    server = start_server(LOGIN_SLOW_AFTER="1000", LOGIN_REFUSE_AFTER="3")
    gs.register(server.url, "target", password="right-password")
    attempts = 24
    barrier = threading.Barrier(attempts)
    statuses = []
    lock = threading.Lock()

    def guess(index):
        barrier.wait()
        response = gs.http(server.url, "POST", "/login", form={"username": "target", "password": f"guess-{index}"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(ss.TIMEOUT * 3)
    assert len(statuses) == attempts
    checked = [status for status in statuses if status != 429]
    assert len(checked) <= 3, f"{len(checked)} of {attempts} parallel guesses had their password checked: {statuses}"
    assert all(status == 200 for status in checked), statuses
    refused = gs.http(server.url, "POST", "/login", form={"username": "target", "password": "right-password"})
    assert refused.status_code == 429


# --------------------------------------------------------------------------- proxy headers


def register_behind_proxy(base, index, forwarded_for):
    return gs.http(
        base,
        "POST",
        "/register",
        form={"username": f"proxied{index}", "email": f"proxied{index}@example.com", "password": "pw-1"},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_a_forged_leftmost_forwarded_for_does_not_dodge_address_limits(start_server):
    server = start_server(TRUST_PROXY_HEADERS="true", REGISTRATIONS_PER_HOUR="2")
    # The client writes whatever it likes on the left; the proxy appends the real peer.
    answers = [register_behind_proxy(server.url, index, f"10.66.0.{index}, 203.0.113.7").status_code for index in range(3)]
    assert answers == [302, 302, 429], answers
    # Another client behind the same proxy has its own count.
    assert register_behind_proxy(server.url, 9, "10.66.0.1, 203.0.113.8").status_code == 302


def test_trusted_proxy_count_takes_the_address_the_outer_proxy_appended(start_server):
    server = start_server(TRUST_PROXY_HEADERS="true", TRUSTED_PROXY_COUNT="2", REGISTRATIONS_PER_HOUR="2")
    # Two proxies: the outer one appended the client (198.51.100.4), the inner one the outer.
    answers = [
        register_behind_proxy(server.url, index, f"10.66.0.{index}, 198.51.100.4, 10.0.0.{index}").status_code
        for index in range(3)
    ]
    assert answers == [302, 302, 429], answers


def test_forged_forwarded_for_does_not_dodge_the_sessions_per_address_limit(start_server):
    server = start_server(TRUST_PROXY_HEADERS="true", MAX_CONNECTIONS_PER_IP="2")
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    statuses = [
        requests.get(handshake, headers={"X-Forwarded-For": f"10.77.0.{index}, 203.0.113.9"}, timeout=gs.HTTP_TIMEOUT).status_code
        for index in range(3)
    ]
    assert statuses == [200, 200, 403], statuses


def test_forwarded_proto_is_read_from_the_right(start_server):
    server = start_server(TRUST_PROXY_HEADERS="true")

    def login_cookie(proto):
        user = gs.unique("proto")
        response = gs.http(
            server.url,
            "POST",
            "/register",
            form={"username": user, "email": f"{user}@example.com", "password": "pw-1"},
            headers={"X-Forwarded-Proto": proto},
        )
        assert response.status_code == 302
        return next(cookie for cookie in gs.set_cookies(response) if cookie["name"] == gs.COOKIE_NAME)

    # The proxy appended "https" after what the client wrote.
    assert "Secure" in login_cookie("http, https")["attributes"]
    # The client wrote "https", the proxy saw plain HTTP.
    assert "Secure" not in login_cookie("https, http")["attributes"]


# --------------------------------------------------------------------------- token lifetimes


def test_a_refresh_revokes_the_token_it_replaces(server):
    user = gs.register(server.url, gs.unique("ria"))
    copied = user.token
    renewed = refresh(server.url, user.token)
    assert signed_in(server.url, renewed)
    assert not signed_in(server.url, copied), "the copied cookie outlived the refresh that replaced it"
    assert_socket_refused(server.url, copied)


def test_refreshes_of_one_sign_in_are_bounded(server):
    # Each refresh leaves a revocation record until the replaced token would expire:
    # one signed-in client may not mint them in a loop.
    token = gs.register(server.url, gs.unique("rla")).token
    for _ in range(12):
        token = refresh(server.url, token)
    refused = gs.http(server.url, "POST", "/refresh_session", token=token)
    assert refused.status_code == 429, refused.status_code
    assert int(refused.headers["Retry-After"]) > 0
    assert signed_in(server.url, token), "a refused refresh leaves the current token valid"


def test_logout_ends_every_token_and_socket_of_the_session(server, peers):
    user = gs.register(server.url, gs.unique("lia"))
    original = user.token
    first_socket, first_gone = connected_socket(peers, "A", server.url, original)
    renewed = refresh(server.url, original)
    second_socket, second_gone = connected_socket(peers, "B", server.url, renewed)
    other_session = gs.login(server.url, user.username, user.password)

    out = gs.http(server.url, "GET", "/logout", token=renewed)
    assert (out.status_code, out.headers.get("Location")) == (302, "/login")
    assert first_gone.wait(ss.TIMEOUT), "the socket opened with the session's first token is still connected"
    assert second_gone.wait(ss.TIMEOUT), "the socket opened with the token logged out with is still connected"
    for token in (original, renewed):
        assert not signed_in(server.url, token)
        assert_socket_refused(server.url, token)
    # Another sign-in of the same user is another session.
    assert signed_in(server.url, other_session)


def test_logout_with_a_replaced_token_still_ends_its_session(server):
    user = gs.register(server.url, gs.unique("mia"))
    stale = user.token
    renewed = refresh(server.url, stale)
    # An old tab still holds the replaced cookie and logs out with it.
    gs.http(server.url, "GET", "/logout", token=stale)
    assert not signed_in(server.url, renewed)


def test_logout_after_refreshing_a_flask_token_closes_the_flask_tokens_socket(server, peers):
    user = gs.register(server.url, gs.unique("nia"))
    flask_token = gs.forge_token(user.id)
    flask_socket, flask_gone = connected_socket(peers, "F", server.url, flask_token)
    renewed = refresh(server.url, flask_token)
    gs.http(server.url, "GET", "/logout", token=renewed)
    assert flask_gone.wait(ss.TIMEOUT), "the socket opened with the Flask-issued token is still connected"
    assert not signed_in(server.url, renewed)


# --------------------------------------------------------------------------- socket origins


def test_cookie_socket_from_another_origin_is_refused(server):
    user = gs.register(server.url, gs.unique("ora"))
    answers = connect_answers(server.url, {"Cookie": user.cookie}, EVIL_ORIGIN)
    for transport, answer in answers.items():
        assert answer.startswith("44"), f"{transport}: a page on {EVIL_ORIGIN} opened a socket as the user: {answer!r}"
        assert "Cross-origin" in answer, answer
    # The session itself is untouched.
    assert signed_in(server.url, user.token)


def test_cookie_socket_from_the_servers_own_origin_or_without_origin_is_accepted(server):
    user = gs.register(server.url, gs.unique("orb"))
    for origin in (server.url, None):
        for transport, answer in connect_answers(server.url, {"Cookie": user.cookie}, origin).items():
            assert answer.startswith("40{"), f"{transport}, Origin {origin}: {answer!r}"
    # The same host under another scheme or port is another origin.
    for origin in (server.url.replace("http://", "https://"), "http://127.0.0.1:1"):
        for transport, answer in connect_answers(server.url, {"Cookie": user.cookie}, origin).items():
            assert answer.startswith("44"), f"{transport}, Origin {origin}: {answer!r}"


def test_cookie_socket_from_a_listed_origin_is_accepted(start_server):
    server = start_server(CORS_ALLOWED_ORIGINS="https://app.example")
    user = gs.register(server.url, gs.unique("orc"))
    for transport, answer in connect_answers(server.url, {"Cookie": user.cookie}, "https://app.example").items():
        assert answer.startswith("40{"), f"{transport}: {answer!r}"


def test_authorization_header_socket_from_another_origin_is_accepted(start_server):
    server = start_server(JWT_TOKEN_LOCATION="cookies,headers")
    user = gs.register(server.url, gs.unique("ord"))
    headers = {"Authorization": f"Bearer {user.token}"}
    for transport, answer in connect_answers(server.url, headers, EVIL_ORIGIN).items():
        assert answer.startswith("40{"), f"{transport}: {answer!r}"


# --------------------------------------------------------------------------- secrets


def test_an_empty_jwt_secret_is_refused_at_start():
    environment = conftest.base_environment()
    environment["JWT_SECRET_KEY"] = ""
    process = conftest.ChatifyProcess(conftest.chatify_binary(), environment)
    try:
        # No listening line: it raises, after reaping the process.
        with pytest.raises(RuntimeError):
            process.wait_until_listening()
    finally:
        process.stop()
    assert process.process.returncode != 0
    assert any("JWT_SECRET_KEY" in line and "not empty" in line for line in process.output), process.tail()


def start_and_read_output(environment):
    """The output of a server started with `environment` until it listens."""
    process = conftest.ChatifyProcess(conftest.chatify_binary(), environment)
    try:
        process.wait_until_listening()
        return list(process.output)
    finally:
        process.stop()


def test_the_default_jwt_secret_is_warned_about_at_start():
    environment = conftest.base_environment()
    del environment["JWT_SECRET_KEY"]
    lines = start_and_read_output(environment)
    warnings = [line for line in lines if "warning" in line.lower() and "JWT_SECRET_KEY" in line]
    assert warnings, f"no warning about the default JWT_SECRET_KEY in {lines}"

    environment["JWT_SECRET_KEY"] = "a-real-secret"
    lines = start_and_read_output(environment)
    assert not [line for line in lines if "JWT_SECRET_KEY" in line], lines
