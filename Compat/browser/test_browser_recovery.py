"""Connection state recovery in a real browser: the chat page on the stock
socket.io-client 4.8.1 reaches chatify (``CONNECTION_STATE_RECOVERY=120``) through a TCP
proxy that this test cuts: every connection is dropped and new ones are refused for 10 s,
while another user keeps posting. Afterwards the page has every message, its socket has
the same id and says ``recovered``, and nobody saw a join notice twice.

No sleep: the proxy's 10 s are the scenario itself; every wait is a condition.
"""

import socket
import struct
import threading
import time

import pytest

import browser_support
from conftest import ChatifyProcess, chatify_binary, running, server_environment

CUT_SECONDS = 10
# The client retries with a backoff of up to 5 s (±50 %), so it is back within ~18 s.
RECONNECT_WAIT = CUT_SECONDS + 20

# Runs before the page's own scripts: keeps the socket the page creates reachable as
# window.__socket (the page holds it in a closure).
CAPTURE_SOCKET = """
(function () {
    var wrapped;
    Object.defineProperty(window, "io", {
        configurable: true,
        get: function () { return wrapped; },
        set: function (real) {
            wrapped = function () { var s = real.apply(this, arguments); window.__socket = s; return s; };
            Object.assign(wrapped, real);
        }
    });
})();
"""


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the server; ``cut`` drops every connection (RST)
    and refuses new ones (accepted and reset at once) until ``seconds`` have passed."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = set()
        self.refusing = threading.Event()
        self.refused = 0
        self.closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _reset(conn):
        # shutdown first: close alone would not wake the pump thread blocked in recv.
        for step in (
            lambda: conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
            lambda: conn.shutdown(socket.SHUT_RDWR),
            conn.close,
        ):
            try:
                step()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                self.refused += 1
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                self._reset(client)
                continue
            with self.lock:
                self.connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.connections.discard(source)
                self.connections.discard(sink)
            for conn in (source, sink):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self, seconds):
        self.refusing.set()
        with self.lock:
            dropped = list(self.connections)
            self.connections.clear()
        for conn in dropped:
            self._reset(conn)
        timer = threading.Timer(seconds, self.refusing.clear)
        timer.daemon = True
        timer.start()
        return len(dropped)

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut(0)


def proxied(server):
    forwarder = CuttableProxy(server.port)
    yield forwarder
    forwarder.close()


@pytest.fixture
def recovering_server():
    environment = server_environment()
    environment["CONNECTION_STATE_RECOVERY"] = "120"
    yield from running(ChatifyProcess(chatify_binary(), environment))


@pytest.fixture
def proxy(recovering_server):
    yield from proxied(recovering_server)


@pytest.fixture
def plain_server():
    """The default settings: no connection state recovery."""
    yield from running(ChatifyProcess(chatify_binary(), server_environment()))


@pytest.fixture
def plain_proxy(plain_server):
    yield from proxied(plain_server)


@pytest.fixture
def busy_server():
    """No recovery, and event limits that let one page post a few hundred messages at once."""
    environment = server_environment()
    environment["SOCKET_EVENTS_PER_SECOND"] = "10000"
    environment["USER_EVENTS_PER_SECOND"] = "10000"
    yield from running(ChatifyProcess(chatify_binary(), environment))


@pytest.fixture
def busy_proxy(busy_server):
    yield from proxied(busy_server)


def socket_state(browser):
    return browser.js(
        "var s = window.__socket; return s ? {id: s.id || null, connected: s.connected, "
        "recovered: s.recovered === true} : null;"
    )


def alice_behind_the_proxy_and_bob(proxy, server, tmp_path_factory, sessions):
    """alice's browser reaches the server through the proxy, bob's directly; both have the
    chat of alice's room open, and alice has seen bob arrive."""
    alice = browser_support.Browser("alice", proxy.url, tmp_path_factory.mktemp("chromium-alice"))
    sessions.append(alice)
    bob = browser_support.Browser("bob", server.url, tmp_path_factory.mktemp("chromium-bob"))
    sessions.append(bob)
    for browser in (alice, bob):
        browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_SOCKET})

    alice.register("alice", "alice@example.com")
    key = alice.create_room("Signal")
    bob.register("bob", "bob@example.com")
    alice.open_chat(key, "alice")
    bob.join_with_key(key)
    alice.wait_for_system("bob has joined the room")
    return alice, bob, key


def test_a_page_cut_off_for_ten_seconds_recovers_its_socket_and_every_message(recovering_server, proxy, tmp_path_factory):
    sessions = []
    try:
        alice, bob, key = alice_behind_the_proxy_and_bob(proxy, recovering_server, tmp_path_factory, sessions)
        bob.wait_for_system("bob has joined the room")
        before = alice.wait(lambda b: (s := socket_state(b)) and s["connected"] and s, "alice's socket is connected")

        started = time.monotonic()
        assert proxy.cut(CUT_SECONDS) > 0, "the proxy had no connection to drop"
        alice.wait(lambda b: socket_state(b)["connected"] is False, "alice's page noticed the cut")

        sent = []
        while time.monotonic() - started < CUT_SECONDS - 2:
            text = f"while you were away #{len(sent) + 1}"
            bob.type_message(text).send_keys("\n")
            bob.wait_for_chat_line("bob", text)
            sent.append(text)
        assert len(sent) >= 3, f"bob posted only {len(sent)} messages during the cut"
        if proxy.refusing.is_set():
            assert not socket_state(alice)["connected"], "alice reconnected while the proxy refused connections"

        after = alice.wait(
            lambda b: (s := socket_state(b)) and s["connected"] and s,
            "alice's socket is connected again",
            timeout=RECONNECT_WAIT,
        )
        back_after = time.monotonic() - started
        assert back_after >= CUT_SECONDS, "alice came back before the cut ended"
        assert proxy.refused > 0, "alice never tried to reconnect during the cut"
        assert after["recovered"] is True, f"the socket was not recovered: {after}"
        assert after["id"] == before["id"], f"socket id changed: {before['id']} -> {after['id']}"

        for text in sent:
            alice.wait_for_chat_line("bob", text)
        bob.type_message("welcome back").send_keys("\n")
        alice.wait_for_chat_line("bob", "welcome back")
        alice.type_message("thanks, I missed nothing").send_keys("\n")
        bob.wait_for_chat_line("alice", "thanks, I missed nothing")
        # Alice's own echo travels apart from bob's copy: wait for it on her page.
        alice.wait_for_chat_line("alice", "thanks, I missed nothing")

        lines = [m["text"] for m in alice.messages() if not m["system"]]
        assert lines == sent + ["welcome back", "thanks, I missed nothing"], f"alice's page shows {lines}"
        # The page re-emits join on every connect; a recovered socket is not announced again.
        assert alice.system_lines() == ["alice has joined the room", "bob has joined the room"]
        assert bob.system_lines() == ["bob has joined the room"]
        assert not alice.text_of(".chat-error"), f"alice's page shows an error: {alice.text_of('.chat-error')!r}"
        print(
            f"recovered {back_after:.1f} s after the cut ({CUT_SECONDS} s refused, {proxy.refused} attempts refused); "
            f"{len(sent)} messages posted meanwhile, all shown once"
        )
    finally:
        for session in sessions:
            session.quit()


def test_a_page_that_reconnects_without_recovery_shows_what_it_missed_once(plain_server, plain_proxy, tmp_path_factory):
    sessions = []
    try:
        alice, bob, key = alice_behind_the_proxy_and_bob(plain_proxy, plain_server, tmp_path_factory, sessions)
        bob.type_message("before the cut").send_keys("\n")
        alice.wait_for_chat_line("bob", "before the cut")
        before = alice.wait(lambda b: (s := socket_state(b)) and s["connected"] and s, "alice's socket is connected")

        # Refused until the test lets alice back in, after bob has posted.
        assert plain_proxy.cut(RECONNECT_WAIT * 2) > 0, "the proxy had no connection to drop"
        alice.wait(lambda b: socket_state(b)["connected"] is False, "alice's page noticed the cut")
        missed = ["posted while you were away #1", "posted while you were away #2"]
        for text in missed:
            bob.type_message(text).send_keys("\n")
            bob.wait_for_chat_line("bob", text)
        plain_proxy.refusing.clear()

        after = alice.wait(
            lambda b: (s := socket_state(b)) and s["connected"] and s,
            "alice's socket is connected again",
            timeout=RECONNECT_WAIT,
        )
        assert after["recovered"] is False and after["id"] != before["id"], f"not a fresh connection: {after}"
        for text in missed:
            alice.wait_for_chat_line("bob", text)
        bob.type_message("welcome back").send_keys("\n")
        alice.wait_for_chat_line("bob", "welcome back")

        lines = [m["text"] for m in alice.messages() if not m["system"]]
        assert lines == ["before the cut"] + missed + ["welcome back"], f"alice's page shows {lines}"
        assert not alice.text_of(".chat-error"), f"alice's page shows an error: {alice.text_of('.chat-error')!r}"
    finally:
        for session in sessions:
            session.quit()


# More than the 100 messages one catch-up page holds.
MISSED_MANY = 130


def test_a_page_that_missed_more_than_a_page_can_scroll_back_through_all_of_it(busy_server, busy_proxy, tmp_path_factory):
    sessions = []
    try:
        alice, bob, key = alice_behind_the_proxy_and_bob(busy_proxy, busy_server, tmp_path_factory, sessions)
        bob.type_message("before the cut").send_keys("\n")
        alice.wait_for_chat_line("bob", "before the cut")

        assert busy_proxy.cut(RECONNECT_WAIT * 2) > 0, "the proxy had no connection to drop"
        alice.wait(lambda b: socket_state(b)["connected"] is False, "alice's page noticed the cut")
        missed = [f"missed #{n}" for n in range(1, MISSED_MANY + 1)]
        bob.js(
            "for (var i = 0; i < arguments[1].length; i++) "
            "window.__socket.emit('message', {room: arguments[0], message: arguments[1][i]});",
            key,
            missed,
        )
        bob.wait_for_chat_line("bob", missed[-1])
        busy_proxy.refusing.clear()

        alice.wait(lambda b: (s := socket_state(b)) and s["connected"], "alice's socket is connected again",
                   timeout=RECONNECT_WAIT)
        alice.wait_for_chat_line("bob", missed[-1])
        alice.wait_for_system("You missed more messages than fit here: scroll up for the rest.")

        def scrolled_back_to_the_start(browser):
            browser.js("document.getElementById('messages').scrollTop = 0;")
            return [m["text"] for m in browser.messages() if not m["system"]] == ["before the cut"] + missed

        alice.wait(scrolled_back_to_the_start, "alice scrolled back through every missed message, each once, in order")
    finally:
        for session in sessions:
            session.quit()
