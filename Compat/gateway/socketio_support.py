"""Stock python-socketio clients that record what they receive and what goes over the wire.

``Peer`` wraps one unchanged ``socketio.Client``. It records

* every event its callbacks receive (a catch-all handler), with a condition to wait on;
* the ``connect_error`` data;
* every Engine.IO packet per direction, without modifying the client: the engine.io
  client's ``_send_request`` is wrapped on the instance (polling: POST bodies and GET
  answers, split on the record separator), and ``websocket.create_connection`` as the
  engine.io client module sees it is wrapped for the duration of a test (the frames
  the client sends and receives on its WebSocket).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse

import engineio.client
import socketio

import gateway_support as gs

TIMEOUT = 5.0  # seconds for anything the server is expected to do
QUIET = 0.5  # seconds of an "and nothing else arrives" window after a round trip

TRANSPORTS = {
    # the recordings' two modes
    "polling": ["polling"],
    "websocket": None,  # client default: polling handshake, then the upgrade
}

_PEERS = []  # live peers, for the WebSocket wrapper to find its owner
_PEERS_LOCK = threading.Lock()


class RecordingWebSocket:
    """A websocket-client connection that logs its frames into a Peer."""

    def __init__(self, ws, peer):
        self._ws = ws
        self._peer = peer

    def send(self, data, *args, **kwargs):
        self._peer.log("c2s", data, "ws")
        return self._ws.send(data, *args, **kwargs)

    def send_binary(self, data, *args, **kwargs):
        self._peer.log("c2s", data, "ws")
        return self._ws.send_binary(data, *args, **kwargs)

    def recv(self, *args, **kwargs):
        data = self._ws.recv(*args, **kwargs)
        if data:
            self._peer.log("s2c", data, "ws")
        return data

    def close(self, *args, **kwargs):
        self._peer.log("c2s", "<close>", "ws")
        return self._ws.close(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ws, name)


def install_websocket_recorder(monkeypatch):
    """Wraps the engine.io client's WebSocket factory (for one test, via `monkeypatch`):
    the connection of an upgrade is wrapped in a RecordingWebSocket of the Peer whose
    Engine.IO session id is in the URL."""
    original = engineio.client.websocket.create_connection

    def create_connection(url, *args, **kwargs):
        ws = original(url, *args, **kwargs)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        sid = (query.get("sid") or [None])[0]
        with _PEERS_LOCK:
            owners = [p for p in _PEERS if sid is not None and p.client.eio.sid == sid]
        if len(owners) == 1:
            return RecordingWebSocket(ws, owners[0])
        return ws

    monkeypatch.setattr(engineio.client.websocket, "create_connection", create_connection)


class Peer:
    """One stock socketio.Client, as one of the recordings' clients (A, B, C, X)."""

    def __init__(self, name, base_url, transport, cookie=None):
        self.name = name
        self.base_url = base_url
        self.transport = transport
        self.cookie = cookie
        self.client = socketio.Client(reconnection=False)
        self.events = []  # [event, payload]
        self.connect_errors = []
        self.packets = []  # (direction, packet, carrier)
        self.http = []  # (method, status, content type, body) of polling requests
        self._cond = threading.Condition()
        self.client.on("*", self._on_event)
        self.client.on("connect_error", self._on_connect_error)
        original = self.client.eio._send_request

        def send_request(method, url, headers=None, body=None, timeout=None):
            if method == "POST" and body:
                text = body.decode("utf-8") if isinstance(body, bytes) else body
                for packet in text.split("\x1e"):
                    self.log("c2s", packet, "polling")
            response = original(method, url, headers=headers, body=body, timeout=timeout)
            if response is not None and not isinstance(response, str):
                content = response.content.decode("utf-8", "replace")
                self.http.append((method, response.status_code, response.headers.get("Content-Type"), content))
                if method == "GET" and 200 <= response.status_code < 300 and content:
                    for packet in content.split("\x1e"):
                        self.log("s2c", packet, "polling")
            return response

        self.client.eio._send_request = send_request
        with _PEERS_LOCK:
            _PEERS.append(self)

    # recording
    def log(self, direction, packet, carrier):
        with self._cond:
            self.packets.append((direction, packet, carrier))
            self._cond.notify_all()

    def _on_event(self, event, *args):
        payload = args[0] if len(args) == 1 else list(args)
        with self._cond:
            self.events.append([event, payload])
            self._cond.notify_all()

    def _on_connect_error(self, *data):
        with self._cond:
            self.connect_errors.append(data[0] if len(data) == 1 else list(data))
            self._cond.notify_all()

    # actions
    def connect(self):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.client.connect(
            self.base_url,
            headers=headers,
            transports=TRANSPORTS[self.transport],
            wait_timeout=TIMEOUT,
        )

    def emit(self, event, *args):
        self.client.emit(event, args[0] if len(args) == 1 else args)

    def call(self, event, data, timeout=TIMEOUT):
        return self.client.call(event, data, timeout=timeout)

    # waiting
    def wait_events(self, count, timeout=TIMEOUT, what=None):
        with self._cond:
            done = self._cond.wait_for(lambda: len(self.events) >= count, timeout)
            if not done:
                raise AssertionError(
                    f"client {self.name}: expected {count} events{' (' + what + ')' if what else ''} within "
                    f"{timeout} s, got {len(self.events)}: {self.events}"
                )
            return list(self.events)

    def wait_event(self, event, timeout=TIMEOUT, start=0):
        """The payload of the first `event` at or after index `start`."""
        with self._cond:
            found = []

            def find():
                for entry in self.events[start:]:
                    if entry[0] == event:
                        found.append(entry[1])
                        return True
                return False

            if not self._cond.wait_for(find, timeout):
                raise AssertionError(f"client {self.name}: no {event!r} within {timeout} s; got {self.events}")
            return found[0]

    def linger(self, count, within=QUIET):
        """Gives events beyond the first `count` `within` seconds to show up."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) > count, within)

    def snapshot(self):
        with self._cond:
            return list(self.events), list(self.packets)

    def server_packets(self, packets=None):
        packets = self.packets if packets is None else packets
        return [p for d, p, _ in packets if d == "s2c"]

    def client_packets(self, packets=None):
        packets = self.packets if packets is None else packets
        return [p for d, p, _ in packets if d == "c2s"]

    def close(self):
        """Disconnects (the stock way) without hanging the test on a stuck long-poll."""
        done = threading.Event()

        def run():
            try:
                self.client.disconnect()
            except Exception:  # already gone
                pass
            finally:
                done.set()

        threading.Thread(target=run, daemon=True).start()
        finished = done.wait(TIMEOUT)
        with _PEERS_LOCK:
            if self in _PEERS:
                _PEERS.remove(self)
        return finished


class PeerFactory:
    """Makes Peers; `close_all()` disconnects every one of them."""

    def __init__(self):
        self.created = []

    def __call__(self, name, base_url, transport, cookie=None, connect=True):
        peer = Peer(name, base_url, transport, cookie)
        self.created.append(peer)
        if connect:
            peer.connect()
        return peer

    def close_all(self):
        for peer in self.created:
            peer.close()


def decode_event_packet(packet):
    """'42["name",{...}]' -> ["name", {...}] (key order kept); None for other packets."""
    found = re.match(r"^42(\d*)(\[.*)$", packet, re.DOTALL)
    if not found:
        return None
    return json.loads(found.group(2))


def event_packet(event, payload):
    return "42" + json.dumps([event, payload], separators=(",", ":"), ensure_ascii=False)


ROOM_ERROR = "You are not a member of this room."
EXPIRED = "Your session has expired. Please log in again."


def chat_error(event, message):
    return ["chat_error", {"event": event, "message": message}]


def users_and_room(base, names=("alice", "bob"), members=("bob",), room_name="General"):
    """Registers the users (the first creates the room), joins `members` over HTTP."""
    users = {name: gs.register(base, name, email=f"{name}@example.com", password=f"pw-{name}") for name in names}
    key = gs.create_room(base, users[names[0]], room_name)
    for name in members:
        gs.join_room(base, users[name], key)
    return users, key
