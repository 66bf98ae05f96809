"""Scenarios of the cluster suite that every Redis adapter mode must pass: each module
runs them against its own cluster (classic Pub/Sub, sharded Pub/Sub on one Redis or on
a Redis Cluster, streams)."""

import json
import secrets

import cluster_support as cs
from cluster_support import NODES, chat_round, room_of


def kick_across_nodes(cluster, seeder, clients, before_kick=None):
    """The owner, on node 1, kicks a user whose sockets are held by nodes 2 and 3: every
    member sees the notice, the room no longer delivers to the kicked user's sockets, and
    the user cannot join again. `before_kick(owner, key, users)` runs once everyone is in
    the room."""
    users, key = room_of(seeder, 4)
    owner_user, target_user, witness_user, far_user = users
    owner = clients(owner_user, key, cluster.node_url(1))
    target = clients(target_user, key, cluster.node_url(2))
    # A second tab of the target, on node3: a kick removes every socket of the user.
    target_tab = clients(target_user, key, cluster.node_url(3), "polling")
    witness = clients(witness_user, key, cluster.node_url(2), "polling")
    far = clients(far_user, key, cluster.node_url(3))
    everyone = [owner, target, target_tab, witness, far]
    for client in everyone:
        client.wait_joined()
    chat_round(everyone, "before the kick")
    if before_kick:
        before_kick(owner, key, users)

    owner.client.emit("kick_user", {"room": key, "target_user_id": target_user.id})
    for client in everyone:
        notice = client.wait_kick()
        assert notice == {
            "kicked_user_id": target_user.id,
            "message": f"{target_user.username} has been kicked from the room",
        }
    assert target_user.id not in cluster.db().rooms.find_one({"key": key})["members"]

    after = f"after the kick {secrets.token_hex(3)}"
    owner.send(after)
    # The witnesses on the target's nodes get it; by then the target's sockets would have too.
    for client in (owner, witness, far):
        client.wait_text(after)
    second = f"and again {secrets.token_hex(3)}"
    far.send(second)
    for client in (owner, witness, far):
        client.wait_text(second)
    # Then a round trip on each of the target's sockets, the clients asserted about: a
    # node that still had them in the room would have queued both messages before the ack.
    for client in (target, target_tab):
        client.client.call("renew_session", {"ticket": "round trip"}, timeout=cs.TIMEOUT)
    assert after not in target.texts() and second not in target.texts()
    assert after not in target_tab.texts() and second not in target_tab.texts()
    # The kicked user cannot come back by emitting join: no longer a member.
    target.client.emit("join", {"room": key})
    cs.wait_until(lambda: target.errors, cs.TIMEOUT, "chat_error for the kicked user's join")
    assert target.errors[-1] == {"event": "join", "message": "You are not a member of this room."}


def emitter_payload(text):
    return {"username": "Emitter", "message": f"{text} {secrets.token_hex(3)}", "timestamp": "12:00"}


def sharded_publisher_reaches_every_node(cluster, seeder, clients):
    """The outside publisher docs/cluster.md describes for sharded Pub/Sub: one room on the
    room's channel, several rooms with an exception on the namespace's channel; each
    reaches the room's members on every node and nobody else."""
    users, key = room_of(seeder, 3)
    members = [clients(user, key, cluster.node_url(k)) for user, k in zip(users, NODES)]
    outsider_users, other_key = room_of(seeder, 1)
    outsider = clients(outsider_users[0], other_key, cluster.node_url(2))
    for client in members + [outsider]:
        client.wait_joined()
    room_channel = f"{cs.MAIN_CHANNEL}{key}#"
    cs.wait_until(lambda: cs.shard_listeners(cluster, room_channel) == 3, cs.TIMEOUT, "3 nodes on the room's channel")
    # What Node's @socket.io/redis-emitter sends (PUBLISH) finds no listener.
    with cs.channel_redis(cluster, room_channel) as redis:
        assert redis.publish(*cs.emitter_message(key, "message", emitter_payload("unheard"))) == 0

    payload = emitter_payload("from an outside publisher")
    channel, message = cs.sharded_emitter_message([key], "message", payload)
    assert channel == room_channel
    assert message.startswith(b'{"type":3,"data":{"packet":{"type":2,"data":["message",{"username":"Emitter"')
    assert json.loads(message)["data"]["opts"] == {"rooms": [key], "flags": {}, "except": []}
    cs.EVIDENCE.append(("sharded publisher sends", channel, message))
    assert cs.spublish(cluster, channel, message) == 3
    for client in members:
        client.wait_text(payload["message"])
        assert payload in client.messages
    # Node 2 delivered it to its member: it would have queued it for the outsider before
    # answering this round trip.
    outsider.client.call("renew_session", {"ticket": "round trip"}, timeout=cs.TIMEOUT)
    assert payload["message"] not in outsider.texts()

    def publish(rooms, payload, except_rooms=()):
        channel, message = cs.sharded_emitter_message(rooms, "message", payload, except_rooms)
        assert channel == cs.MAIN_CHANNEL  # several rooms
        assert cs.spublish(cluster, channel, message) == 3

    # One channel keeps its order.
    all_but_one_then_all(members, key, publish)


def all_but_one_then_all(members, key, publish):
    """io.to([room, "nobody"]).except(`user:<second member>`).emit(...), then the same to
    all, through `publish(rooms, payload, except_rooms)`, which must keep their order for
    each node: once every member got the second, all but the second member got the first."""
    excluded = members[1]
    skipped = emitter_payload("all but one")
    publish([key, "nobody"], skipped, except_rooms=[f"user:{excluded.user.id}"])
    closing = emitter_payload("to all")
    publish([key, "nobody"], closing)
    for client in members:
        client.wait_text(closing["message"])
    for client in members:
        if client is not excluded:
            assert skipped in client.messages, f"{client.user.username} missed the broadcast to its room"
    assert skipped["message"] not in excluded.texts(), f"{excluded.user.username} got a broadcast that excepts it"


def presence_counts_every_node(cluster, seeder, clients):
    """A room with a member on every node: presence asked on node 1 counts all three."""
    members, key = cs.joined_members(cluster, seeder, clients, cs.NODES)
    answer = members[0].client.call("presence", {"room": key}, timeout=cs.TIMEOUT)
    assert answer["count"] == 3 and {u["user_id"] for u in answer["users"]} == {m.user.id for m in members}
