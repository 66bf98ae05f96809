"""Attacks on the gateway's web surface, each answered as the hardening issue says:
forged cross-site requests, CSRF without the double-submit value, state changes by GET,
replayed tokens after logout, brute-force logins, bulk registrations, and what every
page must say about framing, sniffing and scripts.

Every test starts the real server (port 0) with the settings it attacks.
"""

import concurrent.futures
import json
import threading
import time

import jwt
import pytest
import requests
import socketio
import websocket

import gateway_support as gs
import socketio_support as ss

EVIL_ORIGIN = "https://evil.example"


def csrf_cookie_of(response):
    for cookie in gs.set_cookies(response):
        if cookie["name"] == "csrf_access_token" and cookie["value"]:
            return cookie
    raise AssertionError(f"no csrf_access_token cookie in {[c['raw'] for c in gs.set_cookies(response)]}")


def two_users_and_room(base, first, second):
    """`first` owns a room `second` is a member of."""
    names = (gs.unique(first), gs.unique(second))
    users, key = ss.users_and_room(base, names=names, members=(names[1],))
    return users[names[0]], users[names[1]], key


def register_with_cookies(base, username):
    response = gs.http(
        base, "POST", "/register", form={"username": username, "email": f"{username}@example.com", "password": "pw-1"}
    )
    assert response.status_code == 302, response.text[:300]
    return response


# --------------------------------------------------------------------------- page headers


def test_pages_forbid_framing_sniffing_and_inline_script(server):
    response = gs.http(server.url, "GET", "/login")
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives.get("script-src") == ["'self'"], policy
    assert directives.get("frame-ancestors") == ["'none'"], policy
    assert "'unsafe-inline'" not in policy
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_liveness_and_readiness(server):
    assert gs.http(server.url, "GET", "/healthz").status_code == 200
    ready = gs.http(server.url, "GET", "/readyz")
    assert (ready.status_code, ready.text.strip()) == (200, "ready")


# --------------------------------------------------------------------------- forged requests


def test_cross_site_post_is_refused_and_changes_nothing(server):
    user = gs.register(server.url, gs.unique("mallory_target"))
    forged = gs.http(
        server.url, "POST", "/create_room", token=user.token, form={"room_name": "forged"}, headers={"Origin": EVIL_ORIGIN}
    )
    assert forged.status_code == 403
    assert gs.room_keys(server.url, user.token) == []
    # The same request from the site itself goes through.
    own = gs.http(
        server.url, "POST", "/create_room", token=user.token, form={"room_name": "mine"}, headers={"Origin": server.url}
    )
    assert (own.status_code, own.headers.get("Location")) == (302, "/my_rooms")


def test_get_links_to_leave_and_delete_only_ask_for_confirmation(server):
    owner, _, key = two_users_and_room(server.url, "owner", "member")
    page = gs.http(server.url, "GET", f"/delete_room/{key}", token=owner.token)
    assert page.status_code == 200
    assert f'<form method="POST" action="/delete_room/{key}"' in page.text
    assert gs.room_keys(server.url, owner.token) == [key], "a GET must not delete the room"
    done = gs.http(server.url, "POST", f"/delete_room/{key}", token=owner.token, form={"csrf_token": ""})
    assert (done.status_code, done.headers.get("Location")) == (302, "/my_rooms")
    assert gs.room_keys(server.url, owner.token) == []


@pytest.fixture(scope="module")
def csrf_server(module_pool):
    return module_pool.start(JWT_COOKIE_CSRF_PROTECT="True")


def test_csrf_double_submit_like_flask_jwt_extended(csrf_server):
    base = csrf_server.url
    response = register_with_cookies(base, gs.unique("carol"))
    token = gs.auth_cookie_of(response)
    csrf = csrf_cookie_of(response)
    # The page script must read it: not HttpOnly; and it is the token's csrf claim.
    assert "HttpOnly" not in csrf["attributes"] and csrf["attributes"].get("SameSite") == "Lax"
    assert gs.decode_verified(token)["csrf"] == csrf["value"]

    def create(name, **extra):
        form = {"room_name": name, **extra.pop("form", {})}
        return gs.http(base, "POST", "/create_room", token=token, form=form, **extra)

    assert create("no token").status_code == 403
    assert create("wrong token", headers={"X-CSRF-TOKEN": "0" * len(csrf["value"])}).status_code == 403
    assert create("wrong field", form={"csrf_token": "nope"}).status_code == 403
    assert gs.room_keys(base, token) == []
    assert create("by header", headers={"X-CSRF-TOKEN": csrf["value"]}).status_code == 302
    assert create("by form", form={"csrf_token": csrf["value"]}).status_code == 302
    assert len(gs.room_keys(base, token)) == 2
    # The pages' forms carry the value, so they keep working with the scheme on.
    page = gs.http(base, "GET", "/my_rooms", token=token)
    assert f'name="csrf_token" value="{csrf["value"]}"' in page.text
    profile = gs.http(base, "POST", "/update_profile", token=token, form={"field": "email", "value": "c@example.com"})
    assert profile.status_code == 403


# --------------------------------------------------------------------------- tokens


def test_logout_revokes_the_token_and_closes_its_sockets(server, peers):
    dave, _, _ = two_users_and_room(server.url, "dave", "erin")
    peer = peers("D", server.url, "websocket", cookie=dave.cookie, connect=False)
    gone = threading.Event()
    peer.client.on("disconnect", lambda *args: gone.set())
    peer.connect()
    assert gs.http(server.url, "GET", "/dashboard", token=dave.token).status_code == 200

    out = gs.http(server.url, "GET", "/logout", token=dave.token)
    assert (out.status_code, out.headers.get("Location")) == (302, "/login")
    assert gone.wait(ss.TIMEOUT), "the socket opened with the revoked token is still connected"
    replay = gs.http(server.url, "GET", "/dashboard", token=dave.token)
    assert (replay.status_code, replay.headers.get("Location")) == (302, "/login")
    refused = peers("D2", server.url, "polling", cookie=dave.cookie, connect=False)
    with pytest.raises(Exception):
        refused.connect()
    assert refused.connect_errors, "a revoked token must be refused at the Socket.IO handshake"
    # Logging in again works: only that token was revoked.
    fresh = gs.login(server.url, dave.username, dave.password)
    assert gs.http(server.url, "GET", "/dashboard", token=fresh).status_code == 200


def test_an_active_chat_renews_its_session_before_expiry(server, peers):
    fay, _, _ = two_users_and_room(server.url, "fay", "gus")
    # A token with 30 s left, as a page open for 14.5 minutes has.
    now = int(time.time())
    short = gs.forge_token(fay.id, now=now - 870, exp=now + 30)
    peer = peers("F", server.url, "websocket", cookie=gs.cookie_header(short))

    refreshed = gs.http(server.url, "POST", "/refresh_session", token=short)
    assert refreshed.status_code == 200, refreshed.text[:300]
    answer = refreshed.json()
    new_token = gs.auth_cookie_of(refreshed)
    new_expiry = gs.decode_verified(new_token)["exp"]
    assert answer["expires"] == new_expiry > now + 30

    ack = peer.call("renew_session", {"ticket": answer["ticket"]})
    assert ack == {"expires": new_expiry}
    bogus = peer.call("renew_session", {"ticket": short})
    assert "error" in bogus, "an access token is not a renewal ticket"
    wrong_key = jwt.encode({"type": "renew", "sub": fay.id, "until": now + 9999, "exp": now + 60}, "not-the-key")
    assert "error" in peer.call("renew_session", {"ticket": wrong_key})
    other_user = jwt.encode(
        {"type": "renew", "sub": "someone-else", "until": now + 9999, "exp": now + 60}, gs.TEST_JWT_SECRET
    )
    assert "error" in peer.call("renew_session", {"ticket": other_user})


def test_pages_refresh_a_token_past_half_its_life(server):
    user = gs.register(server.url, gs.unique("hal"))
    now = int(time.time())
    old = gs.forge_token(user.id, now=now - 600, exp=now + 300)
    page = gs.http(server.url, "GET", "/dashboard", token=old)
    assert page.status_code == 200
    renewed = gs.auth_cookie_of(page)
    assert gs.decode_verified(renewed)["exp"] > now + 300
    # The replaced token (here one Flask-JWT-Extended wrote) is refused from then on.
    assert gs.http(server.url, "GET", "/dashboard", token=renewed).status_code == 200
    replaced = gs.http(server.url, "GET", "/dashboard", token=old)
    assert (replaced.status_code, replaced.headers.get("Location")) == (302, "/login")


# --------------------------------------------------------------------------- brute force


def test_brute_force_login_is_slowed_then_refused(start_server):
    server = start_server(LOGIN_SLOW_AFTER="2", LOGIN_REFUSE_AFTER="4")
    victim = gs.register(server.url, "victim", password="right-password")

    def attempt(password):
        started = time.monotonic()
        response = gs.http(server.url, "POST", "/login", form={"username": "victim", "password": password})
        return response, time.monotonic() - started

    for _ in range(2):
        response, _ = attempt("guess")
        assert response.status_code == 200 and "Invalid username or password" in response.text
    slowed, elapsed = attempt("guess")
    assert slowed.status_code == 200
    assert elapsed >= 0.25, f"the third failure was answered in {elapsed:.3f} s, not slowed down"
    attempt("guess")
    refused, _ = attempt("right-password")
    assert refused.status_code == 429, "after 4 failures even the right password is refused for a while"
    assert int(refused.headers["Retry-After"]) > 0
    # Other users are not locked out.
    other = gs.register(server.url, "bystander", password="pw-2")
    assert gs.login(server.url, other.username, "pw-2")
    assert victim.username == "victim"


def test_bulk_registration_is_refused(start_server):
    server = start_server(REGISTRATIONS_PER_HOUR="3")
    for index in range(3):
        gs.register(server.url, f"bulk{index}")
    refused = gs.http(server.url, "POST", "/register", form={"username": "bulk3", "email": "b3@example.com", "password": "x"})
    assert refused.status_code == 429
    assert "Too many registrations" in refused.text


# --------------------------------------------------------------------------- sizes


def test_oversized_form_body_is_413_and_the_server_keeps_serving(server):
    user = gs.register(server.url, gs.unique("ivy"))
    huge = gs.http(server.url, "POST", "/create_room", token=user.token, form={"room_name": "x" * (70 * 1024)})
    assert huge.status_code == 413
    assert gs.room_keys(server.url, user.token) == []
    assert gs.http(server.url, "GET", "/login").status_code == 200


# --------------------------------------------------------------------------- realtime limits


def test_an_event_flood_is_refused_and_the_room_keeps_working(start_server, peers):
    server = start_server(SOCKET_EVENTS_PER_SECOND="5")
    owner, member, key = two_users_and_room(server.url, "flooder", "listener")
    flooder = peers("F", server.url, "websocket", cookie=owner.cookie)
    listener = peers("L", server.url, "websocket", cookie=member.cookie)
    listener.call("join", {"room": key})
    flooder.call("join", {"room": key})
    start = len(listener.events)
    for index in range(40):
        flooder.emit("message", {"room": key, "message": f"spam {index}"})
    refusal = flooder.wait_event("chat_error")
    assert refusal["message"] == "You are sending too fast. Wait a moment and try again."
    # Bursts of twice the rate pass, the rest is refused: the listener sees no more than that.
    flooder.call("join", {"room": key})  # a round trip: everything before it was handled
    # The listener's own message comes to it after every flooded one the server sent it:
    # wait on the listener, the client the assertion is about.
    listener.call("message", {"room": key, "message": "listener's marker"})

    def listener_lines():
        return [e[1]["message"] for e in listener.events[start:] if e[0] == "message" and e[1]["username"] != "System"]

    with listener._cond:
        assert listener._cond.wait_for(
            lambda: "listener's marker" in listener_lines() and any(m.startswith("spam") for m in listener_lines()),
            ss.TIMEOUT,
        ), f"the listener got neither a flooded message nor its own marker: {listener.events[start:]}"
        delivered = [m for m in listener_lines() if m.startswith("spam")]
    assert 0 < len(delivered) <= 11, f"{len(delivered)} of 40 flooded messages were delivered"
    assert flooder.client.connected, "a flooder is slowed down, not disconnected"


def test_rooms_per_socket_and_connections_per_user_are_bounded(start_server, peers):
    server = start_server(MAX_ROOMS_PER_SOCKET="2", MAX_CONNECTIONS_PER_USER="2")
    owner = gs.register(server.url, gs.unique("collector"))
    keys = [gs.create_room(server.url, owner, f"room {index}") for index in range(3)]
    first = peers("A", server.url, "websocket", cookie=owner.cookie)
    first.call("join", {"room": keys[0]})
    first.call("join", {"room": keys[1]})
    first.call("join", {"room": keys[1]})  # already in it: not a new room
    first.call("join", {"room": keys[2]})
    refusal = first.wait_event("chat_error")
    assert refusal["message"].startswith("You are in too many rooms at once (at most 2)")
    peers("B", server.url, "polling", cookie=owner.cookie)
    third = peers("C", server.url, "polling", cookie=owner.cookie, connect=False)
    with pytest.raises(Exception):
        third.connect()
    assert third.connect_errors and "Too many connections" in str(third.connect_errors[0])


def test_sessions_per_address_are_bounded(start_server):
    server = start_server(MAX_CONNECTIONS_PER_IP="3")
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    sessions = []
    for _ in range(3):
        response = requests.get(handshake, timeout=gs.HTTP_TIMEOUT)
        assert response.status_code == 200
        sessions.append(json.loads(response.text[1:])["sid"])
    refused = requests.get(handshake, timeout=gs.HTTP_TIMEOUT)
    assert refused.status_code == 403 and refused.json() == {"code": 4, "message": "Forbidden"}
    # Closing one frees its place.
    closed = requests.post(f"{handshake}&sid={sessions[0]}", data="1", timeout=gs.HTTP_TIMEOUT)
    assert closed.status_code == 200
    assert requests.get(handshake, timeout=gs.HTTP_TIMEOUT).status_code == 200


# --------------------------------------------------------------------------- bad packets


def ws_url(base):
    return base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def raw_websocket(base, cookie):
    connection = websocket.create_connection(ws_url(base), header=[f"Cookie: {cookie}"], timeout=ss.TIMEOUT)
    assert connection.recv().startswith("0{")
    connection.send("40")
    assert connection.recv().startswith("40{")
    return connection


def assert_closed_by_server(connection):
    deadline = time.monotonic() + ss.TIMEOUT
    frames = []
    while time.monotonic() < deadline:
        try:
            frame = connection.recv()
        except websocket.WebSocketTimeoutException:
            break
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return
        if frame in ("", None):
            return
        frames.append(frame[:80])
    raise AssertionError(f"the server did not close the offending WebSocket; it sent {frames}")


def polling_session(base, cookie):
    url = base + "/socket.io/?EIO=4&transport=polling"
    opened = requests.get(url, headers={"Cookie": cookie}, timeout=gs.HTTP_TIMEOUT)
    sid = json.loads(opened.text[1:])["sid"]
    url += f"&sid={sid}"
    assert requests.post(url, data="40", headers={"Cookie": cookie}, timeout=gs.HTTP_TIMEOUT).status_code == 200
    assert requests.get(url, headers={"Cookie": cookie}, timeout=gs.HTTP_TIMEOUT).text.startswith("40{")
    return url


BAD_PACKETS = [
    ("oversized", lambda: "42" + json.dumps(["message", {"room": "r", "message": "x" * 70_000}])),
    ("malformed JSON", lambda: '42["message",{"room":'),
    ("unknown packet type", lambda: "9hello"),
    ("more attachments than allowed", lambda: '4599-["message",{"_placeholder":true,"num":0}]'),
]


# Bystanders connect this many at a time: 200 handshakes at once on a loaded machine miss
# the client's own per-request timeout, and that tells nothing about the server.
BYSTANDERS_CONNECTING_AT_ONCE = 16
# Generous per-step timeouts for one bystander (connect, join); the setup as a whole waits
# as long as bystanders keep joining, and fails once none has joined for STALL seconds.
BYSTANDER_TIMEOUT = 30.0
STALL = 60.0


def test_bad_packets_close_only_their_session_while_200_clients_chat(start_server):
    # 200 tabs of one member join at once: the per-user event limit must not refuse
    # their joins, which is not what this test is about.
    server = start_server(
        MAX_PAYLOAD="65536", SOCKET_EVENTS_PER_SECOND="50", USER_EVENTS_PER_SECOND="1000", MAX_CONNECTIONS_PER_USER="0"
    )
    owner, guest, key = two_users_and_room(server.url, "host", "guest")
    # 200 tabs of one member: as many sockets to keep serving, without 200 password hashes.
    members = [guest] * 200
    received = {index: [] for index in range(len(members))}
    refused = []
    clients = []
    done = threading.Condition()

    def listen(index, member):
        client = socketio.Client(reconnection=False, request_timeout=BYSTANDER_TIMEOUT)

        def on_message(data):
            if data.get("message", "").startswith("wave "):
                with done:
                    received[index].append(data["message"])
                    done.notify_all()

        client.on("message", on_message)
        client.on("chat_error", lambda data: refused.append((index, data)))
        client.connect(
            server.url, headers={"Cookie": member.cookie}, transports=["websocket"], wait_timeout=BYSTANDER_TIMEOUT
        )
        clients.append(client)
        client.call("join", {"room": key}, timeout=BYSTANDER_TIMEOUT)

    sender = socketio.Client(reconnection=False)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=BYSTANDERS_CONNECTING_AT_ONCE)
    try:
        joining = {pool.submit(listen, index, member) for index, member in enumerate(members)}
        while joining:
            joined, joining = concurrent.futures.wait(
                joining, timeout=STALL, return_when=concurrent.futures.FIRST_COMPLETED
            )
            assert joined, f"no bystander joined for {STALL:g} s; {len(members) - len(joining)} of {len(members)} did"
            for future in joined:
                future.result()  # a bystander that could not connect or join fails the test with its error
        assert not refused, f"the server refused bystanders' events: {refused[:3]}"
        sender.connect(server.url, headers={"Cookie": owner.cookie}, transports=["websocket"], wait_timeout=10)
        sender.call("join", {"room": key})
        waves = []
        for name, packet in BAD_PACKETS:
            attacker = raw_websocket(server.url, owner.cookie)
            attacker.send(packet())
            assert_closed_by_server(attacker)
            url = polling_session(server.url, owner.cookie)
            answer = requests.post(url, data=packet(), headers={"Cookie": owner.cookie}, timeout=gs.HTTP_TIMEOUT)
            assert answer.status_code in (200, 400, 413), f"{name} over polling: {answer.status_code}"
            after = requests.get(url, headers={"Cookie": owner.cookie}, timeout=gs.HTTP_TIMEOUT)
            assert after.status_code == 400 or after.text.startswith("1"), (
                f"{name} over polling: the session is still open ({after.status_code} {after.text[:80]!r})"
            )
            wave = f"wave {name}"
            sender.call("message", {"room": key, "message": wave})
            waves.append(wave)
        with done:
            complete = done.wait_for(lambda: all(len(got) == len(waves) for got in received.values()), 30)
        missing = {i: sorted(set(waves) - set(got)) for i, got in received.items() if len(got) != len(waves)}
        assert complete, f"{len(missing)} clients missed messages, e.g. {list(missing.items())[:3]}; refused: {refused[:3]}"
        assert all(client.connected for client in clients), "a bystander lost its connection"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        sender.disconnect()
        for client in clients:
            client.disconnect()


def test_a_connect_with_too_many_keys_closes_only_its_session(server):
    owner, guest, key = two_users_and_room(server.url, "host", "guest")
    bystander = socketio.Client(reconnection=False)
    bystander.connect(server.url, headers={"Cookie": guest.cookie}, transports=["websocket"], wait_timeout=10)
    try:
        bystander.call("join", {"room": key})
        # 10,001 keys (the parser's limit is 10,000 per object): about 150 KB, well under
        # MAX_PAYLOAD, sent before any namespace is joined.
        auth = "{" + ",".join(f'"k{index}":0' for index in range(10_001)) + "}"
        attacker = websocket.create_connection(ws_url(server.url), header=[f"Cookie: {owner.cookie}"], timeout=ss.TIMEOUT)
        assert attacker.recv().startswith("0{")
        attacker.send("40" + auth)
        assert_closed_by_server(attacker)
        sender = socketio.Client(reconnection=False)
        sender.connect(server.url, headers={"Cookie": owner.cookie}, transports=["websocket"], wait_timeout=10)
        try:
            got = threading.Event()
            bystander.on("message", lambda data: data.get("message") == "still here" and got.set())
            sender.call("join", {"room": key})
            sender.call("message", {"room": key, "message": "still here"})
            assert got.wait(ss.TIMEOUT), "the bystander did not get the message sent after the attack"
        finally:
            sender.disconnect()
        assert bystander.connected, "the bystander lost its connection"
    finally:
        bystander.disconnect()


# --------------------------------------------------------------------------- observability


def metric(text, name, labels=""):
    """The value of one sample of the Prometheus text format, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name + (f"{{{labels}}}" if labels else ""):
            return float(value)
    return 0.0


def test_metrics_count_connections_packets_broadcasts_and_errors(start_server, peers):
    server = start_server(SOCKET_EVENTS_PER_SECOND="2", LOG_LEVEL="debug")
    owner, member, key = two_users_and_room(server.url, "metered", "watcher")
    before = gs.http(server.url, "GET", "/metrics")
    assert before.status_code == 200 and before.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    peer = peers("M", server.url, "websocket", cookie=owner.cookie)
    peer.call("join", {"room": key})
    peer.call("message", {"room": key, "message": "counted"})
    for index in range(6):
        peer.emit("message", {"room": key, "message": f"too fast {index}"})
    peer.wait_event("chat_error")
    after = gs.http(server.url, "GET", "/metrics").text
    assert metric(after, "chatify_connections", 'transport="websocket"') == 1
    assert metric(after, "chatify_packets_received_total") > metric(before.text, "chatify_packets_received_total")
    assert metric(after, "chatify_packets_sent_total") > metric(before.text, "chatify_packets_sent_total")
    assert metric(after, "chatify_broadcasts_total") >= 1
    assert metric(after, "chatify_errors_total", 'kind="rate_limited"') >= 1
    assert metric(after, "chatify_store_operation_seconds_count") > 0
    # Nothing secret reached the log, even at debug level.
    log = server.tail(lines=500)
    assert owner.password not in log and owner.token not in log and member.token not in log
