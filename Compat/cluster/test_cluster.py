"""Three chatify nodes sharing rooms through a real redis-server, behind nginx:
messages across nodes (WebSocket, polling, direct), a kick on one node reaching a
socket held by another, cluster queries on the request channel, a frozen node
(SIGSTOP), and wire compatibility with @socket.io/redis-emitter."""

import json
import secrets
import signal
import threading
import time

import msgpack
import pytest

import cluster_support as cs
import scenarios
from cluster_support import NODES, chat_round, room_of

REQUEST_CHANNEL = "socket.io-request#/#"
RESPONSE_CHANNEL = "socket.io-response#/#"


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_room_across_nodes_through_nginx(cluster, seeder, clients, transport):
    users, key = room_of(seeder, 3)
    members = [clients(user, key, cluster.url, transport, pin=f"node{k}") for user, k in zip(users, NODES)]
    for client in members:
        client.wait_joined()
    # nginx kept each session on the node its cookie names (the handshake re-set it there),
    # and on the node log: a polling session that hopped nodes would get "unknown sid".
    assert [c.node for c in members] == ["node1", "node2", "node3"]
    if transport == "websocket":
        cs.wait_until(lambda: all(c.client.transport() == "websocket" for c in members), 5, "the upgrades")
    else:
        assert all(c.client.transport() == "polling" for c in members)
    # The first member (node1) sees the later ones join on nodes 2 and 3.
    for other in members[1:]:
        cs.wait_until(lambda: members[0].joined(other.user.username), cs.TIMEOUT, f"{other.user.username}'s join on node1")
    chat_round(members, f"hello over {transport}")


def test_new_clients_spread_over_the_nodes(cluster, seeder, clients):
    """Without a cookie nginx balances handshakes (least connections) over every node."""
    users, key = room_of(seeder, 6)
    members = [clients(user, key, cluster.url, "polling") for user in users]
    for client in members:
        client.wait_joined()
    assert {c.node for c in members} == {"node1", "node2", "node3"}, [c.node for c in members]
    chat_round(members, "spread")


def test_room_across_nodes_direct(cluster, seeder, clients):
    users, key = room_of(seeder, 3)
    members = [clients(user, key, cluster.node_url(k), "websocket") for user, k in zip(users, NODES)]
    for client in members:
        client.wait_joined()
    assert [c.node for c in members] == ["node1", "node2", "node3"]
    chat_round(members, "direct")


def test_join_notice_reaches_other_nodes(cluster, seeder, clients):
    users, key = room_of(seeder, 2)
    first = clients(users[0], key, cluster.node_url(1))
    first.wait_joined()
    second = clients(users[1], key, cluster.node_url(3))
    second.wait_joined()
    cs.wait_until(lambda: first.joined(users[1].username), cs.TIMEOUT, "node1's member to see node3's join")


def test_kick_on_node1_removes_a_socket_held_by_node2(cluster, seeder, clients):
    scenarios.kick_across_nodes(cluster, seeder, clients)


class RequestChannel:
    """Publishes cluster requests as another node would and collects the answers."""

    def __init__(self, cluster):
        self.redis = cluster.redis()
        self.pubsub = self.redis.pubsub()
        self.pubsub.subscribe(RESPONSE_CHANNEL)
        first = self.pubsub.get_message(timeout=cs.TIMEOUT)
        assert first and first["type"] == "subscribe", first

    def ask(self, request_type, expect, timeout, **fields):
        request_id = secrets.token_hex(8)
        message = {"uid": "pytest", "requestId": request_id, "type": request_type, **fields}
        receivers = self.redis.publish(REQUEST_CHANNEL, json.dumps(message))
        responses = []
        deadline = time.monotonic() + timeout
        while len(responses) < expect and time.monotonic() < deadline:
            got = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if got and got["type"] == "message":
                decoded = json.loads(got["data"])
                if decoded.get("requestId") == request_id:
                    responses.append(decoded)
        return receivers, responses

    def close(self):
        self.pubsub.close()
        self.redis.close()


@pytest.fixture
def requests_channel(cluster):
    channel = RequestChannel(cluster)
    yield channel
    channel.close()


def test_remote_fetch_is_answered_by_every_node(cluster, seeder, clients, requests_channel):
    users, key = room_of(seeder, 3)
    members = [clients(user, key, cluster.node_url(k), "websocket") for user, k in zip(users, NODES)]
    for client in members:
        client.wait_joined()
    receivers, responses = requests_channel.ask(5, 3, cs.TIMEOUT, opts={"rooms": [key], "except": []})
    assert receivers == 3  # every node listens on the request channel
    assert len(responses) == 3, responses
    fetched = {s["id"]: s for r in responses for s in r["sockets"]}
    assert set(fetched) == {c.sid for c in members}
    for client in members:
        socket = fetched[client.sid]
        # Its own room, the chat room, its user's room (kicks) and its token's (logout).
        token_rooms = [room for room in socket["rooms"] if room.startswith("token:")]
        assert len(token_rooms) == 1, socket["rooms"]
        assert set(socket["rooms"]) == {client.sid, key, f"user:{client.user.id}", token_rooms[0]}
        assert socket["handshake"]["url"].startswith("/socket.io/")
    # ALL_ROOMS and SOCKETS as @socket.io/redis-adapter asks them.
    _, rooms = requests_channel.ask(1, 3, cs.TIMEOUT)
    assert len(rooms) == 3 and all(key in r["rooms"] for r in rooms)
    _, sockets = requests_channel.ask(0, 3, cs.TIMEOUT, rooms=[key])
    assert sorted(s for r in sockets for s in r["sockets"]) == sorted(c.sid for c in members)


def test_a_frozen_node_is_tolerated(cluster, seeder, clients, requests_channel):
    users, key = room_of(seeder, 3)
    one, two, three = (clients(user, key, cluster.node_url(k), "websocket") for user, k in zip(users, NODES))
    for client in (one, two, three):
        client.wait_joined()
    chat_round([one, two, three], "before the freeze")

    cluster.signal_node(2, signal.SIGSTOP)
    cs.wait_until(lambda: cluster.node_state(2) == "T", 5, "node2 to stop")
    try:
        # A cluster query: node2 does not answer, the others do; the request times out
        # after its deadline instead of hanging.
        started = time.monotonic()
        _, responses = requests_channel.ask(5, 3, 1.5, opts={"rooms": [key], "except": []})
        waited = time.monotonic() - started
        assert len(responses) == 2 and 1.4 <= waited < 3, (responses, waited)
        assert {s["id"] for r in responses for s in r["sockets"]} == {one.sid, three.sid}
        # Nodes 1 and 3 keep serving pages and chatting with each other, quickly.
        for k in (1, 3):
            assert cs.requests.get(cluster.node_url(k) + "/login", timeout=2).status_code == 200
        missed = []
        for sender in (one, three, one):
            text = f"while node2 sleeps {secrets.token_hex(3)}"
            started = time.monotonic()
            sender.send(text)
            one.wait_text(text, timeout=2)
            three.wait_text(text, timeout=2)
            assert time.monotonic() - started < 2
            missed.append(text)
        assert cluster.node_state(2) == "T"
        assert not any(t in two.texts() for t in missed)
    finally:
        cluster.signal_node(2, signal.SIGCONT)
    # Back: node2 catches up on what Redis kept for it and answers again.
    for text in missed:
        two.wait_text(text)
    chat_round([one, two, three], "after SIGCONT")
    _, responses = requests_channel.ask(5, 3, cs.TIMEOUT, opts={"rooms": [key], "except": []})
    assert len(responses) == 3


# --------------------------------------------------------------------------- the emitter's bytes


def test_redis_emitter_broadcast_reaches_every_node(cluster, seeder, clients):
    users, key = room_of(seeder, 3)
    members = [clients(user, key, cluster.node_url(k), t) for user, k, t in zip(users, NODES, ("websocket", "polling", "websocket"))]
    outsider_users, other_key = room_of(seeder, 1)
    outsider = clients(outsider_users[0], other_key, cluster.node_url(2))
    for client in members + [outsider]:
        client.wait_joined()
    payload = {"username": "Emitter", "message": f"from a Node service {secrets.token_hex(3)}", "timestamp": "12:00"}
    channel, message = cs.emitter_message(key, "message", payload)
    # The hand-built bytes are what a MessagePack library writes for the same values.
    assert message == msgpack.packb(
        ["emitter", {"type": 2, "data": ["message", payload], "nsp": "/"}, {"rooms": [key], "flags": {}, "except": []}]
    )
    assert message.startswith(b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa7message")
    cs.EVIDENCE.append(("emitter publishes", channel, message))
    with cluster.redis() as redis:
        assert redis.publish(channel, message) == 3
    for client in members:
        client.wait_text(payload["message"])
    assert client.messages[-1] == payload
    # Not to another room's members.
    marker = f"marker {secrets.token_hex(3)}"
    channel, message = cs.emitter_message(other_key, "message", {"username": "Emitter", "message": marker, "timestamp": "12:00"})
    with cluster.redis() as redis:
        redis.publish(channel, message)
    outsider.wait_text(marker)
    assert payload["message"] not in outsider.texts()
    # The members are asserted about: wait on them for a later broadcast to their room.
    closing = {"username": "Emitter", "message": f"after the marker {secrets.token_hex(3)}", "timestamp": "12:00"}
    channel, message = cs.emitter_message(key, "message", closing)
    with cluster.redis() as redis:
        redis.publish(channel, message)
    for client in members:
        client.wait_text(closing["message"])
    assert all(marker not in c.texts() for c in members)


def test_redis_emitter_except_and_multiple_rooms(cluster, seeder, clients):
    users, key = room_of(seeder, 2)
    a = clients(users[0], key, cluster.node_url(1))
    b = clients(users[1], key, cluster.node_url(3))
    for client in (a, b):
        client.wait_joined()
    # io.to([room, "nobody"]).except(`user:<b>`).emit(...): several rooms go on the
    # namespace channel `socket.io#/#`.
    text = f"except b {secrets.token_hex(3)}"
    packet = {"type": 2, "data": ["message", {"username": "Emitter", "message": text}], "nsp": "/"}
    opts = {"rooms": [key, "nobody"], "flags": {}, "except": [f"user:{users[1].id}"]}
    with cluster.redis() as redis:
        redis.publish("socket.io#/#", cs.mp(["emitter", packet, opts]))
    a.wait_text(text)
    after = f"to both {secrets.token_hex(3)}"
    a.send(after)
    b.wait_text(after)
    assert text not in b.texts()


def test_what_our_nodes_publish_decodes_as_documented(cluster, seeder, clients):
    users, key = room_of(seeder, 2)
    sender = clients(users[0], key, cluster.node_url(2))
    sender.wait_joined()
    with cluster.redis() as redis:
        pubsub = redis.pubsub()
        pubsub.psubscribe("socket.io#/#*")
        assert pubsub.get_message(timeout=cs.TIMEOUT)["type"] == "psubscribe"
        text = f"decode me {secrets.token_hex(3)}"
        sender.send(text)
        deadline = time.monotonic() + cs.TIMEOUT
        found = None
        while found is None and time.monotonic() < deadline:
            got = pubsub.get_message(timeout=0.5)
            if got and got["type"] == "pmessage":
                decoded = msgpack.unpackb(got["data"])
                if decoded[1]["data"][1].get("message") == text:
                    found = (got["channel"].decode(), got["data"], decoded)
        pubsub.close()
    assert found, "no broadcast of the message seen on Redis"
    channel, raw, decoded = found
    cs.EVIDENCE.append(("node2 publishes", channel, raw))
    assert channel == f"socket.io#/#{key}#"
    uid, packet, opts = decoded
    assert isinstance(uid, str) and len(uid) == 6
    assert packet == {
        "type": 2,
        "data": ["message", {"username": users[0].username, "message": text, "timestamp": packet["data"][1]["timestamp"], "user_id": users[0].id}],
        "nsp": "/",
    }
    assert list(packet["data"][1]) == ["username", "message", "timestamp", "user_id"]
    # The room's watchers get the message with its id in a second broadcast, so the old
    # payload goes to everyone else.
    assert opts == {"rooms": [key], "except": [f"watch:{key}"], "flags": {}}


def test_presence_counts_users_across_nodes(cluster, seeder, clients):
    """Presence comes from the cluster-wide fetchSockets: users on three nodes, one of
    them with two tabs on two nodes, count once each."""
    users, key = room_of(seeder, 3)
    watcher = clients(users[0], None, cluster.node_url(1))
    seen = []
    cond = threading.Condition()

    def on_presence(payload):
        with cond:
            seen.append(payload)
            cond.notify_all()

    def wait_presence(count):
        with cond:
            ok = cond.wait_for(lambda: any(p["count"] == count for p in seen), cs.TIMEOUT)
        assert ok, f"no presence with count {count} within {cs.TIMEOUT} s: {seen}"

    watcher.client.on("presence", on_presence)
    watcher.client.call("join", {"room": key, "presence": True}, timeout=cs.TIMEOUT)
    first = clients(users[1], key, cluster.node_url(2))
    tab = clients(users[1], key, cluster.node_url(3), "polling")
    other = clients(users[2], key, cluster.node_url(3))
    for client in (first, tab, other):
        client.wait_joined()
    wait_presence(3)
    answer = watcher.client.call("presence", {"room": key}, timeout=cs.TIMEOUT)
    assert answer["count"] == 3 and {u["user_id"] for u in answer["users"]} == {u.id for u in users}

    first.close()  # the tab on node3 keeps that user present
    assert watcher.client.call("presence", {"room": key}, timeout=cs.TIMEOUT)["count"] == 3
    with cond:
        seen.clear()
    tab.close()
    wait_presence(2)
    answer = watcher.client.call("presence", {"room": key}, timeout=cs.TIMEOUT)
    assert {u["user_id"] for u in answer["users"]} == {users[0].id, users[2].id}


def test_redis_restart_mid_chat(cluster, seeder, clients):
    """Redis stops under a chat: each node keeps its own members talking; what is published
    meanwhile is lost, as with Node's adapter; once Redis is back every node subscribes
    again and messages cross nodes without anyone reconnecting. A node says once that it
    lost Redis, not once per retry."""
    users, key = room_of(seeder, 4)
    near, neighbour, far, far_neighbour = [
        clients(user, key, cluster.node_url(k), "websocket") for user, k in zip(users, (1, 1, 2, 2))
    ]
    members = [near, neighbour, far, far_neighbour]
    for client in members:
        client.wait_joined()
    chat_round(members, "before the outage")
    connects = [c.connects for c in members]
    log_before = len(cluster.node_log(1))

    try:
        cluster.stop_redis()
        during = f"while redis is down {secrets.token_hex(3)}"
        near.send(during)
        neighbour.wait_text(during)
        far_during = f"node2 while redis is down {secrets.token_hex(3)}"
        far.send(far_during)
        far_neighbour.wait_text(far_during)
    finally:
        cluster.start_redis()

    # The nodes subscribe again on their own; messages cross once they have.
    attempt = [0]

    def crossed():
        attempt[0] += 1
        probe = f"after the restart {attempt[0]}"
        near.send(probe)
        with far.cond:
            return far.cond.wait_for(lambda: probe in far.texts_unlocked(), 1.0)

    cs.wait_until(crossed, cs.TIMEOUT * 3, "a message from node1 to reach node2 after the restart", interval=0)
    chat_round(members, "after the outage")
    assert during not in far.texts() and during not in far_neighbour.texts(), "published during the outage"
    assert far_during not in near.texts() and far_during not in neighbour.texts(), "published during the outage"
    assert [c.connects for c in members] == connects, "no client had to reconnect"
    # One warning per connection for the whole outage, however many retries it took.
    warnings = [line for line in cluster.node_log(1)[log_before:].splitlines() if " warning " in line]
    assert len(warnings) == 2 and any("subscriber" in w for w in warnings) and any("publisher" in w for w in warnings), (
        warnings
    )
