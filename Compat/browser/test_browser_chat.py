"""Real-browser end-to-end tests of the chat: two headless Chromium sessions (two users with
their own cookies) on the real chatify server, through its pages and the stock
socket.io-client the chat page loads.

Every wait is an explicit WebDriverWait condition; there is no sleep anywhere. Each test
ends by checking that no page requested anything outside the test server and that no
page logged a console error.
"""

import re
from datetime import datetime, timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser_support import WAIT

HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

XSS_MESSAGE = '<img src=x onerror="window.__xss=1"> and <b>bold</b>'
XSS_MESSAGE_2 = '</div><script>window.__xss=2</script><svg onload="window.__xss=3">'

# Console entries that are expected and allowed (a regex on the message each). Chromium
# asks every page's origin for /favicon.ico; chatify (like the Flask app) serves none, and
# Chromium logs the 404 as a console error.
# The pages declare an empty icon, so not even a favicon request may fail.
EXPECTED_CONSOLE: list[str] = []


# MARK: helpers


def assert_user_line(line, username, text, browser_name):
    assert line["username"] == username, f"[{browser_name}] wrong username in {line}"
    assert line["text"] == text, f"[{browser_name}] wrong text in {line}"
    assert HH_MM.match(line["time"] or ""), f"[{browser_name}] timestamp {line['time']!r} is not HH:MM in {line}"


def minutes_between(start, end):
    """Every local HH:MM from ``start`` to ``end`` (the server stamps its local time)."""
    minute = start.replace(second=0, microsecond=0)
    stamps = []
    while minute <= end:
        stamps.append(minute.strftime("%H:%M"))
        minute += timedelta(minutes=1)
    return stamps


def user_lines(browser):
    return [(m["username"], m["text"]) for m in browser.messages() if not m["system"]]


def assert_no_markup_in_messages(browser):
    injected = browser.js(
        "return Array.from(document.querySelectorAll("
        "'#messages img, #messages b, #messages i, #messages script, #messages svg, #messages iframe'))"
        ".map(function (e) { return e.outerHTML; });"
    )
    assert injected == [], f"[{browser.name}] markup from a message became elements: {injected}"
    added = browser.added_elements()
    assert added is not None, f"[{browser.name}] the mutation probe is gone (the page was reloaded?)"
    unexpected = sorted(set(added) - {"li", "div", "strong", "span", "button"})
    assert unexpected == [], f"[{browser.name}] elements created on the chat page besides message lines: {unexpected}"
    assert browser.xss_flag() is None, f"[{browser.name}] injected code ran: window.__xss = {browser.xss_flag()}"


def assert_text_only_page(browser, forbidden=("i", "b", "img", "svg", "iframe")):
    """No element of the forbidden kinds in the page, no script but the page's own, no
    injected code run."""
    found = browser.js(
        "return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.outerHTML; });",
        ", ".join(forbidden),
    )
    assert found == [], f"[{browser.name}] injected elements on {browser.path}: {found}"
    scripts = browser.js(
        "return Array.from(document.scripts).map(function (s) { return s.getAttribute('src') || s.textContent; });"
    )
    assert all(s and s.startswith("/") for s in scripts), f"[{browser.name}] unexpected script on {browser.path}: {scripts}"
    assert browser.xss_flag() is None, f"[{browser.name}] injected code ran on {browser.path}: window.__xss = {browser.xss_flag()}"


def assert_same_origin_and_quiet(*browsers, expected_console=EXPECTED_CONSOLE):
    """Every request any page made went to the test server; no page logged an error.
    Prints every console entry seen (pytest shows it with -s or on failure)."""
    problems = []
    for browser in browsers:
        for handle in browser.driver.window_handles:
            browser.driver.switch_to.window(handle)
            resources = browser.resource_urls()
            foreign = browser.foreign_urls(resources)
            if foreign:
                problems.append(f"[{browser.name}] resources of {browser.driver.current_url} off the server: {foreign}")
        browser.collect_logs()
        assert browser.requests, f"[{browser.name}] the performance log recorded no request at all"
        assert any(kind == "websocket" for kind, _, _ in browser.requests) or any(
            "/socket.io/" in (url or "") for _, url, _ in browser.requests
        ), f"[{browser.name}] the performance log recorded no Socket.IO traffic"
        foreign = browser.foreign_urls(url for _, url, _ in browser.requests)
        if foreign:
            problems.append(f"[{browser.name}] requests off the test server: {foreign}")
        for entry in browser.console:
            print(f"[{browser.name}] console {entry.get('level')} {entry.get('source')}: {entry.get('message')}")
            if entry.get("level") == "SEVERE" and not any(re.search(p, entry.get("message", "")) for p in expected_console):
                problems.append(f"[{browser.name}] console error: {entry.get('message')}")
    assert not problems, "\n".join(problems)


def start_users(browser, room_name="General"):
    """alice registers and creates a room; bob registers. Returns (alice, bob, key)."""
    alice = browser("alice")
    bob = browser("bob")
    alice.register("alice", "alice@example.com")
    assert alice.text_of("main h1") == "Hello, alice"
    key = alice.create_room(room_name)
    bob.register("bob", "bob@example.com")
    assert bob.text_of("main h1") == "Hello, bob"
    return alice, bob, key


# MARK: tests


def test_two_users_chat_live_with_notices_timestamps_and_text_only_messages(browser):
    alice, bob, key = start_users(browser)

    # alice is in the room first, then bob joins with the key: both see bob arrive.
    alice.open_chat(key, "alice")
    assert alice.text_of(".chat-header h1") == "General"
    bob.join_with_key(key)
    bob.wait_for_system("bob has joined the room")
    alice.wait_for_system("bob has joined the room")
    assert alice.system_lines() == ["alice has joined the room", "bob has joined the room"]
    assert bob.system_lines() == ["bob has joined the room"]
    assert bob.text_of(".chat-header h1") == "General"
    assert alice.js("return document.body.dataset.isOwner") == "true"
    assert bob.js("return document.body.dataset.isOwner") == "false"

    alice.install_mutation_probe()
    bob.install_mutation_probe()

    # alice types and presses Enter; bob types and clicks Send.
    sent = datetime.now()
    alice.type_message("Hello from alice").send_keys(Keys.ENTER)
    for b in (alice, bob):
        line = b.wait_for_chat_line("alice", "Hello from alice")
        assert_user_line(line, "alice", "Hello from alice", b.name)
        local = minutes_between(sent, datetime.now())
        assert line["time"] in local, f"[{b.name}] timestamp {line['time']} is not the local time {local}"
    assert alice.js("return document.getElementById('message-input').value") == "", "the box was not cleared"

    bob.type_message("Hi alice, bob here")
    bob.find("[data-send]").click()
    for b in (alice, bob):
        assert_user_line(b.wait_for_chat_line("bob", "Hi alice, bob here"), "bob", "Hi alice, bob here", b.name)
    assert bob.js("return document.getElementById('message-input').value") == "", "the box was not cleared"

    expected = [("alice", "Hello from alice"), ("bob", "Hi alice, bob here")]
    assert user_lines(alice) == expected
    assert user_lines(bob) == expected

    # Own lines are marked; only the owner gets kick buttons, and only on others' lines.
    by_alice = {m["username"]: m for m in alice.messages() if not m["system"]}
    by_bob = {m["username"]: m for m in bob.messages() if not m["system"]}
    assert "mine" in by_alice["alice"]["className"].split() and by_alice["alice"]["kick"] == 0
    assert "mine" not in by_alice["bob"]["className"].split() and by_alice["bob"]["kick"] == 1
    assert "mine" in by_bob["bob"]["className"].split()
    assert by_bob["alice"]["kick"] == 0 and by_bob["bob"]["kick"] == 0, "a non-owner was shown a kick button"

    # Markup in messages is shown as text in both browsers, and nothing runs.
    alice.type_message(XSS_MESSAGE).send_keys(Keys.ENTER)
    bob.type_message(XSS_MESSAGE_2)
    bob.find("[data-send]").click()
    for b in (alice, bob):
        assert_user_line(b.wait_for_chat_line("alice", XSS_MESSAGE), "alice", XSS_MESSAGE, b.name)
        assert_user_line(b.wait_for_chat_line("bob", XSS_MESSAGE_2), "bob", XSS_MESSAGE_2, b.name)
        assert_no_markup_in_messages(b)
        texts = b.js("return Array.from(document.querySelectorAll('#messages .text')).map(function (e) { return e.textContent; });")
        assert texts == ["Hello from alice", "Hi alice, bob here", XSS_MESSAGE, XSS_MESSAGE_2], f"[{b.name}] {texts}"

    for b in (alice, bob):
        assert b.find(".chat-error").get_attribute("hidden") is not None, f"[{b.name}] a chat error is shown"

    assert_same_origin_and_quiet(alice, bob)


def test_html_in_usernames_and_room_names_is_shown_as_text(browser):
    eve_name = '<i>eve</i> &amp; "q" \'s'
    room_name = 'Eve\'s "lab" & <b>bold</b><script>window.__xss=4</script><img src=x onerror="window.__xss=5">'
    eve = browser("eve")
    carol = browser("carol")

    eve.register(eve_name, "eve@example.com")
    assert eve.text_of("main h1") == f"Hello, {eve_name}"
    assert eve.text_of("main p.muted") == "eve@example.com"
    assert_text_only_page(eve)

    key = eve.create_room(room_name)
    assert eve.text_of(".room-list li:last-child a.room-name") == room_name
    assert eve.find(".room-list li:last-child [data-copy-key]").get_attribute("data-copy-key") == key
    assert_text_only_page(eve)

    eve.open_chat(key, eve_name)
    assert eve.system_lines() == [f"{eve_name} has joined the room"]
    assert eve.text_of(".chat-header h1") == room_name
    assert eve.driver.title == f"{room_name} - Chat"
    assert eve.js("return document.body.dataset.roomKey") == key
    assert_text_only_page(eve)
    eve.install_mutation_probe()

    carol.register("carol", "carol@example.com")
    carol.join_with_key(key)
    carol.wait_for_system("carol has joined the room")
    eve.wait_for_system("carol has joined the room")
    assert carol.text_of(".chat-header h1") == room_name
    assert_text_only_page(carol)
    carol.install_mutation_probe()

    eve.type_message("hello from eve").send_keys(Keys.ENTER)
    for b in (eve, carol):
        assert_user_line(b.wait_for_chat_line(eve_name, "hello from eve"), eve_name, "hello from eve", b.name)
        assert_no_markup_in_messages(b)
        assert_text_only_page(b)

    assert_same_origin_and_quiet(eve, carol)


OPEN_PROBE_SOCKET = """
var room = arguments[0];
var done = arguments[arguments.length - 1];
var script = document.createElement('script');
script.src = '/socket.io/socket.io.min.js';
script.onerror = function () { done('the Socket.IO client script did not load'); };
script.onload = function () {
    var socket = io({ forceNew: true });
    window.__probe = { socket: socket, events: [], acks: 0 };
    socket.onAny(function (name, data) { window.__probe.events.push([name, data]); });
    socket.on('connect_error', function (error) { done('connect_error: ' + error.message); });
    socket.on('connect', function () { socket.emit('join', { room: room }); done('connected'); });
};
document.head.appendChild(script);
"""

PROBE_ROUNDTRIP = """
var room = arguments[0];
window.__probe.socket.emit('join', { room: room }, function () { window.__probe.acks += 1; });
return window.__probe.acks;
"""


def probe_events(browser):
    """(event name, payload dict) for every event bob's bare socket received."""
    events = browser.js("return window.__probe ? window.__probe.events : null;") or []
    return [(name, data if isinstance(data, dict) else {"value": data}) for name, data in events]


def test_leave_notice_then_kick_removes_the_member(browser):
    alice, bob, key = start_users(browser)

    # bob is in the room first this time; he sees alice arrive.
    bob.join_with_key(key)
    bob.wait_for_system("bob has joined the room")
    bob_id = bob.js("return document.body.dataset.userId")
    assert bob_id
    alice.open_chat(key, "alice")
    bob.wait_for_system("alice has joined the room")
    assert bob.system_lines() == ["bob has joined the room", "alice has joined the room"]
    assert alice.system_lines() == ["alice has joined the room"]

    bob.type_message("bob before leaving")
    bob.find("[data-send]").click()
    alice.wait_for_chat_line("bob", "bob before leaving")

    # bob navigates away: alice is told he left.
    bob.get("/dashboard")
    bob.wait_for_path("/dashboard")
    alice.wait_for_system("bob has left the room")

    # Leaving the page is not leaving the room: bob can come back.
    bob.open_chat(key, "bob")
    alice.wait_for_system("bob has joined the room")
    bob.type_message("bob is back").send_keys(Keys.ENTER)
    alice.wait_for_chat_line("bob", "bob is back")
    bob.wait_for_chat_line("bob", "bob is back")
    chat_tab = bob.driver.current_window_handle

    # A second socket of bob's (a bare client in another tab of his browser, which does not
    # disconnect itself when kicked) shows what the server still sends him.
    bob.driver.switch_to.new_window("tab")
    bob.get("/dashboard")
    assert bob.driver.execute_async_script(OPEN_PROBE_SOCKET, key) == "connected"
    bob.wait(
        lambda b: any(
            n == "message" and d.get("username") == "System" and d.get("message") == "bob has joined the room"
            for n, d in probe_events(b)
        ),
        "bob's second socket has joined the room",
    )
    alice.wait_for_system("bob has joined the room", count=2)
    alice.type_message("before the kick").send_keys(Keys.ENTER)
    alice.wait_for_chat_line("alice", "before the kick")
    bob.wait(
        lambda b: any(n == "message" and d.get("message") == "before the kick" for n, d in probe_events(b)),
        "bob's second socket receives alice's message (control)",
    )
    bob.driver.switch_to.window(chat_tab)
    bob.wait_for_chat_line("alice", "before the kick")

    # alice (the owner) kicks bob from one of his messages.
    line = alice.wait(
        lambda b: next(
            (
                li
                for li in b.find_all("#messages > li")
                if "system" not in li.get_attribute("class").split()
                and li.find_element(By.CSS_SELECTOR, ".meta strong").text == "bob"
                and li.find_element(By.CSS_SELECTOR, ".text").text == "bob is back"
            ),
            None,
        ),
        "bob's message 'bob is back' is on alice's page",
    )
    line.find_element(By.CSS_SELECTOR, "button.kick").click()
    bob.wait_for_path("/dashboard")
    alice.wait_for_system("bob has been kicked from the room")
    assert alice.find(".chat-error").get_attribute("hidden") is not None, alice.describe()

    # The server took bob's other socket out of the room too.
    bob.driver.switch_to.window([h for h in bob.driver.window_handles if h != chat_tab][0])
    bob.wait(
        lambda b: any(n == "user_kicked" and d.get("kicked_user_id") == bob_id for n, d in probe_events(b)),
        "bob's second socket is told about the kick",
    )
    alice.type_message("after the kick").send_keys(Keys.ENTER)
    alice.wait_for_chat_line("alice", "after the kick")
    # One more round trip on bob's socket after alice's message went out: if the server
    # still had him in the room, her message would have been queued to him before this.
    acks = bob.js(PROBE_ROUNDTRIP, key)
    bob.wait(lambda b: b.js("return window.__probe.acks;") > acks, "bob's second socket gets its ack")
    bob.wait(
        lambda b: any(
            n == "chat_error" and d.get("message") == "You are not a member of this room." for n, d in probe_events(b)
        ),
        "bob's re-join is refused with chat_error 'You are not a member of this room.'",
    )
    received = [d.get("message") for n, d in probe_events(bob) if n == "message"]
    assert "after the kick" not in received, f"a kicked user's socket still got room messages: {received}"

    # He is no longer a member: the chat page sends him to /join_room.
    bob.driver.switch_to.window(chat_tab)
    bob.get(f"/chat/{key}")
    bob.wait_for_path("/join_room")

    assert_same_origin_and_quiet(alice, bob)


def test_leave_room_button_ends_membership(browser):
    alice, bob, key = start_users(browser)
    alice.open_chat(key, "alice")
    bob.join_with_key(key)
    alice.wait_for_system("bob has joined the room")
    bob.wait_for_system("bob has joined the room")

    bob.find(f"nav form[action='/leave_room/{key}'] button").click()
    bob.wait_for_path("/dashboard")
    alice.wait_for_system("bob has left the room")

    bob.get(f"/chat/{key}")
    bob.wait_for_path("/join_room")
    # alice's room lists one member again.
    alice.get("/my_rooms")
    assert "1 member(s)" in alice.text_of(".room-list li:last-child .muted"), alice.text_of(".room-list li:last-child")

    assert_same_origin_and_quiet(alice, bob)
