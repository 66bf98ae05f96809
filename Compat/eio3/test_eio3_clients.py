"""Engine.IO v3 clients (python-socketio 4.6.1 over python-engineio 3.14.2, the protocol
of socket.io-client 2.x) against the real chatify: with ALLOW_EIO3 on they connect and
chat over polling, WebSocket and polling-then-upgrade; by default they are refused with
"Unsupported protocol version". Every wait has a timeout; there is no sleep."""

import queue
import re
import threading

import engineio
import pytest
import requests
import socketio

import gateway_support as gs

TIMEOUT = 10.0
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

assert socketio.__version__ == "4.6.1" and engineio.__version__ == "3.14.2", "wrong client versions in the venv"


class LegacyPeer:
    """One python-socketio 4.x client with a user's cookie; what arrives goes to queues."""

    def __init__(self, base, cookie=None, transports=None):
        self.client = socketio.Client(reconnection=False)
        self.messages = queue.Queue()
        self.refusals = queue.Queue()
        self.connected = threading.Event()
        self.client.on("connect", self.connected.set)
        self.client.on("connect_error", lambda *args: self.refusals.put(args))
        # Every argument is kept, so an extra one (a recovery offset) would show.
        self.client.on("message", lambda *args: self.messages.put(args))
        self.client.on("chat_error", lambda *args: self.messages.put(("chat_error",) + args))
        headers = {"Cookie": cookie} if cookie else {}
        self.client.connect(base, headers=headers, transports=transports)

    def wait_connected(self):
        assert self.connected.wait(TIMEOUT), "the namespace / never connected"

    def call(self, event, data):
        return self.client.call(event, data, timeout=TIMEOUT)

    def next_message(self):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("no message arrived") from None

    def close(self):
        self.client.disconnect()


def users_in_one_room(base):
    alice = gs.register(base, gs.unique("alice"))
    bob = gs.register(base, gs.unique("bob"))
    key = gs.create_room(base, alice, "Old apps")
    gs.join_room(base, bob, key)
    return alice, bob, key


def assert_notice(args, text):
    assert len(args) == 1, f"a notice with extra arguments: {args}"
    assert args[0]["username"] == "System" and args[0]["message"] == text, args


@pytest.mark.parametrize(
    "transports, recovery",
    [(["polling"], "0"), (["websocket"], "0"), (None, "0"), (None, "60")],
    ids=["polling", "websocket", "polling-then-upgrade", "upgrade-with-recovery-on"],
)
def test_an_eio3_client_connects_and_chats_when_allowed(start_server, transports, recovery):
    server = start_server(ALLOW_EIO3="True", CONNECTION_STATE_RECOVERY=recovery)
    alice, bob, key = users_in_one_room(server.url)
    peers = []
    try:
        old_alice = LegacyPeer(server.url, alice.cookie, transports)
        peers.append(old_alice)
        old_bob = LegacyPeer(server.url, bob.cookie, transports)
        peers.append(old_bob)
        old_alice.wait_connected()
        old_bob.wait_connected()
        if transports == ["websocket"]:
            assert old_alice.client.eio.current_transport == "websocket"

        old_alice.call("join", {"room": key})
        assert_notice(old_alice.next_message(), f"{alice.username} has joined the room")
        old_bob.call("join", {"room": key})
        assert_notice(old_bob.next_message(), f"{bob.username} has joined the room")
        assert_notice(old_alice.next_message(), f"{bob.username} has joined the room")

        text = "héllo from an old app 😀"
        old_alice.call("message", {"room": key, "message": text})
        for peer in (old_bob, old_alice):
            args = peer.next_message()
            assert len(args) == 1, f"a message with extra arguments: {args}"
            payload = args[0]
            assert list(payload) == ["username", "message", "timestamp", "user_id"], payload
            assert payload["username"] == alice.username and payload["message"] == text
            assert payload["user_id"] == alice.id and HH_MM.match(payload["timestamp"])

        # A refusal reaches an old client as the same chat_error event.
        old_bob.call("message", {"room": key, "message": ""})
        assert old_bob.next_message() == ("chat_error", {"event": "message", "message": "Message cannot be empty."})
    finally:
        for peer in peers:
            peer.close()


def test_an_eio3_client_without_a_token_is_refused_by_the_chat(start_server):
    server = start_server(ALLOW_EIO3="True")
    peer = LegacyPeer(server.url, transports=["polling"])
    try:
        refusal = peer.refusals.get(timeout=TIMEOUT)
        assert refusal == ("Authentication required",), refusal
    finally:
        peer.close()


def test_an_eio3_client_is_refused_by_default(start_server):
    server = start_server()
    response = requests.get(f"{server.url}/socket.io/?EIO=3&transport=polling", timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json() == {"code": 5, "message": "Unsupported protocol version"}
    alice = gs.register(server.url, gs.unique("alice"))
    for transports in (["polling"], ["websocket"]):
        with pytest.raises(socketio.exceptions.ConnectionError):
            LegacyPeer(server.url, alice.cookie, transports)
