"""Room activity in the chat page (headless Chromium): "Online: N" and the member list
from presence events (two tabs of one user count once), the typing indicator appearing
and ending by itself, and history on opening the chat with older pages loaded by
scrolling up; the owner muting, re-keying and banning from the settings page while the
member's chat page is open. Waits are WebDriverWait conditions; no sleeps."""

import socketio

from selenium.webdriver.common.keys import Keys

from browser_support import WAIT
from test_browser_chat import assert_same_origin_and_quiet, start_users, user_lines

def post_as(browser, key, texts):
    """Posts `texts` to the room with stock python-socketio clients holding the browser's
    cookie: two sockets one after the other, each under the per-socket burst limit."""
    cookie = browser.driver.get_cookie("access_token_cookie")["value"]
    half = len(texts) // 2
    for batch in (texts[:half], texts[half:]):
        client = socketio.Client(reconnection=False)
        client.connect(browser.base_url, headers={"Cookie": f"access_token_cookie={cookie}"}, wait_timeout=WAIT)
        try:
            client.call("join", {"room": key}, timeout=WAIT)
            for text in batch:
                client.call("message", {"room": key, "message": text}, timeout=WAIT)
        finally:
            client.disconnect()


def online(browser):
    return browser.text_of("#user-count"), [e.text for e in browser.find_all("#member-list li")]


def test_presence_typing_and_history_in_the_chat_page(browser):
    alice, bob, key = start_users(browser)
    alice.open_chat(key, "alice")
    bob.join_with_key(key)
    bob.wait_for_system("bob has joined the room")
    alice.wait(lambda b: online(b) == ("2", ["alice", "bob"]), "alice sees 2 online: alice and bob")
    bob.wait(lambda b: online(b) == ("2", ["alice", "bob"]), "bob sees 2 online")

    # A second tab of bob's is the same user: still 2.
    first_tab = bob.driver.current_window_handle
    bob.driver.switch_to.new_window("tab")
    bob.open_chat(key, "bob")
    alice.wait_for_system("bob has joined the room", count=2)
    bob.wait(lambda b: online(b) == ("2", ["alice", "bob"]), "bob's second tab sees 2 online")
    assert online(alice) == ("2", ["alice", "bob"])
    bob.driver.close()
    bob.driver.switch_to.window(first_tab)
    assert online(alice) == ("2", ["alice", "bob"]), "bob's first tab keeps him online"

    # bob types without sending: alice sees it, then it ends by itself (the server
    # expires a start after 5 s).
    bob.type_message("hello the")
    indicator = "#typing-indicator"
    alice.wait(lambda b: b.find(indicator).is_displayed() and b.text_of(indicator) == "bob is typing\u2026",
               "alice sees that bob is typing")
    assert not bob.find(indicator).is_displayed(), "one's own typing is not shown"
    alice.wait(lambda b: not b.find(indicator).is_displayed(), "the typing indicator ends by itself", timeout=WAIT + 10)

    # 60 stored messages; a freshly opened chat shows the newest 50, scrolling up the rest.
    post_as(alice, key, [f"m{n:02d}" for n in range(60)])
    alice.wait_for_chat_line("alice", "m59")
    bob.get("/dashboard")
    bob.open_chat(key, "bob")
    bob.wait(lambda b: len(user_lines(b)) == 50, "bob's new page shows the newest 50 messages")
    assert user_lines(bob) == [("alice", f"m{n:02d}") for n in range(10, 60)]
    bob.js("document.getElementById('messages').scrollTop = 0;")
    bob.wait(lambda b: len(user_lines(b)) == 60, "scrolling up loads the 10 older messages")
    assert user_lines(bob) == [("alice", f"m{n:02d}") for n in range(60)]
    assert bob.text_of(".history-status") == "Start of the conversation"
    assert bob.system_lines() == ["bob has joined the room"], "history holds no notices"

    # Once bob's last tab is gone (the closed one too), alice is alone.
    bob.get("/dashboard")
    alice.wait(lambda b: online(b) == ("1", ["alice"]), "alice sees 1 online after bob's last tab left")

    assert_same_origin_and_quiet(alice, bob)


def test_owner_moderates_and_rotates_the_key_from_the_settings_page(browser):
    alice, bob, key = start_users(browser)
    bob.join_with_key(key)
    bob.wait_for_system("bob has joined the room")
    bob_id = bob.js("return document.body.dataset.userId")

    # alice mutes bob on the settings page (plain forms): bob's page says so, and the
    # server refuses his messages.
    alice.get(f"/room/{key}/settings")
    assert [e.text for e in alice.find_all("#members .role")] == ["owner", "member"]
    alice.find(f"#members li[data-user-id='{bob_id}'] button[value='mute']").click()
    alice.wait(lambda b: b.find_all(f"#members li[data-user-id='{bob_id}'] button[value='unmute']"), "bob shows as muted")
    bob.wait(lambda b: b.text_of(".chat-error") == "The owner muted you: you can read but not post.", "bob is told")
    bob.type_message("am I muted?").send_keys(Keys.ENTER)
    bob.wait(lambda b: b.text_of(".chat-error") == "You are muted in this room.", "the server refuses bob's message")
    alice.find(f"#members li[data-user-id='{bob_id}'] button[value='unmute']").click()
    alice.wait(lambda b: b.find_all(f"#members li[data-user-id='{bob_id}'] button[value='mute']"), "bob is unmuted")

    # A new key: bob's open page follows it and keeps chatting; the old key is dead.
    alice.find("form[action$='/rotate_key'] button").click()
    alice.wait(lambda b: b.path.endswith("/settings") and b.path != f"/room/{key}/settings", "the settings page has the new key")
    new_key = alice.text_of("#room-key")
    assert new_key and new_key != key
    bob.wait_for_path(f"/chat/{new_key}")
    bob.type_message("after the new key").send_keys(Keys.ENTER)
    bob.wait_for_chat_line("bob", "after the new key")
    alice.get(f"/chat/{key}")
    alice.wait_for_path("/join_room")

    # A ban sends bob's page away, and his key no longer lets him in.
    alice.get(f"/room/{new_key}/settings")
    alice.find(f"#members li[data-user-id='{bob_id}'] button[value='ban']").click()
    alice.wait(lambda b: b.find_all(f"#banned li[data-user-id='{bob_id}']"), "bob is listed as banned")
    bob.wait_for_path("/dashboard")
    bob.get("/join_room")
    bob.fill_and_submit({"room_key": new_key})
    bob.wait(lambda b: b.text_of(".error") == "You are banned from this room.", "joining by key is refused")

    # The owner's chat page under the new key works as before.
    alice.open_chat(new_key, "alice")
    # The refused join answers 403, which Chromium logs as a failed load.
    assert_same_origin_and_quiet(
        alice, bob, expected_console=[r"/join_room - Failed to load resource: the server responded with a status of 403"]
    )
