"""Scenarios of the cluster suite that every Redis adapter mode must pass: each module
runs them against its own cluster (classic Pub/Sub, sharded Pub/Sub on one Redis or on
a Redis Cluster, streams)."""

import secrets

import cluster_support as cs
from cluster_support import chat_round, room_of


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
