"""Room membership with the stock python-socketio client: the server's own rooms (user,
token, watchers, a socket's id) are out of reach of client events, so a kick reaches a
member whatever its socket did."""

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

