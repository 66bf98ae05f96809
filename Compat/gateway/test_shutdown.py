"""SIGTERM: the gateway tells every Socket.IO client it is leaving (a namespace
DISCONNECT, then the Engine.IO close), over both transports, and exits cleanly."""

import signal
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
