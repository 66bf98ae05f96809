"""The stock python-socketio client (PyPI, unchanged) against our Socket.IO server.

Every test runs in three transport modes:

* ``polling``   -- ``transports=['polling']``: HTTP long-polling only;
* ``websocket`` -- ``transports=['websocket']``: a WebSocket from the first request;
* ``upgrade``   -- default transports: a polling handshake, then the upgrade to WebSocket.

The server is the conformance server (see conftest.py and
Sources/SocketIOConformanceServer): ``message`` -> ``message-back``, ``message-with-ack``,
``join``, ``to-room``, ``ask-client``, ``disconnect-me`` and ``whoami``.

Waiting is done on events (threading.Condition) with deadlines. The few "nothing else
arrives" checks wait a short bounded window after a round trip has shown that the
server is done with the request.
"""

import json
import threading
import time
import uuid

import pytest
import requests
import socketio

TIMEOUT = 5.0  # seconds, for anything the server is expected to do
QUIET = 0.4  # seconds, the window of an "it does not arrive" check
RECONNECT_WINDOW = 1.5  # seconds; with the delays below a reconnect would start within ~0.1 s

SERVER_DISCONNECT = socketio.Client.reason.SERVER_DISCONNECT
TRANSPORT_ERROR = socketio.Client.reason.TRANSPORT_ERROR

MODES = {
    "polling": {"transports": ["polling"], "transport": "polling"},
    "websocket": {"transports": ["websocket"], "transport": "websocket"},
    "upgrade": {"transports": None, "transport": "websocket"},
}


@pytest.fixture(params=list(MODES))
def mode(request):
    return request.param


# --------------------------------------------------------------------------- helpers


def assert_identical(actual, expected, path="value"):
    """Equal values *and* equal types (int is not float, bool is not int), same key order."""
    assert type(actual) is type(expected), (
        f"{path}: got {type(actual).__name__} {actual!r}, expected {type(expected).__name__} {expected!r}"
    )
    if isinstance(expected, dict):
        assert list(actual.keys()) == list(expected.keys()), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}: {actual!r}"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


class Peer:
    """A socketio.Client that records every event it receives, per namespace."""

    def __init__(self, url, mode, *, namespaces=("/",), auth=None, reconnection=False, answer=None):
        self.url = url
        self.mode = mode
        self.namespaces = list(namespaces)
        self.http_log = []  # (method, url, status, body) of every polling request
        http = requests.Session()
        http.hooks["response"].append(self._log_http)
        self.client = socketio.Client(
            reconnection=reconnection,
            reconnection_delay=0.1,
            reconnection_delay_max=0.2,
            randomization_factor=0,
            http_session=http,
        )
        self._cond = threading.Condition()
        self._events = []  # [namespace, event, args, consumed]
        # What the client's "question" handler returns (it is then the ack's data).
        self.answer = answer if answer is not None else (lambda *args: "ok")
        c = self.client
        c.on("*", self._on_any, namespace="*")
        c.on("connect", lambda ns: self._record(ns, "connect", ()), namespace="*")
        c.on("connect_error", lambda ns, *data: self._record(ns, "connect_error", data), namespace="*")
        c.on("disconnect", lambda ns, reason: self._record(ns, "disconnect", (reason,)), namespace="*")
        c.on("question", self._on_question, namespace="*")
        self.auth = auth

    def connect(self):
        self.client.connect(
            self.url,
            auth=self.auth,
            transports=MODES[self.mode]["transports"],
            namespaces=self.namespaces,
            wait_timeout=TIMEOUT,
        )

    # recording

    def _log_http(self, response, *args, **kwargs):
        body = response.content.decode("utf-8", "replace")
        self.http_log.append((response.request.method, response.request.url, response.status_code, body))

    def _record(self, namespace, event, args):
        with self._cond:
            self._events.append([namespace, event, tuple(args), False])
            self._cond.notify_all()

    def _on_any(self, event, namespace, *args):
        self._record(namespace, event, args)

    def _on_question(self, namespace, *args):
        self._record(namespace, "question", args)
        return self.answer(*args)

    # waiting

    def wait_for(self, event, namespace="/", timeout=TIMEOUT):
        """The args of the next not yet consumed `event` on `namespace`."""

        def find():
            for entry in self._events:
                if not entry[3] and entry[0] == namespace and entry[1] == event:
                    return entry
            return None

        with self._cond:
            entry = self._cond.wait_for(find, timeout)
            if entry is None:
                raise AssertionError(f"no {event!r} on {namespace} within {timeout} s; received: {self.received()}")
            entry[3] = True
            return entry[2]

    def received(self):
        """Everything received so far, for error messages (disconnect reasons included)."""
        with self._cond:
            return [(e[0], e[1], e[2]) if e[1] in ("disconnect", "connect_error") else (e[0], e[1]) for e in self._events]

    def assert_none(self, event, namespace="/", within=QUIET):
        """Nothing (more) of `event` on `namespace` arrives within `within` seconds."""

        def find():
            return [e for e in self._events if not e[3] and e[0] == namespace and e[1] == event]

        with self._cond:
            extra = self._cond.wait_for(find, within)
        assert not extra, f"unexpected {event!r} on {namespace}: {[e[2] for e in extra]}"

    def count(self, event, namespace="/"):
        with self._cond:
            return sum(1 for e in self._events if e[0] == namespace and e[1] == event)

    # talking

    def emit(self, event, *args, namespace="/"):
        self.client.emit(event, args, namespace=namespace)

    def ack(self, event, *args, namespace="/", timeout=TIMEOUT):
        """Emits with an ack request and returns the ack's arguments as a tuple."""
        done = threading.Event()
        result = []

        def callback(*data):
            result.append(data)
            done.set()

        self.client.emit(event, args, namespace=namespace, callback=callback)
        if not done.wait(timeout):
            raise AssertionError(
                f"no ack for {event!r} on {namespace} within {timeout} s "
                f"(client connected: {self.client.connected}; received: {self.received()})"
            )
        return result[0]

    def whoami(self, namespace="/"):
        """(namespace socket id, engine session id, transport) as the server sees them."""
        data = self.ack("whoami", namespace=namespace)
        assert len(data) == 3 and all(isinstance(x, str) for x in data), data
        return data

    def settle(self, namespace="/"):
        """Waits for the mode's final transport and checks it on the server. Returns whoami."""
        expected = MODES[self.mode]["transport"]
        deadline = time.monotonic() + TIMEOUT
        while True:
            me = self.whoami(namespace)
            if me[2] == expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)  # no event tells when the upgrade is done: poll whoami
        assert me[2] == expected, f"server reports transport {me[2]!r}, expected {expected!r}"
        assert me[0] == self.client.get_sid(namespace)
        assert me[1] == self.client.eio.sid
        return me

    def close(self):
        self.client.shutdown()


@pytest.fixture
def peers(server_url, mode):
    """Factory for connected Peers in the test's mode; all are shut down afterwards."""
    created = []

    def make(**kwargs):
        peer = Peer(server_url, mode, **kwargs)
        created.append(peer)  # shut down even when connecting fails
        peer.connect()
        return peer

    yield make
    for peer in created:
        peer.close()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(condition, what, timeout=TIMEOUT):
    """For client state that changes right after an event handler ran (no event for it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def wait_session_gone(server_url, engine_sid):
    """Waits until the server answers 'Session ID unknown' (code 1) for `engine_sid`.

    Uses a polling POST of a noop: a live session never answers code 1, and a closed one
    keeps no tombstone for POSTs.
    """
    url = f"{server_url}/socket.io/?EIO=4&transport=polling&sid={engine_sid}"
    deadline = time.monotonic() + TIMEOUT
    while True:
        response = requests.post(url, data="6", timeout=TIMEOUT)
        if response.status_code == 400:
            try:
                if response.json().get("code") == 1:
                    return
            except ValueError:
                pass
        assert time.monotonic() < deadline, (
            f"engine session {engine_sid} still known to the server: {response.status_code} {response.text!r}"
        )
        time.sleep(0.02)


def polling_payload_packets(body):
    """Number of Engine.IO packets in a polling response body."""
    return len(body.split("\x1e")) if body else 0


# --------------------------------------------------------------------------- transport


def test_transport_reported_by_server(peers, mode, server_url):
    peer = peers()
    ns_id, engine_id, transport = peer.settle()
    assert peer.client.transport() == MODES[mode]["transport"]
    polls = [entry for entry in peer.http_log if "transport=polling" in entry[1]]
    if mode == "websocket":
        assert polls == [], "websocket-only mode must not poll"
    else:
        # The session began with a polling handshake whose sid is the session whoami reports.
        method, url, status, body = peer.http_log[0]
        assert (method, status) == ("GET", 200) and "sid=" not in url, peer.http_log[0]
        assert body.startswith("0{"), body
        handshake = json.loads(body[1:])
        assert handshake["sid"] == engine_id
        assert handshake["upgrades"] == ["websocket"]
        assert handshake["pingInterval"] == 300 and handshake["pingTimeout"] == 200
        assert handshake["maxPayload"] == 1_000_000
    if mode == "upgrade":
        # Still the same session after the upgrade; the polling requests stopped.
        polls_before = len(peer.http_log)
        assert peer.ack("message-with-ack", "after upgrade") == ("after upgrade",)
        assert len(peer.http_log) == polls_before, "the client kept polling after the upgrade"


# --------------------------------------------------------------------------- auth


def test_connect_with_auth_payload(peers):
    auth = {"token": "abc", "user": {"id": 7, "roles": ["admin", "dev"]}, "ratio": 0.5}
    peer = peers(auth=auth)
    assert_identical(peer.wait_for("auth"), (auth,))
    peer.settle()
    peer.assert_none("auth")


def test_connect_without_auth_gives_empty_object(peers):
    peer = peers()
    assert_identical(peer.wait_for("auth"), ({},))
    peer.settle()


# --------------------------------------------------------------------------- JSON events

JSON_ARGS = (
    {"user": {"name": "Zoë", "tags": ["a", "b"], "profile": {"age": 42, "score": 9.75, "active": True, "boss": None}}},
    [1, 2.5, -3, "x", False, None, [], {}, [[1, [2, [3, [4]]]]]],
    "unicode: é ü ß 中文 русский עברית 😀 🎉 \u2028 \u00a0 \ufeff",
    'escapes: " \\ / \b \f \n \r \t \u0000 \u001f \u007f',
    "",
    {"z": 1, "a": 2, "m": {"y": [1, {"d": 0, "c": 1}], "b": 2}},  # key order must survive
    True,
    False,
    None,
)

INTEGERS = (0, -1, 42, -(2**31), 2**32, 2**53 + 1, 2**63 - 1, -(2**63))
FLOATS = (0.5, -2.25, 0.1, 3.141592653589793, 1e-7, 2.5e-5, 1.5e300, -1.7976931348623157e308, 5e-324, 123456789.125)


def test_json_args_round_trip(peers):
    peer = peers()
    peer.settle()
    peer.emit("message", *JSON_ARGS)
    assert_identical(peer.wait_for("message-back"), JSON_ARGS)


def test_numbers_keep_integer_and_float(peers):
    peer = peers()
    peer.settle()
    peer.emit("message", *INTEGERS, *FLOATS)
    assert_identical(peer.wait_for("message-back"), INTEGERS + FLOATS)


def test_integral_floats_come_back_as_javascript_numbers(peers):
    # The server writes numbers as JavaScript does (like the Node reference): 2.0 -> 2,
    # -0.0 -> 0, 1e21 -> 1e+21. Python therefore reads integral floats back as ints.
    peer = peers()
    peer.settle()
    peer.emit("message", 2.0, -0.0, 100.0, 1e15, 1e21)
    assert_identical(peer.wait_for("message-back"), (2, 0, 100, 10**15, 1e21))


def test_event_without_args(peers):
    peer = peers()
    peer.settle()
    peer.emit("message")
    assert peer.wait_for("message-back") == ()


def test_burst_of_events(peers, mode):
    # 40 binary events = 80 Engine.IO packets queued at once: over polling the server must
    # spread them over several responses (python-engineio refuses more than 16 per payload).
    peer = peers()
    peer.settle()
    count = 40
    for index in range(count):
        peer.emit("message", index, bytes([index]) * (index + 1))
    received = [peer.wait_for("message-back") for _ in range(count)]
    # python-engineio hands every message to a new thread: handlers may run out of order.
    assert sorted(received) == [(index, bytes([index]) * (index + 1)) for index in range(count)]
    if mode == "polling":
        sizes = [polling_payload_packets(body) for method, url, status, body in peer.http_log if method == "GET"]
        assert max(sizes) <= 16, sizes


# --------------------------------------------------------------------------- binary events


def test_binary_arg_round_trip(peers):
    peer = peers()
    peer.settle()
    blob = bytes(range(256)) * 4
    peer.emit("message", blob)
    assert_identical(peer.wait_for("message-back"), (blob,))


def test_several_attachments_in_one_event(peers):
    peer = peers()
    peer.settle()
    args = (b"first", "text between", b"", 42, b"\x00" * 10, {"n": 1}, bytes(range(255, -1, -1)), b"last")
    peer.emit("message", *args)
    assert_identical(peer.wait_for("message-back"), args)


def test_binary_nested_in_objects_and_arrays(peers):
    peer = peers()
    peer.settle()
    payload = {
        "file": {"name": "photo.jpg", "data": b"\xff\xd8\xff\xe0" + bytes(100), "size": 104},
        "parts": [b"p1", {"deep": [b"p2", {"deeper": b"p3"}]}, "not binary"],
        "_placeholder": "a key that looks like the protocol's own",
    }
    peer.emit("message", "before", payload, [b"x", [b"y"]])
    assert_identical(peer.wait_for("message-back"), ("before", payload, [b"x", [b"y"]]))


def test_large_binary_within_max_payload(peers):
    # 720 KiB of binary: 983 040 bytes as base64 over polling, still below the server's
    # maxPayload of 1 000 000 for the whole POST. The session must survive the round trip.
    peer = peers()
    _, engine_id, _ = peer.settle()
    blob = bytes(range(256)) * (720 * 4)
    assert peer.ack("message-with-ack", blob) == (blob,)
    assert peer.whoami()[1] == engine_id
    assert peer.client.connected
    peer.assert_none("disconnect")


# --------------------------------------------------------------------------- acks


def test_client_to_server_ack(peers):
    peer = peers()
    peer.settle()
    args = ("a", 1, 2.5, {"b": [True, None]}, ["c"])
    # socketio.Client.call returns the ack's args (a tuple for several, the value for one).
    assert_identical(peer.client.call("message-with-ack", args, timeout=TIMEOUT), args)
    assert_identical(peer.client.call("message-with-ack", {"only": "one"}, timeout=TIMEOUT), {"only": "one"})
    assert peer.client.call("message-with-ack", timeout=TIMEOUT) is None  # an empty ack
    # Ack ids are matched: concurrent acks each get their own answer.
    results = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, peer.ack("message-with-ack", i, f"n{i}")))
        for i in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == {i: (i, f"n{i}") for i in range(10)}


def test_client_to_server_ack_with_binary(peers):
    peer = peers()
    peer.settle()
    args = (b"\x00\x01bin", {"x": b"y", "list": [b"z", 1]}, "text")
    assert_identical(peer.ack("message-with-ack", *args), args)


@pytest.mark.parametrize(
    "answer, expected",
    [
        (lambda *args: {"sum": sum(args[1:]), "echo": args[0]}, lambda args: ("answered", {"sum": 5, "echo": "q"})),
        (lambda *args: ("two", ["values"]), lambda args: ("answered", "two", ["values"])),
        (lambda *args: b"\x00\xffbinary answer", lambda args: ("answered", b"\x00\xffbinary answer")),
        (lambda *args: None, lambda args: ("answered",)),
    ],
    ids=["object", "tuple-as-two-args", "binary", "empty"],
)
def test_server_to_client_ack(peers, answer, expected):
    peer = peers(answer=answer)
    peer.settle()
    args = ("q", 2, 3)
    result = peer.ack("ask-client", *args, timeout=TIMEOUT + 5)
    assert_identical(peer.wait_for("question"), args)
    assert_identical(result, expected(args))


def test_server_to_client_ack_with_binary_question(peers):
    peer = peers(answer=lambda blob, meta: (meta["name"], blob[::-1]))
    peer.settle()
    result = peer.ack("ask-client", b"\x01\x02\x03", {"name": "reverse"}, timeout=TIMEOUT + 5)
    assert_identical(peer.wait_for("question"), (b"\x01\x02\x03", {"name": "reverse"}))
    assert_identical(result, ("answered", "reverse", b"\x03\x02\x01"))


# --------------------------------------------------------------------------- namespaces


def test_two_namespaces_on_one_connection(peers, mode):
    peer = peers(namespaces=["/", "/custom"], auth={"token": "abc"})
    assert_identical(peer.wait_for("auth", "/"), ({"token": "abc"},))
    assert_identical(peer.wait_for("auth", "/custom"), ({"token": "abc"},))
    main = peer.settle("/")
    custom = peer.whoami("/custom")
    assert main[0] != custom[0], "each namespace has its own socket id"
    assert main[1] == custom[1], "both namespaces share one Engine.IO session"
    assert custom[2] == main[2] == MODES[mode]["transport"]
    assert custom[0] == peer.client.get_sid("/custom")

    # Events reach the namespace they were sent on: "message" is only handled on "/".
    peer.emit("message", "for main", namespace="/")
    peer.emit("message", "for custom", namespace="/custom")
    assert peer.wait_for("message-back", "/") == ("for main",)
    # A question asked through /custom comes back on /custom.
    assert peer.ack("ask-client", "from custom", namespace="/custom", timeout=TIMEOUT + 5) == ("answered", "ok")
    assert peer.wait_for("question", "/custom") == ("from custom",)
    assert peer.ack("join", "ns-room", namespace="/custom") == ("joined", "ns-room")
    peer.assert_none("message-back", "/custom")
    peer.assert_none("message-back", "/", within=0)
    peer.assert_none("question", "/", within=0)


def test_unknown_namespace_is_refused(server_url, mode):
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("connect_error", lambda data: errors.append(data), namespace="/nope")
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server_url, transports=MODES[mode]["transports"], namespaces=["/nope"], wait_timeout=TIMEOUT)
        assert errors == [{"message": "Invalid namespace"}]
    finally:
        client.shutdown()


# --------------------------------------------------------------------------- rooms


@pytest.mark.parametrize("c_room", ["r1", "r2"], ids=["C-in-r1", "C-in-r2"])
def test_room_broadcast(peers, c_room):
    r1, r2 = unique("r1"), unique("r2")
    rooms = {"r1": r1, "r2": r2}
    a, b, c = peers(), peers(), peers()
    for peer, room in ((a, r1), (b, r1), (c, rooms[c_room])):
        peer.settle()
        assert peer.ack("join", room) == ("joined", room)
    a_sid = a.client.get_sid("/")

    payload = {"text": "hello room", "blob": b"\x01\x02\x03", "n": [1, 2.5]}
    assert a.ack("to-room", r1, payload) == ("sent",)
    assert_identical(b.wait_for("room-message"), (payload, a_sid))
    if c_room == "r1":
        assert_identical(c.wait_for("room-message"), (payload, a_sid))
    else:
        # A sends to r2, which it has not joined: only C gets it.
        assert a.ack("to-room", r2, "only r2") == ("sent",)
        assert_identical(c.wait_for("room-message"), ("only r2", a_sid))
        c.whoami()
        c.assert_none("room-message")
        b.whoami()
        b.assert_none("room-message")
    a.whoami()
    a.assert_none("room-message")  # the sender is excluded

    # B answers in r1: A gets it now (it is in r1), and C only when it is in r1.
    assert b.ack("to-room", r1, "from b") == ("sent",)
    assert_identical(a.wait_for("room-message"), ("from b", b.client.get_sid("/")))
    if c_room == "r1":
        assert_identical(c.wait_for("room-message"), ("from b", b.client.get_sid("/")))
    b.whoami()
    b.assert_none("room-message")
    c.whoami()
    c.assert_none("room-message")


def test_rooms_are_per_namespace(peers):
    room = unique("shared")
    a = peers(namespaces=["/", "/custom"])
    b = peers(namespaces=["/", "/custom"])
    a.settle()
    b.settle()
    assert b.ack("join", room, namespace="/custom") == ("joined", room)
    assert a.ack("to-room", room, "on main") == ("sent",)  # nobody joined `room` on "/"
    assert a.ack("to-room", room, "on custom", namespace="/custom") == ("sent",)
    assert b.wait_for("room-message", "/custom") == ("on custom", a.client.get_sid("/custom"))
    b.whoami("/")
    b.assert_none("room-message", "/")
    b.assert_none("room-message", "/custom", within=0)


# --------------------------------------------------------------------------- server-side disconnect


def test_server_disconnects_namespace(peers, server_url):
    # disconnect-me false on the only namespace: a Socket.IO DISCONNECT. python-socketio
    # reports "server disconnect", closes its Engine.IO connection itself (no namespace
    # left) and does not reconnect, though reconnection is on.
    peer = peers(reconnection=True)
    _, engine_id, _ = peer.settle()
    assert peer.wait_for("connect") == ()
    peer.emit("disconnect-me", False)
    assert peer.wait_for("disconnect") == (SERVER_DISCONNECT,)
    wait_until(lambda: not peer.client.connected, "the client is disconnected")
    wait_session_gone(server_url, engine_id)
    peer.assert_none("connect", within=RECONNECT_WINDOW)
    assert peer.count("connect") == 1
    assert peer.client.eio.state == "disconnected"


def test_server_disconnects_one_of_two_namespaces(peers, mode):
    # disconnect-me false on /custom: only /custom ends; "/" and the session go on.
    peer = peers(namespaces=["/", "/custom"], reconnection=True)
    main_id, engine_id, _ = peer.settle("/")
    assert peer.wait_for("connect", "/custom") == ()
    peer.emit("disconnect-me", False, namespace="/custom")
    assert peer.wait_for("disconnect", "/custom") == (SERVER_DISCONNECT,)
    wait_until(lambda: "/custom" not in peer.client.namespaces, "/custom is dropped")
    assert peer.whoami("/") == (main_id, engine_id, MODES[mode]["transport"])
    with pytest.raises(socketio.exceptions.BadNamespaceError):
        peer.emit("whoami", namespace="/custom")
    peer.assert_none("connect", "/custom", within=RECONNECT_WINDOW)
    peer.assert_none("disconnect", "/", within=0)
    assert peer.client.connected
    assert peer.whoami("/") == (main_id, engine_id, MODES[mode]["transport"])


def test_server_disconnects_and_closes_connection(peers, server_url):
    # disconnect-me true: DISCONNECT, then the server closes the Engine.IO session. The
    # DISCONNECT must arrive first ("server disconnect", not a transport error), so the
    # client does not reconnect.
    peer = peers(reconnection=True)
    _, engine_id, _ = peer.settle()
    assert peer.wait_for("connect") == ()
    peer.emit("disconnect-me", True)
    assert peer.wait_for("disconnect") == (SERVER_DISCONNECT,)
    wait_session_gone(server_url, engine_id)
    wait_until(lambda: not peer.client.connected, "the client is disconnected")
    peer.assert_none("connect", within=RECONNECT_WINDOW)
    assert peer.count("connect") == 1
    assert peer.client.eio.state == "disconnected"


def test_server_close_ends_every_namespace(peers, mode, server_url):
    # disconnect-me true on /custom closes the whole connection, so "/" ends too. /custom
    # gets the DISCONNECT packet. "/" learns it from Engine.IO: over polling from the close
    # packet ("server disconnect"); over WebSocket the server just closes the socket, as
    # the Node engine.io server does, which python-engineio reports as a transport error.
    peer = peers(namespaces=["/", "/custom"])
    _, engine_id, _ = peer.settle("/")
    peer.emit("disconnect-me", True, namespace="/custom")
    assert peer.wait_for("disconnect", "/custom") == (SERVER_DISCONNECT,)
    expected_main = SERVER_DISCONNECT if mode == "polling" else TRANSPORT_ERROR
    assert peer.wait_for("disconnect", "/") == (expected_main,)
    wait_session_gone(server_url, engine_id)
    wait_until(lambda: not peer.client.connected, "the client is disconnected")
    assert peer.client.namespaces == {}
