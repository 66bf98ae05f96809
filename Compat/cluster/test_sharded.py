"""Three chatify nodes with REDIS_ADAPTER=sharded (Node's sharded adapter: SPUBLISH and
SSUBSCRIBE on Redis 7, dynamic subscription mode): chat across nodes, presence counted
across nodes, a kick across nodes, an outside publisher's broadcasts, and the messages
as they cross Redis."""

import json


import cluster_support as cs
import scenarios
from cluster_support import MAIN_CHANNEL, NODES, chat_round


# A cluster of its own, for this module's tests only.
cluster, seeder, nodes_running = cs.own_cluster_fixtures(
    "-sharded", {"REDIS_ADAPTER": "sharded"}
)



def test_chat_across_nodes_over_sharded_pubsub(cluster, seeder, clients):
    members, key = cs.joined_members(cluster, seeder, clients, NODES)
    # Every node listens to the room's own channel (dynamic mode) and to the namespace's.
    redis = cluster.redis()

    def listeners(channel):
        return redis.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1]

    cs.wait_until(lambda: listeners(f"{MAIN_CHANNEL}{key}#") == 3, cs.TIMEOUT, "3 nodes on the room's channel")
    assert listeners(MAIN_CHANNEL) == 3
    chat_round(members, "sharded")


def test_a_chat_message_crosses_redis_as_nodes_sharded_adapter_writes_it(cluster, seeder, clients):
    (sender, receiver), key = cs.joined_members(cluster, seeder, clients, (1, 2))
    pubsub = cluster.redis().pubsub()
    pubsub.ssubscribe(f"{MAIN_CHANNEL}{key}#")
    try:
        cs.wait_until(lambda: pubsub.get_message(timeout=0.1), cs.TIMEOUT, "the ssubscribe confirmation")
        sender.send("over the shard")
        receiver.wait_text("over the shard")

        def chat_message():
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "smessage" and b'"over the shard"' in message["data"]:
                return message
            return None

        message = cs.wait_until(chat_message, cs.TIMEOUT, "the chat message on the room's channel")
    finally:
        pubsub.close()
    cs.EVIDENCE.append(("sharded chat message", message["channel"].decode(), message["data"]))
    decoded = json.loads(message["data"])
    assert list(decoded) == ["type", "data", "uid", "nsp"]
    assert decoded["type"] == 3 and decoded["nsp"] == "/" and len(decoded["uid"]) == 16
    assert decoded["data"]["packet"]["type"] == 2
    assert decoded["data"]["packet"]["data"][0] == "message"
    assert decoded["data"]["opts"]["rooms"] == [key]


def test_presence_counts_users_on_every_node(cluster, seeder, clients):
    """Presence is the cluster-wide fetchSockets: FETCH_SOCKETS and its responses."""
    scenarios.presence_counts_every_node(cluster, seeder, clients)


def test_a_kick_on_node1_removes_sockets_held_by_other_nodes(cluster, seeder, clients):
    scenarios.kick_across_nodes(cluster, seeder, clients)


def test_an_outside_publisher_reaches_every_node(cluster, seeder, clients):
    scenarios.sharded_publisher_reaches_every_node(cluster, seeder, clients)
