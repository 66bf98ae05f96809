"""A headless Chromium session on the chatify pages, with the waits the tests use.

Selenium drives the system Chromium through the system ``chromedriver`` (Debian packages
``chromium`` and ``chromium-driver``); Selenium Manager is never asked to download
anything. Every wait is a ``WebDriverWait`` on an explicit condition.

Each session keeps, across navigations, every URL its pages requested (the DevTools
performance log: HTTP requests and WebSockets) and every browser console entry, so a
test can assert that nothing left the test server and that no page logged an error.
"""

import json
import os
import shutil
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Documents of the browser itself, not of any page under test.
BROWSER_UI_SCHEMES = ("chrome://", "chrome-untrusted://", "devtools://")

WAIT = float(os.environ.get("BROWSER_WAIT_TIMEOUT", "15"))

# Every message line of #messages, as the user sees it.
SNAPSHOT_MESSAGES = """
return Array.from(document.querySelectorAll('#messages > li')).map(function (li) {
    var meta = li.querySelector('.meta');
    var who = li.querySelector('.meta strong');
    var when = li.querySelector('.meta span');
    var text = li.querySelector('.text');
    return {
        className: li.className,
        system: li.classList.contains('system'),
        username: who ? who.textContent : null,
        time: when ? when.textContent : null,
        text: li.classList.contains('system') ? li.textContent : (text ? text.textContent : null),
        kick: li.querySelectorAll('button.kick').length,
        elements: Array.from(li.querySelectorAll('*')).map(function (e) { return e.tagName.toLowerCase(); })
    };
});
"""

# Records every element ever added to the document from now on (even one removed again),
# and whether an injected script or handler ran (window.__xss).
INSTALL_MUTATION_PROBE = """
if (!window.__addedElements) {
    window.__addedElements = [];
    new MutationObserver(function (records) {
        records.forEach(function (record) {
            record.addedNodes.forEach(function (node) {
                if (node.nodeType !== 1) { return; }
                [node].concat(Array.from(node.querySelectorAll('*'))).forEach(function (e) {
                    window.__addedElements.push(e.tagName.toLowerCase());
                });
            });
        });
    }).observe(document.documentElement, { childList: true, subtree: true });
}
return true;
"""


def find_executable(name):
    found = shutil.which(name)
    if not found:
        raise RuntimeError(
            f"'{name}' not found on PATH; install the Debian packages: "
            f"apt-get install -y chromium chromium-driver"
        )
    return found


class Browser:
    """One user's browser: its own profile, cookies, tabs and logs."""

    def __init__(self, name, base_url, profile_dir, accept_insecure_certs=False):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.origin = urlsplit(self.base_url)
        self.requests = []  # (method or 'websocket', url, page url when seen)
        self.console = []  # Chromium console entries: {level, message, source, timestamp}
        self.browser_ui_requests = []  # requests of Chromium's own pages, not ours
        self.websocket_handshakes = []  # response headers of every WebSocket handshake
        options = webdriver.ChromeOptions()
        options.binary_location = find_executable("chromium")
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile_dir}",
            "--window-size=1280,900",
            "--no-first-run",
            "--no-default-browser-check",
            # Keep the browser's own traffic (updates, sync, ...) out of the picture.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # A test server with a self-signed certificate (the HTTPS test).
        options.accept_insecure_certs = accept_insecure_certs
        service = Service(executable_path=find_executable("chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT * 2)
        self.driver.set_script_timeout(WAIT)

    # MARK: navigation and waiting

    def url(self, path):
        return self.base_url + path

    def get(self, path):
        self.driver.get(self.url(path))
        self.collect_logs()

    @property
    def path(self):
        parts = urlsplit(self.driver.current_url)
        return parts.path

    def wait(self, condition, message, timeout=WAIT):
        """Waits until ``condition(self)`` is truthy and returns it; the failure says
        ``message`` (a string or a callable giving one) and what the page shows."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda _: condition(self))
        except TimeoutException:
            text = message() if callable(message) else message
            raise AssertionError(
                f"[{self.name}] timed out after {timeout:g} s waiting until {text}\n"
                f"  at {self.driver.current_url}\n{self.describe()}"
            ) from None

    def wait_for_path(self, path, timeout=WAIT):
        self.wait(lambda b: b.path == path, f"the browser is at {path}", timeout)
        self.collect_logs()

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_of(self, css):
        """textContent (not innerText: what the DOM holds, markup-looking or not)."""
        return self.js("var e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def describe(self):
        try:
            lines = [f"  title: {self.driver.title!r}"]
            if self.find_all("#messages"):
                for line in self.messages():
                    lines.append(f"  message: {line}")
            for css in (".error", ".chat-error"):
                for element in self.find_all(css):
                    if element.text:
                        lines.append(f"  {css}: {element.text!r}")
            return "\n".join(lines)
        except Exception as error:  # the page may be gone
            return f"  (page not readable: {error})"

    # MARK: the chat page

    def messages(self):
        return self.js(SNAPSHOT_MESSAGES) or []

    def system_lines(self):
        return [m["text"] for m in self.messages() if m["system"]]

    def wait_for_system(self, text, count=1, timeout=WAIT):
        """Waits until the system line ``text`` is shown ``count`` times (at least)."""
        self.wait(
            lambda b: b.system_lines().count(text) >= count,
            f"the system line {text!r} is shown {count} time(s)",
            timeout,
        )

    def wait_for_chat_line(self, username, text, timeout=WAIT):
        """Waits until a user line with that username and text is shown and returns it."""

        def found(b):
            for line in b.messages():
                if not line["system"] and line["username"] == username and line["text"] == text:
                    return line
            return None

        return self.wait(found, f"a message from {username!r} with text {text!r} is shown", timeout)

    def open_chat(self, key, username):
        """Opens /chat/<key> and waits until this page's own join notice came back (its
        socket is in the room)."""
        self.get(f"/chat/{key}")
        self.wait_for_path(f"/chat/{key}")
        self.wait_for_system(f"{username} has joined the room")

    def type_message(self, text):
        box = self.find("#message-input")
        box.clear()
        box.send_keys(text)
        self.wait(
            lambda b: b.js("return document.getElementById('message-input').value") == text,
            f"the message box holds {text!r}",
        )
        return box

    def install_mutation_probe(self):
        self.js(INSTALL_MUTATION_PROBE)

    def added_elements(self):
        return self.js("return window.__addedElements || null;")

    def xss_flag(self):
        return self.js("return typeof window.__xss === 'undefined' ? null : String(window.__xss);")

    # MARK: forms

    def fill_and_submit(self, fields, submit="button[type=submit]"):
        for name, value in fields.items():
            field = self.find(f"[name='{name}']")
            field.clear()
            field.send_keys(value)
        self.find(submit).click()

    def register(self, username, email, password="secret-password"):
        self.get("/register")
        self.fill_and_submit({"username": username, "email": email, "password": password})
        self.wait_for_path("/dashboard")

    def create_room(self, name):
        """Creates a room on /my_rooms and returns its key (read from the page)."""
        self.get("/my_rooms")
        before = len(self.find_all(".room-list li"))
        self.fill_and_submit({"room_name": name}, submit="form[action='/create_room'] button[type=submit]")
        self.wait(lambda b: b.path == "/my_rooms" and len(b.find_all(".room-list li")) == before + 1,
                  "the new room is listed on /my_rooms")
        item = self.find_all(".room-list li")[-1]
        key = item.find_element(By.CSS_SELECTOR, "code").text.strip()
        link = item.find_element(By.CSS_SELECTOR, "a.room-name").get_attribute("href")
        assert key, f"[{self.name}] no room key shown for the new room"
        assert link == self.url(f"/chat/{key}"), f"[{self.name}] room link {link!r} does not match key {key!r}"
        return key

    def join_with_key(self, key):
        self.get("/join_room")
        self.fill_and_submit({"room_key": key})
        self.wait_for_path(f"/chat/{key}")

    # MARK: logs

    def collect_logs(self):
        """Moves the browser's buffered performance and console logs into this object."""
        try:
            performance = self.driver.get_log("performance")
            console = self.driver.get_log("browser")
        except Exception:
            return
        for entry in performance:
            try:
                message = json.loads(entry["message"])["message"]
            except (KeyError, ValueError):
                continue
            method = message.get("method")
            params = message.get("params", {})
            if method == "Network.requestWillBeSent":
                request = params.get("request", {})
                document = params.get("documentURL") or ""
                if document.startswith(BROWSER_UI_SCHEMES):
                    # Chromium's own new-tab page (chrome://new-tab-page-third-party/ and
                    # its chrome:// resources), shown before the first navigation.
                    self.browser_ui_requests.append(request.get("url"))
                    continue
                self.requests.append((request.get("method"), request.get("url"), document))
            elif method == "Network.webSocketCreated":
                self.requests.append(("websocket", params.get("url"), None))
            elif method == "Network.webSocketHandshakeResponseReceived":
                self.websocket_handshakes.append(params.get("response", {}).get("headers", {}))
        self.console.extend(console)

    def resource_urls(self):
        """What the current page's resource timing lists (scripts, styles, XHRs, ...)."""
        return self.js(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
            ".concat([location.href]);"
        )

    def foreign_urls(self, urls):
        """The URLs that are not on the test server's origin (http and ws, or https and wss)."""
        schemes = ("https", "wss") if self.origin.scheme == "https" else ("http", "ws")
        foreign = []
        for url in urls:
            parts = urlsplit(url or "")
            same = (
                parts.scheme in schemes
                and parts.hostname == self.origin.hostname
                and parts.port == self.origin.port
            )
            if not same:
                foreign.append(url)
        return foreign

    def quit(self):
        try:
            self.collect_logs()
        finally:
            self.driver.quit()
