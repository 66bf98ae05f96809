"""Connection state recovery in the chat (``CONNECTION_STATE_RECOVERY``), driven by a raw
Engine.IO v4 WebSocket client that sends exactly what socket.io-client 4.6+ sends on a
reconnect (``40{"pid":…,"offset":…}``), so each packet can be checked:

- a socket whose TCP connection was cut gets its id back and the messages it missed,
  and its page's usual re-``join`` announces nothing to the others;
- a user kicked while away is not put back into the room and gets nothing posted after
  the kick;
- with recovery off (the default), CONNECT answers and messages are the old ones.

Every read has a timeout; there is no sleep.
"""

import json
import socket

import websocket

import gateway_support as gs
from socketio_support import users_and_room

TIMEOUT = 10.0


class RawSocketIO:
    """One Engine.IO v4 WebSocket session speaking Socket.IO packets by hand."""

    def __init__(self, base, user):
        url = base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, header=[f"Cookie: {user.cookie}"], timeout=TIMEOUT)
        opening = self.ws.recv()
        assert opening.startswith("0{"), opening

    def send(self, packet):
        self.ws.send("4" + packet)

    def next(self):
        """The next Socket.IO packet (without the Engine.IO 4); pings are answered."""
        while True:
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
                continue
            assert frame.startswith("4"), f"unexpected Engine.IO packet {frame!r}"
            return frame[1:]

    def connect(self, auth=None):
        self.send("0" + (json.dumps(auth, separators=(",", ":")) if auth else ""))
        answer = self.next()
        assert answer.startswith("0{"), answer
        return json.loads(answer[1:])

    def emit(self, event, payload, ack_id):
        self.send(f"2{ack_id}" + json.dumps([event, payload], separators=(",", ":")))

    def next_event(self):
        packet = self.next()
        assert packet.startswith("2["), f"expected an event, got {packet!r}"
        return json.loads(packet[1:])

    def expect_ack(self, ack_id):
        assert self.next() == f"3{ack_id}[]"

    def cut(self):
        """Drops the TCP connection without a WebSocket close, as a lost signal does."""
        self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.ws.sock.close()

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass


def emit_and_see(client, event, payload, ack_id):
    """Emits an event whose broadcast reaches the sender too: the broadcast comes before
    the ack (the handler broadcasts, then acks)."""
    client.emit(event, payload, ack_id)
    seen = client.next_event()
    client.expect_ack(ack_id)
    return seen


def both_in_the_room(start_server):
    """A server with recovery on; alice and bob connected and joined to alice's room, as
    their pages do. Returns the server, users, room key, both clients, bob's CONNECT
    answer and the offset of the last broadcast he saw."""
    server = start_server(CONNECTION_STATE_RECOVERY="60")
    users, key = users_and_room(server.url)
    alice = RawSocketIO(server.url, users["alice"])
    bob = RawSocketIO(server.url, users["bob"])
    assert set(alice.connect()) == {"sid", "pid"}
    first = bob.connect()
    assert emit_and_see(alice, "join", {"room": key}, 1)[1]["message"] == "alice has joined the room"
    notice = emit_and_see(bob, "join", {"room": key}, 1)
    assert notice[1]["message"] == "bob has joined the room" and isinstance(notice[2], str), notice
    assert alice.next_event()[1]["message"] == "bob has joined the room"
    return server, users, key, alice, bob, first, notice[2]


def test_a_cut_socket_recovers_its_id_and_missed_messages_without_a_second_join_notice(start_server):
    server, users, key, alice, bob, first, offset = both_in_the_room(start_server)
    try:
        bob.cut()
        for n in (1, 2):
            seen = emit_and_see(alice, "message", {"room": key, "message": f"while away {n}"}, 10 + n)
            assert seen[1]["message"] == f"while away {n}"

        back = RawSocketIO(server.url, users["bob"])
        try:
            resumed = back.connect({"pid": first["pid"], "offset": offset})
            assert resumed == first, f"not recovered: {resumed} after {first}"
            for n in (1, 2):
                event = back.next_event()
                assert event[0] == "message" and event[1]["message"] == f"while away {n}", event
                assert list(event[1]) == ["username", "message", "timestamp", "user_id"] and len(event) == 3
            # The page re-emits join on connect: acked, and nobody is told again.
            back.emit("join", {"room": key}, 5)
            back.expect_ack(5)
            seen = emit_and_see(alice, "message", {"room": key, "message": "welcome back"}, 20)
            assert seen[1]["message"] == "welcome back", "alice saw something before her message"
            assert back.next_event()[1]["message"] == "welcome back", "bob saw something before alice's message"
        finally:
            back.close()
    finally:
        alice.close()
        bob.close()


def test_a_user_kicked_while_away_is_not_put_back_into_the_room(start_server):
    server, users, key, alice, bob, first, offset = both_in_the_room(start_server)
    try:
        bob.cut()
        assert emit_and_see(alice, "kick_user", {"room": key, "target_user_id": users["bob"].id}, 30)[0] == "user_kicked"
        assert emit_and_see(alice, "message", {"room": key, "message": "after the kick"}, 31)[1]["message"] == "after the kick"

        back = RawSocketIO(server.url, users["bob"])
        try:
            assert back.connect({"pid": first["pid"], "offset": offset}) == first
            back.emit("join", {"room": key}, 7)
            # Nothing posted after the kick was replayed: the first packet is the refusal.
            assert back.next_event() == ["chat_error", {"event": "join", "message": "You are not a member of this room."}]
            back.expect_ack(7)
        finally:
            back.close()
    finally:
        alice.close()
        bob.close()


def test_with_recovery_off_connect_answers_and_messages_are_the_old_ones(start_server):
    server = start_server()
    users, key = users_and_room(server.url)
    alice = RawSocketIO(server.url, users["alice"])
    try:
        assert set(alice.connect({"pid": "made-up", "offset": "made-up"})) == {"sid"}
        event = emit_and_see(alice, "join", {"room": key}, 1)
        assert len(event) == 2 and event[1]["message"] == "alice has joined the room", event
    finally:
        alice.close()
