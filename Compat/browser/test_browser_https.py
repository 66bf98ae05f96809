"""The chat in a real browser over HTTPS and WSS served by chatify itself
(TLS_CERT_FILE/TLS_KEY_FILE, a self-signed certificate made by the test), with
permessage-deflate enabled (threshold 64 bytes) so Chromium's offer of it is taken
and chat messages travel compressed."""

from selenium.webdriver.common.keys import Keys

from test_browser_chat import assert_same_origin_and_quiet, assert_user_line, start_users


def test_chat_over_https_and_wss_with_secure_cookies_and_compressed_websocket(https_browser, https_server):
    assert https_server.url.startswith("https://")
    alice, bob, key = start_users(https_browser)

    # Served directly over TLS, the login cookie is marked Secure.
    for b in (alice, bob):
        cookie = b.driver.get_cookie("access_token_cookie")
        assert cookie is not None, f"[{b.name}] no login cookie"
        assert cookie["secure"] is True, f"[{b.name}] the login cookie is not Secure: {cookie}"

    alice.open_chat(key, "alice")
    bob.join_with_key(key)
    alice.wait_for_system("bob has joined the room")
    alice.type_message("Hello over TLS").send_keys(Keys.ENTER)
    for b in (alice, bob):
        assert_user_line(b.wait_for_chat_line("alice", "Hello over TLS"), "alice", "Hello over TLS", b.name)

    # Over the server's threshold (64 bytes here): this message travels compressed.
    long_text = " ".join(["compressible"] * 36)
    bob.type_message(long_text)
    bob.find("[data-send]").click()
    for b in (alice, bob):
        assert_user_line(b.wait_for_chat_line("bob", long_text), "bob", long_text, b.name)

    for b in (alice, bob):
        b.collect_logs()
        sockets = [url for kind, url, _ in b.requests if kind == "websocket"]
        assert sockets and all(url.startswith("wss://") for url in sockets), f"[{b.name}] WebSockets: {sockets}"
        extensions = [
            value for headers in b.websocket_handshakes for name, value in headers.items()
            if name.lower() == "sec-websocket-extensions"
        ]
        assert extensions and all(v.startswith("permessage-deflate") for v in extensions), (
            f"[{b.name}] negotiated extensions: {extensions} of {b.websocket_handshakes}"
        )
    assert_same_origin_and_quiet(alice, bob)
