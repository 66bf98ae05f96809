"""Slow clients may not hold connections: a request head, a whole request and the idle
time between requests are bounded, and so are the TCP connections of one peer address.
A long-poll the server holds and an upgraded WebSocket are not cut.

The slow connections come from 127.0.0.2 (Linux routes all of 127/8 to the loopback),
the well-behaved users from 127.0.0.1, so the per-address cap tells them apart.
"""

import http.client
import socket
import time

import gateway_support as gs
import socketio_support as ss

SLOW_ADDRESS = "127.0.0.2"
CLOSE_TIMEOUT = 15.0  # seconds a timed-out connection gets to be closed by the server
HALF_A_HEAD = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: hal"


def connect_from(port, source=SLOW_ADDRESS):
    connection = socket.create_connection(("127.0.0.1", port), timeout=gs.HTTP_TIMEOUT, source_address=(source, 0))
    return connection


def slow_connection(port):
    """A connection that sends half a request head, then nothing."""
    connection = connect_from(port)
    connection.sendall(HALF_A_HEAD)
    return connection


def wait_closed(connection, timeout=CLOSE_TIMEOUT):
    """What the server sent before it closed the connection; fails if it stays open."""
    connection.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                return received
            received += chunk
    except ConnectionResetError:
        return received
    except socket.timeout:
        raise AssertionError(f"the server kept the connection open for {timeout} s (got {received[:200]!r})") from None
    finally:
        connection.close()


def login_page_over(connection):
    """Sends a whole GET /login; the status line of the answer, or None when the
    connection is closed without one."""
    try:
        connection.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        connection.close()
        return None
    answer = wait_closed(connection)
    return answer.split(b"\r\n", 1)[0].decode() if answer else None


def wait_message(peer, text):
    """Waits for a chat message with `text` (join notices may come in between)."""
    with peer._cond:
        found = peer._cond.wait_for(
            lambda: any(e == "message" and isinstance(p, dict) and p.get("message") == text for e, p in peer.events),
            ss.TIMEOUT,
        )
    assert found, f"client {peer.name}: no message {text!r} within {ss.TIMEOUT} s; got {peer.events}"


def assert_a_user_is_served(server, peers, users, key, suffix):
    """GET /login, and a polling and a WebSocket client that join a room and talk."""
    assert gs.http(server.url, "GET", "/login").status_code == 200
    polling = peers(f"P{suffix}", server.url, "polling", cookie=users["alice"].cookie)
    websocket = peers(f"W{suffix}", server.url, "websocket", cookie=users["bob"].cookie)
    for peer in (polling, websocket):
        peer.emit("join", {"room": key})
        peer.wait_event("message")
    websocket.emit("message", {"room": key, "message": f"hello {suffix}"})
    wait_message(polling, f"hello {suffix}")
    return polling, websocket


def test_slow_request_heads_are_closed_while_users_are_served(start_server, peers):
    server = start_server(HTTP_HEADERS_TIMEOUT="1", MAX_TCP_CONNECTIONS_PER_IP="100")
    users, key = ss.users_and_room(server.url)
    slow = [slow_connection(server.port) for _ in range(50)]
    polling, websocket = assert_a_user_is_served(server, peers, users, key, "1")
    for connection in slow:
        answer = wait_closed(connection)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]
    # The users' connections were not slow: they are still there.
    assert polling.client.connected and websocket.client.connected
    polling.emit("message", {"room": key, "message": "still here"})
    wait_message(websocket, "still here")


def test_tcp_connections_per_address_are_capped(start_server, peers):
    server = start_server(MAX_TCP_CONNECTIONS_PER_IP="20")
    users, key = ss.users_and_room(server.url)
    held = [slow_connection(server.port) for _ in range(20)]
    # The 21st connection from that address is closed without an answer.
    assert login_page_over(connect_from(server.port)) is None
    # Another address is not affected.
    assert_a_user_is_served(server, peers, users, key, "1")
    # Closing one of the 20 makes room for one more.
    held.pop().close()
    deadline = time.monotonic() + CLOSE_TIMEOUT
    status = None
    while status is None and time.monotonic() < deadline:
        status = login_page_over(connect_from(server.port))
    assert status == "HTTP/1.1 200 OK", status
    for connection in held:
        connection.close()


def test_idle_keep_alive_connection_is_closed(start_server):
    server = start_server(HTTP_KEEP_ALIVE_TIMEOUT="1")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=gs.HTTP_TIMEOUT)
    connection.request("GET", "/login")
    response = connection.getresponse()
    response.read()
    assert response.status == 200 and not response.will_close
    assert wait_closed(connection.sock) == b""


def test_request_body_sent_too_slowly_is_closed(start_server):
    server = start_server(HTTP_REQUEST_TIMEOUT="1")
    connection = connect_from(server.port)
    connection.sendall(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 100\r\n\r\nusername=a"
    )
    wait_closed(connection)


def test_long_poll_and_websocket_outlive_the_timeouts(start_server, peers):
    server = start_server(HTTP_HEADERS_TIMEOUT="1", HTTP_REQUEST_TIMEOUT="1", HTTP_KEEP_ALIVE_TIMEOUT="1")
    users, key = ss.users_and_room(server.url)
    polling, websocket = assert_a_user_is_served(server, peers, users, key, "1")
    # The polling client's next GET is now held by the server. A slow connection opened
    # after it is closed once the timeouts have passed: by then the GET has been held
    # longer than all of them.
    wait_closed(slow_connection(server.port))
    websocket.emit("message", {"room": key, "message": "after the timeouts"})
    wait_message(polling, "after the timeouts")
    polling.emit("message", {"room": key, "message": "and back"})
    wait_message(websocket, "and back")
    assert polling.client.connected and websocket.client.connected
