"""Three chatify nodes on a Redis Cluster of three primaries (REDIS_ADAPTER=sharded,
REDIS_CLUSTER=true): each room's channel lives on the shard that owns its slot, and chat,
presence, kicks and an outside publisher's broadcasts cross nodes whichever shard
carries them."""

import cluster_support as cs
import scenarios
from cluster_support import MAIN_CHANNEL, NODES, chat_round, room_of, shard_of

# A cluster of its own, for this module's tests only.
cluster, seeder, nodes_running = cs.own_cluster_fixtures(
    "-redis-cluster", {"REDIS_ADAPTER": "sharded", "CLUSTER_REDIS_SHARDS": "3"}
)


def test_rooms_on_every_shard_chat_across_nodes(cluster, seeder, clients):
    rooms = []
    shards = set()
    # Rooms until their channels cover all three primaries (a few suffice: slots are spread).
    while len(shards) < 3:
        users, key = room_of(seeder, 3)
        rooms.append((users, key))
        shards.add(shard_of(cluster, f"{MAIN_CHANNEL}{key}#")[0])
        assert len(rooms) < 40, "room channels should spread over the shards"
    for users, key in rooms:
        members = [clients(user, key, cluster.node_url(k)) for user, k in zip(users, NODES)]
        for client in members:
            client.wait_joined()
        cs.wait_until(lambda: cs.shard_listeners(cluster, f"{MAIN_CHANNEL}{key}#") == 3, cs.TIMEOUT, "3 nodes on the room")
        chat_round(members, f"shard {shard_of(cluster, f'{MAIN_CHANNEL}{key}#')[0]}")
    assert cs.shard_listeners(cluster, MAIN_CHANNEL) == 3


def test_presence_and_a_kick_cross_nodes_on_a_redis_cluster(cluster, seeder, clients):
    def presence(owner, key, users):
        # The kicked user has two tabs, on two nodes: one user present.
        answer = owner.client.call("presence", {"room": key}, timeout=cs.TIMEOUT)
        assert answer["count"] == 4 and {u["user_id"] for u in answer["users"]} == {u.id for u in users}

    scenarios.kick_across_nodes(cluster, seeder, clients, before_kick=presence)


def test_an_outside_publisher_reaches_every_node_through_the_slot_owner(cluster, seeder, clients):
    scenarios.sharded_publisher_reaches_every_node(cluster, seeder, clients)
