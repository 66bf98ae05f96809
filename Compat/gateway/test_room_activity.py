"""Room activity with the stock python-socketio client: history on join and paging,
presence across two tabs of one user, typing that expires, mute and ban enforced by the
server, and a key rotation that locks out the old key. Every addition is opt-in: a
client that joins the old way sees none of it (checked here too)."""

import gateway_support as gs
import socketio_support as ss

WAIT = 10.0  # typing expires after 5 s on the server


def wait_for(peer, event, predicate=lambda payload: True, start=0, timeout=ss.TIMEOUT):
    """The first `event` at or after `start` whose payload satisfies `predicate`."""
    found = []

    def find():
        for name, payload in peer.events[start:]:
            if name == event and predicate(payload):
                found.append(payload)
                return True
        return False

    with peer._cond:
        if not peer._cond.wait_for(find, timeout):
            raise AssertionError(f"client {peer.name}: no matching {event!r} within {timeout} s; got {peer.events}")
    return found[0]


def owner_member_room(base, prefix):
    owner = gs.register(base, gs.unique(f"{prefix}o"))
    member = gs.register(base, gs.unique(f"{prefix}m"))
    key = gs.create_room(base, owner, f"{prefix} room")
    gs.join_room(base, member, key)
    return owner, member, key


def test_history_is_sent_on_an_asking_join_and_older_pages_on_request(start_server, peers):
    server = start_server(SOCKET_EVENTS_PER_SECOND="1000", USER_EVENTS_PER_SECOND="1000")
    owner, member, key = owner_member_room(server.url, "hist")
    writer = peers("W", server.url, "websocket", cookie=owner.cookie)
    writer.call("join", {"room": key})
    for index in range(60):
        writer.call("message", {"room": key, "message": f"m{index}"})
    wait_for(writer, "message", lambda p: p["message"] == "m59")
    assert not [e for e in writer.events if e[0] == "chat_error"], writer.events

    reader = peers("R", server.url, "polling", cookie=member.cookie)
    reader.call("join", {"room": key, "history": True})
    history = wait_for(reader, "history")
    assert history["room"] == key
    assert [m["message"] for m in history["messages"]] == [f"m{i}" for i in range(10, 60)]
    first = history["messages"][0]
    assert list(first)[:4] == ["username", "message", "timestamp", "user_id"]
    assert first["username"] == owner.username and first["user_id"] == owner.id and first["id"]
    assert history["before"]
    # The history arrives before the join notice, so a page can render it above.
    names = [e[0] for e in reader.events]
    assert names.index("history") < names.index("message")

    older = reader.call("history", {"room": key, "before": history["before"]})
    assert [m["message"] for m in older["messages"]] == [f"m{i}" for i in range(10)]
    assert older["before"] is None
    small = reader.call("history", {"room": key, "limit": 2})
    assert [m["message"] for m in small["messages"]] == ["m58", "m59"]

    reader.call("history", {"room": key, "before": "forged"})
    assert wait_for(reader, "chat_error")["message"] == "That history cursor is not valid."

    # A join the old way gets no history event, and the notice is not stored.
    old_style = peers("O", server.url, "websocket", cookie=member.cookie)
    old_style.call("join", {"room": key})
    old_style.linger(1)
    assert [e[0] for e in old_style.events] == ["message"], old_style.events
    latest = old_style.call("history", {"room": key, "limit": 1})
    assert [m["message"] for m in latest["messages"]] == ["m59"]


def test_presence_counts_distinct_users_across_two_tabs(server, peers):
    owner, member, key = owner_member_room(server.url, "pres")
    watcher = peers("W", server.url, "websocket", cookie=owner.cookie)
    watcher.call("join", {"room": key, "presence": True})
    wait_for(watcher, "presence", lambda p: p["count"] == 1)
    tab1 = peers("T1", server.url, "websocket", cookie=member.cookie)
    tab2 = peers("T2", server.url, "polling", cookie=member.cookie)
    tab1.call("join", {"room": key})
    tab2.call("join", {"room": key})
    two = wait_for(watcher, "presence", lambda p: p["count"] == 2)
    assert sorted(u["username"] for u in two["users"]) == sorted([owner.username, member.username])
    assert watcher.call("presence", {"room": key})["count"] == 2

    mark = len(watcher.events)
    tab1.close()  # the other tab still holds the user in the room
    assert wait_for(watcher, "presence", start=mark)["count"] == 2
    tab2.call("leave", {"room": key})
    one = wait_for(watcher, "presence", lambda p: p["count"] == 1, start=mark)
    assert [u["user_id"] for u in one["users"]] == [owner.id]
    # Sockets that did not ask for presence never see it.
    assert not [e for e in tab2.events if e[0] == "presence"], tab2.events


def test_typing_reaches_other_watchers_and_expires_by_itself(server, peers):
    owner, member, key = owner_member_room(server.url, "type")
    typist = peers("T", server.url, "websocket", cookie=owner.cookie)
    own_tab = peers("O", server.url, "websocket", cookie=owner.cookie)
    watcher = peers("W", server.url, "websocket", cookie=member.cookie)
    for peer in (typist, own_tab, watcher):
        peer.call("join", {"room": key, "presence": True})
    mark = len(watcher.events)
    typist.call("typing", {"room": key, "typing": True})
    typist.call("typing", {"room": key, "typing": True})  # extends, not broadcast again
    started = wait_for(watcher, "typing", start=mark)
    assert started == {"room": key, "user_id": owner.id, "username": owner.username, "typing": True}
    stopped = wait_for(watcher, "typing", lambda p: not p["typing"], start=mark, timeout=WAIT)
    assert stopped["user_id"] == owner.id
    assert [p["typing"] for e, p in watcher.events[mark:] if e == "typing"] == [True, False]
    assert not [e for e in own_tab.events if e[0] == "typing"], "the typist's own tabs are left out"

    # A message ends typing at once; typing outside a joined room is refused.
    mark = len(watcher.events)
    typist.call("typing", {"room": key, "typing": True})
    typist.call("message", {"room": key, "message": "done"})
    assert wait_for(watcher, "typing", lambda p: not p["typing"], start=mark)
    outsider = peers("X", server.url, "websocket", cookie=member.cookie)
    outsider.call("typing", {"room": key, "typing": True})
    assert wait_for(outsider, "chat_error")["message"] == "Join the room first."


def test_mute_and_ban_are_enforced_by_the_server(server, peers):
    owner, member, key = owner_member_room(server.url, "mod")
    moderator = peers("M", server.url, "websocket", cookie=owner.cookie)
    target = peers("T", server.url, "websocket", cookie=member.cookie)
    moderator.call("join", {"room": key, "presence": True})
    target.call("join", {"room": key})

    refused = target.call("moderate", {"room": key, "action": "mute", "target_user_id": owner.id})
    assert refused == [] or refused is None
    assert wait_for(target, "chat_error")["message"] == "Only the room's owner can do that."

    answer = moderator.call("moderate", {"room": key, "action": "mute", "target_user_id": member.id})
    assert answer == {"room": key, "action": "mute", "target_user_id": member.id, "muted": True, "banned": False}
    mark = len(moderator.events)
    target.call("message", {"room": key, "message": "can you hear me"})
    assert wait_for(target, "chat_error", lambda p: p["event"] == "message")["message"] == "You are muted in this room."
    moderator.call("message", {"room": key, "message": "round trip"})
    wait_for(moderator, "message", lambda p: p["message"] == "round trip", start=mark)
    assert not [p for e, p in moderator.events[mark:] if e == "message" and p["message"] == "can you hear me"]
    assert moderator.call("history", {"room": key})["messages"][-1]["message"] == "round trip"

    moderator.call("moderate", {"room": key, "action": "unmute", "target_user_id": member.id})
    target.call("message", {"room": key, "message": "back"})
    wait_for(moderator, "message", lambda p: p["message"] == "back")

    mark = len(target.events)
    moderator.call("moderate", {"room": key, "action": "ban", "target_user_id": member.id})
    notice = wait_for(target, "user_kicked", start=mark)
    assert notice["kicked_user_id"] == member.id and "banned" in notice["message"]
    target.call("message", {"room": key, "message": "still here?"})
    assert wait_for(target, "chat_error", start=mark)["message"] == "You are not a member of this room."
    rejoin = gs.http(server.url, "POST", "/join_room", token=member.token, form={"room_key": key})
    assert rejoin.status_code == 403 and "You are banned from this room." in rejoin.text
    target.call("join", {"room": key})
    assert wait_for(target, "chat_error", lambda p: p["event"] == "join")["message"] == "You are not a member of this room."

    moderator.call("moderate", {"room": key, "action": "unban", "target_user_id": member.id})
    gs.join_room(server.url, member, key)


def test_a_new_key_locks_out_the_old_one_and_moves_connected_sockets(server, peers):
    owner, member, old_key = owner_member_room(server.url, "rot")
    outsider = gs.register(server.url, gs.unique("rotx"))
    listener = peers("L", server.url, "websocket", cookie=owner.cookie)
    talker = peers("T", server.url, "polling", cookie=member.cookie)
    listener.call("join", {"room": old_key, "presence": True})
    talker.call("join", {"room": old_key})

    refused = gs.http(server.url, "POST", f"/room/{old_key}/rotate_key", token=member.token)
    assert refused.status_code == 403 and "Only the room&#39;s owner can do that." in refused.text.replace("&#x27;", "&#39;")
    response = gs.http(server.url, "POST", f"/room/{old_key}/rotate_key", token=owner.token)
    assert response.status_code == 302
    new_key = gs.CHAT_LINK.match(response.headers["Location"].replace("/room/", "/chat/").removesuffix("/settings")).group(1)
    assert new_key != old_key
    update = wait_for(talker, "room_updated")
    assert update == {"room": old_key, "key": new_key, "name": "rot room"}

    # The old key opens nothing, joins nothing; the sockets already in the room moved.
    assert "Invalid room key" in gs.http(server.url, "POST", "/join_room", token=outsider.token, form={"room_key": old_key}).text
    assert gs.http(server.url, "GET", f"/chat/{old_key}", token=member.token).headers.get("Location") == "/join_room"
    talker.call("message", {"room": old_key, "message": "old key"})
    assert wait_for(talker, "chat_error")["message"] == "You are not a member of this room."
    talker.call("message", {"room": new_key, "message": "new key"})
    wait_for(listener, "message", lambda p: p["message"] == "new key")
    gs.join_room(server.url, outsider, new_key)


def test_settings_page_lists_roles_and_the_owner_renames_and_bans_by_form(server, peers):
    owner, member, key = owner_member_room(server.url, "set")
    target = peers("T", server.url, "websocket", cookie=member.cookie)
    target.call("join", {"room": key})
    page = gs.http(server.url, "GET", f"/room/{key}/settings", token=member.token)
    assert page.status_code == 200
    assert owner.username in page.text and member.username in page.text and ">owner<" in page.text
    assert f'action="/room/{key}/rename"' not in page.text, "members see no owner forms"
    gs.assert_page_is_self_contained(gs.summarise(page.text), "room settings")

    blank = gs.http(server.url, "POST", f"/room/{key}/rename", token=owner.token, form={"room_name": "  "})
    assert blank.status_code == 400 and "Room name cannot be empty." in blank.text
    renamed = gs.http(server.url, "POST", f"/room/{key}/rename", token=owner.token, form={"room_name": "Lounge"})
    assert renamed.status_code == 302
    assert wait_for(target, "room_updated") == {"room": key, "key": key, "name": "Lounge"}

    gs.http(server.url, "POST", f"/room/{key}/moderate", token=owner.token, form={"user_id": member.id, "action": "mute"})
    assert ">muted<" in gs.http(server.url, "GET", f"/room/{key}/settings", token=owner.token).text
    banned = gs.http(server.url, "POST", f"/room/{key}/moderate", token=owner.token, form={"user_id": member.id, "action": "ban"})
    assert banned.status_code == 302
    assert wait_for(target, "user_kicked")["kicked_user_id"] == member.id
    settings = gs.http(server.url, "GET", f"/room/{key}/settings", token=owner.token).text
    assert 'value="unban"' in settings
    bad = gs.http(server.url, "POST", f"/room/{key}/moderate", token=owner.token, form={"user_id": member.id, "action": "x"})
    assert bad.status_code == 400


def test_creating_a_room_follows_the_rename_rules_for_its_name(server):
    owner = gs.register(server.url, gs.unique("name"))
    too_long = gs.http(server.url, "POST", "/create_room", token=owner.token, form={"room_name": "x" * 101})
    assert too_long.status_code == 400 and "Room name is longer than 100 characters." in too_long.text
    blank = gs.http(server.url, "POST", "/create_room", token=owner.token, form={"room_name": " \t "})
    assert blank.status_code == 400 and "Room name cannot be empty." in blank.text
    assert gs.room_keys(server.url, owner.token) == []
    # The limit counts characters after trimming: 100 accented letters, padded, fit.
    longest = "\u00e9" * 100
    key = gs.create_room(server.url, owner, f"  {longest}  ")
    settings = gs.http(server.url, "GET", f"/room/{key}/settings", token=owner.token)
    assert f'value="{longest}"' in settings.text


def test_room_lists_come_in_pages_and_rooms_lists_joined_ones(server):
    owner = gs.register(server.url, gs.unique("page"))
    other = gs.register(server.url, gs.unique("pago"))
    for index in range(22):
        gs.http(server.url, "POST", "/create_room", token=owner.token, form={"room_name": f"room {index}"})
    joined = gs.create_room(server.url, other, "someone else's")
    gs.join_room(server.url, owner, joined)

    first = gs.summarise(gs.http(server.url, "GET", "/my_rooms", token=owner.token).text)
    chat_links = [link for link in first.links if link.startswith("/chat/")]
    assert len(set(chat_links)) == 20 and "/my_rooms?page=2" in first.links
    second = gs.summarise(gs.http(server.url, "GET", "/my_rooms?page=2", token=owner.token).text)
    assert len({link for link in second.links if link.startswith("/chat/")}) == 2
    assert "/my_rooms?page=1" in second.links and "/my_rooms?page=3" not in second.links

    everything = set()
    for page in (1, 2):
        summary = gs.summarise(gs.http(server.url, "GET", f"/rooms?page={page}", token=owner.token).text)
        everything |= {link for link in summary.links if link.startswith("/chat/")}
    # 22 created + 1 joined, 20 on the first page: created or joined, all are there.
    assert len(everything) == 23 and f"/chat/{joined}" in everything
    assert f"/chat/{joined}" not in {link for link in first.links if link.startswith("/chat/")}
