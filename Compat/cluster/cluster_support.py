"""Helpers of the cluster suite (Compat/cluster): the cluster started by
scripts/cluster.sh, users and rooms written straight into its MongoDB, tokens forged
with PyJWT, stock python-socketio clients that re-join their room on every connect (as
the chat page does), and a tiny MessagePack writer for the emitter's bytes."""

from __future__ import annotations

import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo
import pytest
import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
import gateway_support as gs  # noqa: E402  (forge_token, TEST_JWT_SECRET)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "cluster.sh"
TIMEOUT = 10.0
EVIDENCE = []  # (what, channel, bytes) seen on Redis, printed at the end of the run
NOTES = []  # timings worth seeing, printed at the end of the run


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls `predicate` until it is true or the deadline passes (then fails, naming `what`,
    a string or a function giving one)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


class Cluster:
    """A cluster started by scripts/cluster.sh in its own directory."""

    def __init__(self, directory, nodes=3, env=None):
        self.directory = Path(directory)
        self.nodes = nodes
        self.env = dict(os.environ)
        self.env.update(
            CLUSTER_DIR=str(self.directory),
            CLUSTER_NODES=str(nodes),
            CLUSTER_OWNER_PID=str(os.getpid()),
            JWT_SECRET_KEY=gs.TEST_JWT_SECRET,
            SECRET_KEY="test-secret",
            LOG_LEVEL=os.environ.get("CLUSTER_LOG_LEVEL", "info"),
        )
        self.env.update(env or {})
        self.state = {}

    def run(self, *args, timeout=180):
        result = subprocess.run(
            ["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        self.load_state()
        return result.stdout

    def load_state(self):
        path = self.directory / "state"
        if not path.exists():
            return
        state = {}
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                state[key] = value
        self.state = state

    def start(self):
        return self.run("start")

    def stop(self):
        if (self.directory / "state").exists():
            self.run("stop", timeout=60)

    @property
    def url(self):
        return self.state["URL"]

    @property
    def redis_port(self):
        return int(self.state["REDIS_PORT"])

    @property
    def mongo_uri(self):
        return self.state["MONGODB_URI"]

    @property
    def database(self):
        return self.state["DATABASE_NAME"]

    def node_url(self, k):
        return f"http://127.0.0.1:{self.state[f'NODE{k}_PORT']}"

    def node_pid(self, k):
        return int(self.state[f"NODE{k}_PID"])

    def node_log(self, k):
        return Path(self.state[f"NODE{k}_LOG"]).read_text(errors="replace")

    def signal_node(self, k, signum):
        os.kill(self.node_pid(k), signum)

    def node_state(self, k):
        """The process state letter of node k (R, S, T for stopped, ...), None when gone."""
        try:
            return Path(f"/proc/{self.node_pid(k)}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return None

    def kill_node(self, k):
        return self.run("kill-node", str(k))

    def restart_node(self, k):
        return self.run("restart-node", str(k))

    def stop_redis(self):
        return self.run("stop-redis")

    def start_redis(self):
        return self.run("start-redis")

    def redis(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=TIMEOUT)

    def db(self):
        return pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=10000)[self.database]


# --------------------------------------------------------------------------- users and rooms


class Seeder:
    """Writes users and rooms as the old backend does (the shared MongoDB of all nodes)
    and forges their tokens: no password hashing on the hot path of a 300-client test."""

    def __init__(self, cluster):
        self.db = cluster.db()

    def users(self, count, prefix="u"):
        tag = secrets.token_hex(3)
        now = datetime.datetime.utcnow()
        documents = [
            {"username": f"{prefix}{tag}{i}", "email": f"{prefix}{tag}{i}@example.com",
             "password": "pbkdf2:sha256:600000$unused$00", "created_at": now}
            for i in range(count)
        ]
        result = self.db.users.insert_many(documents)
        return [
            SeededUser(str(oid), doc["username"], gs.forge_token(str(oid), lifetime=3600))
            for oid, doc in zip(result.inserted_ids, documents)
        ]

    def room(self, owner, members, name="Cluster room"):
        key = secrets.token_urlsafe(8)
        ids = [owner.id] + [m.id for m in members if m.id != owner.id]
        self.db.rooms.insert_one(
            {"name": name, "key": key, "created_by": owner.id, "created_at": datetime.datetime.utcnow(), "members": ids}
        )
        return key


class SeededUser:
    def __init__(self, id, username, token):
        self.id = id
        self.username = username
        self.token = token


def room_of(seeder, count):
    """`count` new users and a room of theirs, owned by the first: the users and the key."""
    users = seeder.users(count)
    key = seeder.room(users[0], users)
    return users, key


def joined_members(cluster, seeder, clients, nodes):
    """A new room with one member connected to each of `nodes`, all joined; and its key."""
    users, key = room_of(seeder, len(nodes))
    members = [clients(user, key, cluster.node_url(k)) for user, k in zip(users, nodes)]
    for client in members:
        client.wait_joined()
    return members, key


# --------------------------------------------------------------------------- clients


TRANSPORTS = {"websocket": ["polling", "websocket"], "polling": ["polling"], "ws-only": ["websocket"]}


class ChatClient:
    """A stock socketio.Client signed in by cookie (kept in its requests session with the
    load balancer's chatify_node cookie), which emits `join` for its room on every
    connect, as the chat page does, and records what it receives. With connection state
    recovery on, broadcasts carry an offset as their last argument; it is ignored."""

    def __init__(self, user, room, url, transport="websocket", reconnection=False, pin=None):
        self.user = user
        self.pin = pin  # a chatify_node cookie to start with: nginx routes the handshake there
        self.room = room
        self.url = url
        self.transport = transport
        self.messages = []  # payloads of `message`
        self.kicks = []  # payloads of `user_kicked`
        self.errors = []  # chat_error payloads
        self.connects = 0
        self.connected_at = []  # time.monotonic() of each connect
        self.disconnects = 0
        self.disconnected_at = []  # time.monotonic() of each disconnect
        self.connect_errors = []  # (time.monotonic(), data) of each refused or failed connect
        self.cond = threading.Condition()
        self.client = socketio.Client(
            reconnection=reconnection,
            reconnection_delay=0.2,
            reconnection_delay_max=1.0,
            randomization_factor=0.2,
            http_session=self._session,
        )
        self.client.on("connect", self._on_connect)
        self.client.on("disconnect", self._on_disconnect)
        self.client.on("message", self._on_message)
        self.client.on("user_kicked", self._on_kick)
        self.client.on("chat_error", self._on_error)
        self.client.on("connect_error", self._on_connect_error)

    def _session(self):
        session = requests.Session()
        session.cookies.set(gs.COOKIE_NAME, self.user.token, domain="127.0.0.1", path="/")
        if self.pin:
            session.cookies.set("chatify_node", self.pin, domain="127.0.0.1", path="/")
        return session

    def _on_connect(self):
        if self.room:
            self.client.emit("join", {"room": self.room})
        with self.cond:
            self.connects += 1
            self.connected_at.append(time.monotonic())
            self.cond.notify_all()

    def _on_disconnect(self, *reason):
        with self.cond:
            self.disconnects += 1
            self.disconnected_at.append(time.monotonic())
            self.cond.notify_all()

    def _on_connect_error(self, data=None):
        with self.cond:
            self.connect_errors.append((time.monotonic(), data))

    def _on_message(self, payload, *offset):
        with self.cond:
            self.messages.append(payload)
            self.cond.notify_all()

    def _on_kick(self, payload, *offset):
        with self.cond:
            self.kicks.append(payload)
            self.cond.notify_all()

    def _on_error(self, payload, *offset):
        with self.cond:
            self.errors.append(payload)
            self.cond.notify_all()

    def connect(self):
        self.client.connect(self.url, transports=TRANSPORTS[self.transport], wait_timeout=TIMEOUT)

    @property
    def sid(self):
        """The Socket.IO id of this client on namespace /."""
        return self.client.get_sid("/")

    @property
    def node(self):
        """The node that holds this client's session (the chatify_node cookie it got)."""
        http = self.client.eio.http
        return http.cookies.get("chatify_node") if http is not None else None

    def joined(self, username=None):
        """Whether this client saw the System notice of `username` (default: its own) joining."""
        text = f"{username or self.user.username} has joined the room"
        with self.cond:
            return any(m.get("username") == "System" and m.get("message") == text for m in self.messages)

    def wait_joined(self, timeout=TIMEOUT, after_connects=1):
        with self.cond:
            ok = self.cond.wait_for(lambda: self.connects >= after_connects, timeout)
        assert ok, f"{self.user.username}: not connected within {timeout} s"
        wait_until(self.joined, timeout, f"{self.user.username} to see its own join notice")

    def send(self, text):
        self.client.emit("message", {"room": self.room, "message": text})

    def texts(self):
        with self.cond:
            return self.texts_unlocked()

    def texts_unlocked(self):
        return [m.get("message") for m in self.messages]

    def wait_text(self, text, timeout=TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(m.get("message") == text for m in self.messages), timeout)
        assert ok, f"{self.user.username} ({self.url}): no message {text!r} within {timeout} s; got {self.texts()[-10:]}"

    def wait_kick(self, timeout=TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: bool(self.kicks), timeout)
        assert ok, f"{self.user.username}: no user_kicked within {timeout} s"
        return self.kicks[0]

    def close(self):
        done = threading.Event()

        def run():
            try:
                self.client.disconnect()
            except Exception:
                pass
            done.set()

        threading.Thread(target=run, daemon=True).start()
        done.wait(5)


NODES = (1, 2, 3)


def chat_round(members, tag):
    """Every member posts one message; every member must receive every one of them."""
    texts = []
    for client in members:
        text = f"{tag} from {client.user.username} {secrets.token_hex(3)}"
        client.send(text)
        texts.append(text)
    for client in members:
        for text in texts:
            client.wait_text(text)
    return texts


def connect_all(clients, parallel=32):
    """Connects many clients, `parallel` at a time."""
    errors = []
    lock = threading.Lock()
    pending = list(clients)

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                client = pending.pop()
            try:
                client.connect()
            except Exception as error:  # reported below
                with lock:
                    errors.append(f"{client.user.username}: {error!r}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, f"{len(errors)} clients failed to connect: {errors[:5]}"


# --------------------------------------------------------------------------- MessagePack by hand


def mp(value):
    """MessagePack of the few types the emitter writes (str, non-negative int, list, dict),
    byte by byte as notepack.io writes them: fixstr/str8/str16, positive fixint/uint8/
    uint16/uint32, fixarray/array16, fixmap/map16."""
    if isinstance(value, bool) or value is None:
        return {True: b"\xc3", False: b"\xc2", None: b"\xc0"}[value]
    if isinstance(value, int):
        assert 0 <= value < 2**32
        if value < 0x80:
            return bytes([value])
        if value < 0x100:
            return b"\xcc" + value.to_bytes(1, "big")
        if value < 0x10000:
            return b"\xcd" + value.to_bytes(2, "big")
        return b"\xce" + value.to_bytes(4, "big")
    if isinstance(value, str):
        raw = value.encode("utf-8")
        n = len(raw)
        if n < 32:
            head = bytes([0xA0 | n])
        elif n < 0x100:
            head = b"\xd9" + bytes([n])
        else:
            head = b"\xda" + n.to_bytes(2, "big")
        return head + raw
    if isinstance(value, list):
        n = len(value)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")
        return head + b"".join(mp(v) for v in value)
    if isinstance(value, dict):
        n = len(value)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
        return head + b"".join(mp(k) + mp(v) for k, v in value.items())
    raise TypeError(type(value))


# --------------------------------------------------------------------------- emitters' bytes

MAIN_CHANNEL = "socket.io#/#"
EMITTER_UID = "emitter"


def emitter_broadcast(rooms, event, payload, except_rooms=()):
    """The packet and options Socket.IO's emitters build for
    io.to(rooms).except(except_rooms).emit(event, payload), keys in their order."""
    packet = {"type": 2, "data": [event, payload], "nsp": "/"}
    opts = {"rooms": list(rooms), "flags": {}, "except": list(except_rooms)}
    return packet, opts


def emitter_message(room, event, payload, except_rooms=()):
    """What @socket.io/redis-emitter publishes for io.to(room).emit(event, payload):
    channel `socket.io#/#<room>#` (one room), message
    notepack.encode(["emitter", {type: 2, data: [event, payload], nsp: "/"},
                     {rooms: [room], flags: {}, except: [...]}])."""
    packet, opts = emitter_broadcast([room], event, payload, except_rooms)
    return f"{MAIN_CHANNEL}{room}#", mp([EMITTER_UID, packet, opts])


def js_json(value):
    """JSON.stringify's bytes for plain data: no spaces, characters left as they are."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def streams_emitter_fields(rooms, event, payload, except_rooms=()):
    """The stream entry @socket.io/redis-streams-emitter appends for
    io.to(rooms).except(except_rooms).emit(event, payload): the fields uid `emitter`,
    nsp `/`, type `3` (BROADCAST, in decimal) and data JSON.stringify({packet, opts}),
    in that order."""
    packet, opts = emitter_broadcast(rooms, event, payload, except_rooms)
    return [
        ("uid", EMITTER_UID.encode()), ("nsp", b"/"), ("type", b"3"),
        ("data", js_json({"packet": packet, "opts": opts})),
    ]


def xadd_as_streams_emitter(redis, stream, fields, max_len=10000):
    """XADD <stream> MAXLEN ~ <max_len> * <field> <value> ..., as that emitter sends it
    through ioredis; the new entry's id."""
    flat = [item for field in fields for item in field]
    return redis.execute_command("XADD", stream, "MAXLEN", "~", max_len, "*", *flat).decode()


def sharded_emitter_message(rooms, event, payload, except_rooms=()):
    """What docs/cluster.md tells an outside publisher to SPUBLISH to a cluster on sharded
    Pub/Sub (Node's emitters have no sharded mode): the channel, `socket.io#/#<room>#` for
    exactly one room (nodes listen there in the dynamic modes) and `socket.io#/#`
    otherwise, and the message as the sharded adapter encodes it, JSON
    {type: 3, data: {packet, opts}, uid, nsp}."""
    packet, opts = emitter_broadcast(rooms, event, payload, except_rooms)
    message = {"type": 3, "data": {"packet": packet, "opts": opts}, "uid": EMITTER_UID, "nsp": "/"}
    channel = f"{MAIN_CHANNEL}{rooms[0]}#" if len(rooms) == 1 else MAIN_CHANNEL
    return channel, js_json(message)


def shard_of(cluster, channel):
    """The client port of the Redis Cluster primary that owns `channel`'s slot, and a
    client to it."""
    import redis

    seed = cluster.redis()
    slot = seed.execute_command("CLUSTER", "KEYSLOT", channel)
    for start, end, primary, *_ in seed.execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            port = int(primary[1])
            return port, redis.Redis(host="127.0.0.1", port=port, socket_timeout=TIMEOUT)
    raise AssertionError(f"no shard owns slot {slot}")


def channel_redis(cluster, channel):
    """A client to the Redis that carries `channel`: the cluster's one redis-server, or on a
    Redis Cluster the primary that owns the channel's slot."""
    if cluster.state.get("REDIS_SHARDS", "1") == "1":
        return cluster.redis()
    return shard_of(cluster, channel)[1]


def spublish(cluster, channel, message):
    """SPUBLISH on the Redis that carries `channel`; how many subscribers got it."""
    with channel_redis(cluster, channel) as redis:
        return redis.execute_command("SPUBLISH", channel, message)


def shard_listeners(cluster, channel):
    """How many connections listen to `channel` (PUBSUB SHARDNUMSUB on its Redis)."""
    with channel_redis(cluster, channel) as redis:
        return redis.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1]


def stop_continue_guard(cluster, k):
    """Makes sure node k is running again (SIGCONT), whatever a test did to it."""
    try:
        cluster.signal_node(k, signal.SIGCONT)
    except ProcessLookupError:
        pass


def own_cluster_fixtures(suffix, env):
    """The `cluster`, `seeder` and `nodes_running` fixtures of a module that runs a cluster
    of its own (its directory is the suite's with `suffix`), configured by `env`; none of
    its nodes is ever stopped."""

    @pytest.fixture(scope="module")
    def cluster():
        directory = os.environ.get("CLUSTER_TEST_DIR", str(REPO_ROOT / ".cluster" / "suite")) + suffix
        own = Cluster(directory, nodes=3, env=env)
        own.start()
        try:
            yield own
        finally:
            own.stop()

    @pytest.fixture(scope="module")
    def seeder(cluster):
        return Seeder(cluster)

    @pytest.fixture(autouse=True)
    def nodes_running():
        yield

    return cluster, seeder, nodes_running
