"""Room membership with the stock python-socketio client: the server's own rooms (user,
token, watchers, a socket's id) are out of reach of client events, so a kick reaches a
member whatever its socket did; and a join can ask for what was posted after a message
the client already has, as a page does after a reconnect."""

import gateway_support as gs
from test_room_activity import owner_member_room, wait_for

NOT_A_CHAT_ROOM = "That is not a chat room: it cannot be joined, left or posted to."


def assert_not_received(peer, text):
    """After a round trip on `peer` itself: anything the server queued for it before
    has arrived, so a message that is not there was not sent to it."""
    peer.call("presence", {"room": "round-trip"})
    assert not [p for e, p in peer.events if e == "message" and p.get("message") == text], peer.events


def test_a_member_cannot_leave_its_own_rooms_and_a_kick_still_removes_it(server, peers):
    owner, member, key = owner_member_room(server.url, "intl")
    moderator = peers("M", server.url, "websocket", cookie=owner.cookie)
    target = peers("T", server.url, "websocket", cookie=member.cookie)
    moderator.call("join", {"room": key})
    target.call("join", {"room": key, "presence": True})

    for event, room in [
        ("leave", f"user:{member.id}"),
        ("leave", "token:anything"),
        ("leave", f"watch:{key}"),
        ("leave", target.client.get_sid()),
        ("join", f"user:{owner.id}"),
        ("join", f"watch:{key}"),
        ("message", f"user:{member.id}"),
    ]:
        mark = len(target.events)
        target.call(event, {"room": room, "message": "x"})
        refusal = wait_for(target, "chat_error", start=mark)
        assert refusal == {"event": event, "message": NOT_A_CHAT_ROOM}, (event, room)

    mark = len(target.events)
    moderator.call("kick_user", {"room": key, "target_user_id": member.id})
    wait_for(target, "user_kicked", start=mark)
    moderator.call("message", {"room": key, "message": "after the kick"})
    assert_not_received(target, "after the kick")


def test_a_join_since_a_message_sends_what_came_after_it(server, peers):
    owner, member, key = owner_member_room(server.url, "since")
    writer = peers("W", server.url, "websocket", cookie=owner.cookie)
    writer.call("join", {"room": key})
    for index in range(5):
        writer.call("message", {"room": key, "message": f"m{index}"})
    reader = peers("R", server.url, "polling", cookie=member.cookie)
    ids = [m["id"] for m in reader.call("history", {"room": key})["messages"]]
    assert len(ids) == 5

    reader.call("join", {"room": key, "since": ids[1], "presence": True})
    missed = wait_for(reader, "history")
    assert missed["room"] == key and missed["before"] is None
    assert [(m["message"], m["id"]) for m in missed["messages"]] == [(f"m{i}", ids[i]) for i in range(2, 5)]
    # Only the history comes before the join notice: nothing posted before is sent twice.
    names = [e[0] for e in reader.events]
    assert names[:2] == ["history", "message"], reader.events

    # A watcher's live messages carry their id, to ask from after a reconnect; a plain
    # member's keep the old payload.
    writer.call("message", {"room": key, "message": "m5"})
    live = wait_for(reader, "message", lambda p: p["message"] == "m5")
    assert list(live)[:4] == ["username", "message", "timestamp", "user_id"] and live["id"]
    plain = wait_for(writer, "message", lambda p: p["message"] == "m5")
    assert list(plain) == ["username", "message", "timestamp", "user_id"]
    late = peers("L", server.url, "websocket", cookie=member.cookie)
    late.call("join", {"room": key, "since": live["id"]})
    assert wait_for(late, "history")["messages"] == []

    # An id the server does not know gets the newest page instead.
    again = peers("A", server.url, "websocket", cookie=member.cookie)
    again.call("join", {"room": key, "since": "999999999"})
    newest = wait_for(again, "history")
    assert [m["message"] for m in newest["messages"]] == [f"m{i}" for i in range(6)]
