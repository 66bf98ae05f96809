"""Three chatify nodes with REDIS_ADAPTER=streams and two more of Node's options:
REDIS_STREAM_COUNT=3 (the chat's namespace `/` goes to the stream Node picks for it) and
REDIS_STREAM_SHARDED_PUBSUB=true (presence is asked and answered over sharded Pub/Sub)."""

import cluster_support as cs
from cluster_support import NODES, chat_round

# Node's hash of the namespace "/" is 47, and 47 % 3 is 2.
STREAM = "socket.io-2"

# A cluster of its own, for this module's tests only.
cluster, seeder, nodes_running = cs.own_cluster_fixtures(
    "-streams-options",
    {"REDIS_ADAPTER": "streams", "REDIS_STREAM_COUNT": "3", "REDIS_STREAM_SHARDED_PUBSUB": "true"},
)


def test_chat_goes_through_the_stream_node_picks_for_the_namespace(cluster, seeder, clients):
    members, _ = cs.joined_members(cluster, seeder, clients, NODES)
    texts = chat_round(members, "three streams")
    redis = cluster.redis()
    assert redis.keys("socket.io*") == [STREAM.encode()]
    written = [fields.get(b"data", b"") for _, fields in redis.xrange(STREAM)]
    for text in texts:
        assert any(f'"{text}"'.encode() in data for data in written), text


def test_presence_is_asked_over_sharded_pubsub(cluster, seeder, clients):
    members, key = cs.joined_members(cluster, seeder, clients, NODES)
    redis = cluster.redis()
    sharded = {channel.decode() for channel in redis.execute_command("PUBSUB", "SHARDCHANNELS", "socket.io#/#*")}
    # The namespace's channel and one response channel per node, as Node names them.
    assert "socket.io#/#" in sharded and len(sharded) == 1 + len(NODES), sharded
    assert redis.execute_command("PUBSUB", "CHANNELS", "socket.io#*") == []
    answer = members[0].client.call("presence", {"room": key}, timeout=cs.TIMEOUT)
    assert answer["count"] == 3 and {u["user_id"] for u in answer["users"]} == {m.user.id for m in members}
