"""Three chatify nodes with REDIS_ADAPTER=streams (Node's Redis streams adapter: XADD and
XREAD on the stream `socket.io`, requests over Pub/Sub) and connection state recovery on:
chat, presence and a kick across nodes, a chat message as a stream entry, the entries
Node's streams emitter appends reaching every node, and a client that lost its
connection to one node recovering on another.

python-socketio's client does not implement connection state recovery (it never sends
`pid` and `offset` back), so the recovering client here speaks the Socket.IO protocol
over a raw WebSocket, as the JavaScript client does."""

import json
import secrets

import websocket

import cluster_support as cs
import gateway_support as gs
import scenarios
from cluster_support import NODES, chat_round, room_of

STREAM = "socket.io"


# A cluster of its own, for this module's tests only.
cluster, seeder, nodes_running = cs.own_cluster_fixtures(
    "-streams", {"REDIS_ADAPTER": "streams", "CONNECTION_STATE_RECOVERY": "120"}
)



def test_chat_across_nodes_over_the_stream(cluster, seeder, clients):
    members, _ = cs.joined_members(cluster, seeder, clients, NODES)
    chat_round(members, "streams")


def test_a_chat_message_is_a_stream_entry_as_nodes_streams_adapter_writes_it(cluster, seeder, clients):
    (sender, receiver), key = cs.joined_members(cluster, seeder, clients, (1, 2))
    text = f"into the stream {secrets.token_hex(3)}"
    sender.send(text)
    receiver.wait_text(text)
    redis = cluster.redis()

    def entry():
        # The chat posts to the room's members and, apart, to its watchers (`watch:<key>`).
        for entry_id, fields in redis.xrevrange(STREAM, count=50):
            data = fields.get(b"data", b"")
            if f'"{text}"'.encode() in data and json.loads(data)["opts"]["rooms"] == [key]:
                return entry_id, fields
        return None

    entry_id, fields = cs.wait_until(entry, cs.TIMEOUT, "the chat message in the stream")
    cs.EVIDENCE.append(("stream entry of a chat message", f"{STREAM} {entry_id.decode()}", fields[b"data"]))
    assert list(fields) == [b"uid", b"nsp", b"type", b"data"]
    assert fields[b"nsp"] == b"/" and fields[b"type"] == b"3" and len(fields[b"uid"]) == 16
    data = json.loads(fields[b"data"])
    assert list(data) == ["packet", "opts"]
    assert data["packet"]["type"] == 2 and data["packet"]["data"][0] == "message"
    assert data["opts"]["rooms"] == [key]


def test_presence_counts_users_on_every_node(cluster, seeder, clients):
    """Presence is the cluster-wide fetchSockets: a request over Pub/Sub, not in the stream."""
    scenarios.presence_counts_every_node(cluster, seeder, clients)


def test_a_kick_on_node1_removes_sockets_held_by_other_nodes(cluster, seeder, clients):
    scenarios.kick_across_nodes(cluster, seeder, clients)


def append_as_streams_emitter(cluster, rooms, payload, except_rooms=()):
    """XADDs what @socket.io/redis-streams-emitter appends for
    io.to(rooms).except(except_rooms).emit("message", payload); the entry's id and fields."""
    fields = cs.streams_emitter_fields(rooms, "message", payload, except_rooms)
    with cluster.redis() as redis:
        entry_id = cs.xadd_as_streams_emitter(redis, STREAM, fields)
        [(stored_id, stored)] = redis.xrange(STREAM, entry_id, entry_id)
    assert stored_id.decode() == entry_id
    assert list(stored.items()) == [(name.encode(), value) for name, value in fields]
    return entry_id, fields


def test_streams_emitter_entries_reach_every_node(cluster, seeder, clients):
    members, key = cs.joined_members(cluster, seeder, clients, NODES)
    outsider_users, other_key = room_of(seeder, 1)
    outsider = clients(outsider_users[0], other_key, cluster.node_url(2))
    outsider.wait_joined()
    payload = scenarios.emitter_payload("from a Node service")
    entry_id, fields = append_as_streams_emitter(cluster, [key], payload)
    data = dict(fields)["data"]
    assert data.startswith(b'{"packet":{"type":2,"data":["message",{"username":"Emitter"')
    assert data.endswith(f'"nsp":"/"}},"opts":{{"rooms":["{key}"],"flags":{{}},"except":[]}}}}'.encode())
    cs.EVIDENCE.append(("streams emitter appends", f"{STREAM} {entry_id}", data))
    for client in members:
        client.wait_text(payload["message"])
        assert payload in client.messages
    # A later entry to another room: its member's node read the first entry before it.
    marker = scenarios.emitter_payload("to another room")
    append_as_streams_emitter(cluster, [other_key], marker)
    outsider.wait_text(marker["message"])
    assert payload["message"] not in outsider.texts()
    closing = scenarios.emitter_payload("after the marker")
    append_as_streams_emitter(cluster, [key], closing)
    for client in members:
        client.wait_text(closing["message"])
        assert marker["message"] not in client.texts()


def test_streams_emitter_except_and_multiple_rooms(cluster, seeder, clients):
    members, key = cs.joined_members(cluster, seeder, clients, NODES)

    def publish(rooms, payload, except_rooms=()):
        append_as_streams_emitter(cluster, rooms, payload, except_rooms)

    # Every node applies the entries in stream order.
    scenarios.all_but_one_then_all(members, key, publish)


class RawSocket:
    """Socket.IO v5 over one WebSocket to one node, signed in by cookie; answers pings."""

    def __init__(self, cluster, node, user):
        url = cluster.node_url(node).replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=cs.TIMEOUT, cookie=f"{gs.COOKIE_NAME}={user.token}")
        opening = self.ws.recv()
        assert opening.startswith("0{"), opening

    def connect(self, auth=None):
        self.ws.send("40" + (json.dumps(auth) if auth else ""))
        answer = self.next_packet()
        assert answer.startswith("40{"), answer
        return json.loads(answer[2:])

    def next_packet(self):
        while True:
            packet = self.ws.recv()
            if packet == "2":
                self.ws.send("3")
                continue
            return packet

    def next_event(self, name, predicate=lambda args: True):
        """The arguments of the next event `name` that `predicate` accepts."""
        while True:
            packet = self.next_packet()
            if packet.startswith("42"):
                items = json.loads(packet[2:])
                if items[0] == name and predicate(items[1:]):
                    return items[1:]

    def emit(self, event, payload):
        self.ws.send("42" + json.dumps([event, payload]))

    def cut(self):
        """Drops the connection without a Socket.IO disconnect: the network going away."""
        self.ws.close()


def is_text(text):
    return lambda args: isinstance(args[0], dict) and args[0].get("message") == text


def test_a_client_cut_from_one_node_recovers_on_another(cluster, seeder, clients):
    users, key = room_of(seeder, 2)
    roamer, other = users
    speaker = clients(other, key, cluster.node_url(3))
    speaker.wait_joined()
    first = RawSocket(cluster, 1, roamer)
    session = first.connect()
    assert "pid" in session
    first.emit("join", {"room": key})
    # In the room once it sees its own join notice (a broadcast too).
    first.next_event("message", is_text(f"{roamer.username} has joined the room"))
    before = f"before the cut {secrets.token_hex(3)}"
    speaker.send(before)
    seen = first.next_event("message", is_text(before))
    offset = seen[-1]
    first.cut()
    # Node 1 keeps the session in Redis once it noticed the cut.
    redis = cluster.redis()
    cs.wait_until(lambda: redis.exists("sio:session:" + session["pid"]), cs.TIMEOUT, "the session in Redis")
    missed = [f"while away {n} {secrets.token_hex(3)}" for n in (1, 2)]
    for text in missed:
        speaker.send(text)
    speaker.wait_text(missed[-1])

    second = RawSocket(cluster, 2, roamer)
    resumed = second.connect({"pid": session["pid"], "offset": offset})
    assert resumed["sid"] == session["sid"]
    for text in missed:
        args = second.next_event("message", is_text(text))
        assert isinstance(args[-1], str) and args[-1] != offset
    after = f"after the return {secrets.token_hex(3)}"
    speaker.send(after)
    second.next_event("message", is_text(after))
    second.cut()
