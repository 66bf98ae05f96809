"""SIGTERM: the gateway tells every Socket.IO client it is leaving (a namespace
DISCONNECT, then the Engine.IO close), over both transports, and exits cleanly."""

import signal
import subprocess
import threading

import pytest

import gateway_support as gs
import socketio_support as ss


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_sigterm_closes_sessions_cleanly(start_server, peers, transport):
    server = start_server()
    users, key = ss.users_and_room(server.url)
    alice = users["alice"]
    disconnected = threading.Event()
    reasons = []
    peer = peers("A", server.url, transport, cookie=alice.cookie, connect=False)

    @peer.client.event
    def disconnect(reason=None):
        reasons.append(reason)
        disconnected.set()

    peer.connect()
    peer.emit("join", {"room": key})
    peer.wait_event("message")

    server.stopped_on_purpose = True
    server._signal(signal.SIGTERM)
    assert disconnected.wait(10), "the client was not told the server went away"
    assert server.process.wait(timeout=15) == 0, server.tail()
    # A namespace DISCONNECT from the server, not a broken transport.
    assert "41" in peer.server_packets()
    assert reasons == [peer.client.reason.SERVER_DISCONNECT]


def test_sigterm_exits_once_sessions_are_closed(start_server, peers):
    """The grace bounds a client that never collects its close; it is not a wait."""
    server = start_server(SHUTDOWN_GRACE="30")
    names = ("alice", "bob", "carol", "dave")
    users, key = ss.users_and_room(server.url, names=names, members=names[1:])
    disconnects = {}
    for name, transport in zip(names, ("websocket", "websocket", "polling", "polling")):
        peer = peers(name, server.url, transport, cookie=users[name].cookie, connect=False)
        disconnects[name] = threading.Event()
        peer.client.on("disconnect", lambda reason=None, name=name: disconnects[name].set())
        peer.connect()
        peer.emit("join", {"room": key})
        peer.wait_event("message")

    server.stopped_on_purpose = True
    server._signal(signal.SIGTERM)
    for name, disconnected in disconnects.items():
        assert disconnected.wait(10), f"{name} was not told the server went away"
    try:
        code = server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 20 s after SIGTERM with every session closed. Its output:\n{server.tail()}")
    assert code == 0, server.tail()
