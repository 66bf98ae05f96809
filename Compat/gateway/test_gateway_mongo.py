"""The gateway on a real MongoDB-compatible server (SecantusDB, started by the test):
a database written the way the old Flask backend writes it is read and logged into,
data survives a restart of the gateway, and a database outage gives clear errors and
heals by itself."""

import json
import os
import socket
import subprocess
import sys

import pytest

import gateway_support as gs
import socketio_support as ss

REPO = gs.REPO_ROOT
SCRIPT = REPO / "scripts" / "mongo-test-server.sh"
DATABASE = "chatify_db"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MongoServer:
    def __init__(self):
        self.port = free_port()
        self.dir = REPO / ".mongo-test" / f"gateway-{os.getpid()}"
        self.env = dict(
            os.environ,
            MONGO_PORT=str(self.port),
            MONGO_DIR=str(self.dir),
            MONGO_VENV=str(REPO / ".mongo-test" / "venv"),
            MONGO_OWNER_PID=str(os.getpid()),
        )

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}/"

    def run(self, action, keep_data=False):
        env = dict(self.env, MONGO_KEEP_DATA="1" if keep_data else "0")
        result = subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"mongo-test-server.sh {action} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, keep_data=False):
        self.run("start", keep_data=keep_data)

    def stop(self):
        self.run("stop")


@pytest.fixture(scope="module")
def mongo():
    server = MongoServer()
    server.start()
    yield server
    server.stop()


def seed_old_backend(mongo):
    """Documents exactly as the old backend (pymongo, Werkzeug) writes them."""
    result = subprocess.run(
        [sys.executable, str(REPO / "Compat" / "mongo" / "seed_old_backend.py"), "--uri", mongo.uri, "--db", DATABASE],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def gateway(start_server, mongo):
    return start_server(MONGODB_LOCAL_URI=mongo.uri, DATABASE_NAME=DATABASE)


def test_old_backend_database_logs_in_and_chats(start_server, mongo, peers):
    seeded = seed_old_backend(mongo)
    server = gateway(start_server, mongo)
    assert any("store: connected to local MongoDB" in line for line in server.output), server.tail()
    by_name = {user["username"]: user for user in seeded["users"]}
    # pbkdf2:sha256:600000 (Werkzeug 2.3) and scrypt (Werkzeug 3) hashes both verify.
    for name in ("alice", "bob"):
        token = gs.login(server.url, name, by_name[name]["password"])
        dashboard = gs.http(server.url, "GET", "/dashboard", token=token)
        assert dashboard.status_code == 200 and name in dashboard.text
    wrong = gs.http(server.url, "POST", "/login", form={"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and "Invalid username or password" in wrong.text

    # The room the old backend created: alice (its creator and member) opens and chats in it.
    room = next(room for room in seeded["rooms"] if room.get("members"))
    alice_token = gs.login(server.url, "alice", by_name["alice"]["password"])
    owner = next(user for user in seeded["users"] if user["id"] == room["created_by"])
    assert owner["username"] == "alice"
    assert gs.http(server.url, "GET", f"/chat/{room['key']}", token=alice_token).status_code == 200
    alice = peers("A", server.url, "websocket", cookie=gs.cookie_header(alice_token))
    alice.emit("join", {"room": room["key"]})
    assert alice.wait_event("message")["message"] == "alice has joined the room"


def test_data_survives_a_gateway_restart(start_server, mongo):
    first = gateway(start_server, mongo)
    user = gs.register(first.url, gs.unique("persist"))
    key = gs.create_room(first.url, user, "Persistent room")
    first.stop()
    second = gateway(start_server, mongo)
    token = gs.login(second.url, user.username, user.password)
    assert gs.room_keys(second.url, token) == [key]


def test_database_outage_gives_clear_errors_and_recovers(start_server, mongo, peers):
    server = gateway(start_server, mongo)
    user = gs.register(server.url, gs.unique("outage"))
    key = gs.create_room(server.url, user, "Outage room")
    peer = peers("A", server.url, "websocket", cookie=user.cookie)
    peer.emit("join", {"room": key})
    peer.wait_event("message")

    mongo.stop()
    try:
        page = gs.http(server.url, "GET", "/dashboard", token=user.token)
        assert page.status_code == 503
        assert "database is unavailable" in page.text
        seen = len(peer.events)
        peer.emit("message", {"room": key, "message": "while the database is down"})
        error = peer.wait_event("chat_error", start=seen)
        assert error == {"event": "message", "message": "The database is unavailable right now. Please try again in a moment."}
    finally:
        mongo.start(keep_data=True)

    # The same gateway process heals: no restart needed, nothing was lost.
    assert gs.http(server.url, "GET", "/dashboard", token=user.token).status_code == 200
    assert gs.room_keys(server.url, user.token) == [key]
    seen = len(peer.events)
    peer.emit("message", {"room": key, "message": "back again"})
    assert peer.wait_event("message", start=seen)["message"] == "back again"


def test_no_database_answering_falls_back_to_memory(start_server):
    closed = free_port()
    server = start_server(MONGODB_LOCAL_URI=f"mongodb://127.0.0.1:{closed}/", DATABASE_NAME=DATABASE)
    lines = "\n".join(server.output)
    assert "store: local MongoDB not reachable" in lines
    assert "using the in-memory store" in lines
    user = gs.register(server.url, gs.unique("memory"))
    assert gs.http(server.url, "GET", "/dashboard", token=user.token).status_code == 200


def test_a_message_the_database_refuses_is_not_broadcast_and_history_survives_a_restart(start_server, mongo, peers):
    """Messages are stored before they are broadcast. The database is made to refuse the
    second message of a room (a unique index on `messages.room`, created with pymongo
    before the gateway starts): its sender gets chat_error and nobody receives it."""
    database = f"chatify_msgs_{os.getpid()}"
    import pymongo

    client = pymongo.MongoClient(mongo.uri)
    try:
        client[database]["messages"].create_index("room", unique=True, name="one_message_per_room")
    finally:
        client.close()
    server = start_server(MONGODB_LOCAL_URI=mongo.uri, DATABASE_NAME=database)
    owner = gs.register(server.url, gs.unique("store"))
    member = gs.register(server.url, gs.unique("storm"))
    key = gs.create_room(server.url, owner, "Stored room")
    gs.join_room(server.url, member, key)
    sender = peers("S", server.url, "websocket", cookie=owner.cookie)
    listener = peers("L", server.url, "polling", cookie=member.cookie)
    listener.call("join", {"room": key})
    sender.call("join", {"room": key})

    sender.call("message", {"room": key, "message": "first"})
    # The listener polls: the join notices and "first" may still be on their way.
    def after_first():
        for index, (name, payload) in enumerate(listener.events):
            if name == "message" and payload.get("message") == "first":
                return index + 1
        return None

    while (mark := after_first()) is None:
        listener.wait_events(len(listener.events) + 1, what='"first"')
    sender.call("message", {"room": key, "message": "second"})
    error = sender.wait_event("chat_error")
    assert error == {"event": "message", "message": "The database is unavailable right now. Please try again in a moment."}
    # A round trip through the room: had "second" gone out, it would arrive before this.
    sender.call("join", {"room": key})
    notice = listener.wait_event("message", start=mark)
    assert notice["username"] == "System", f"the refused message reached the room: {listener.events[mark:]}"

    server.stop()
    restarted = start_server(MONGODB_LOCAL_URI=mongo.uri, DATABASE_NAME=database)
    reader = peers("R", restarted.url, "websocket", cookie=gs.cookie_header(gs.login(restarted.url, member.username, member.password)))
    page = reader.call("history", {"room": key})
    assert [m["message"] for m in page["messages"]] == ["first"]
    assert page["messages"][0]["username"] == owner.username and page["before"] is None
