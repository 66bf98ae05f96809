"""Fixtures for the real-browser end-to-end suite (Compat/browser).

``server``: the real ``chatify`` binary (``CHATIFY_BIN`` or ``<repo>/.build/debug/chatify``)
started in a fresh temporary working directory (so no ``.env`` is read) on port 0 with the
in-memory store; the port comes from its ``chatify listening on 127.0.0.1:<port>`` line.

``browser``: a factory, ``browser("alice")`` -> a new headless Chromium session (own
profile, own cookies) driven through the system ``chromedriver``, quit after the test.
"""

import collections
import os
import re
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import browser_support

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "chatify"
START_TIMEOUT = float(os.environ.get("CHATIFY_START_TIMEOUT", "60"))
LISTENING = re.compile(r"^chatify listening on 127\.0\.0\.1:(\d+)\s*$")


def chatify_binary():
    configured = os.environ.get("CHATIFY_BIN")
    binary = Path(configured).resolve() if configured else DEFAULT_BIN
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"chatify binary {binary} not found or not executable; build it with "
            f"'swift build --product chatify' or set CHATIFY_BIN"
        )
    return binary


def server_environment():
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the caller's configuration may leak into the server.
        if key in ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "LD_LIBRARY_PATH")
    }
    env.update(
        HOST="127.0.0.1",
        PORT="0",
        SECRET_KEY="test-secret",
        JWT_SECRET_KEY="test-jwt-secret",
        FLASK_DEBUG="False",
        MONGODB_LOCAL_URI="",
        LOG_LEVEL="info",
        SOCKETIO_CLIENT_JS=str(REPO_ROOT / "Vendor" / "socket.io.min.js"),
    )
    return env


class ChatifyServer:
    """One running server; the tail of its output is kept for error messages."""

    def __init__(self, binary, environment, scheme="http"):
        self.binary = binary
        self.scheme = scheme
        self.output = collections.deque(maxlen=500)
        self.port = None
        self._listening = threading.Event()
        self._workdir = tempfile.TemporaryDirectory(prefix="chatify-browser-")
        self.process = subprocess.Popen(
            [str(binary)],
            cwd=self._workdir.name,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="chatify-output", daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if self.port is None:
                found = LISTENING.match(line)
                if found:
                    self.port = int(found.group(1))
                    self._listening.set()
        self._listening.set()  # the server exited: stop waiting

    def wait_until_listening(self, timeout=START_TIMEOUT):
        self._listening.wait(timeout)
        if self.port is None:
            state = "still running" if self.alive() else f"exited with {self.process.returncode}"
            self.stop()
            raise RuntimeError(
                f"{self.binary} printed no 'chatify listening on 127.0.0.1:<port>' line within "
                f"{timeout:g} s (server {state}). Its output:\n{self.tail()}"
            )

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def tail(self, lines=80):
        return "\n".join(list(self.output)[-lines:]) or "(no output)"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=5)
        self._reader.join(timeout=5)
        self._workdir.cleanup()

    def _signal(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def running(process):
    """Yields the started server; fails the test if it died meanwhile; stops it."""
    try:
        process.wait_until_listening()
        yield process
        if not process.alive():
            pytest.fail(
                f"the chatify server exited with {process.process.returncode} during this test. "
                f"Its output:\n{process.tail()}"
            )
    finally:
        process.stop()


def browsers_on(server, tmp_path_factory, **options):
    """Factory: ``browser(name)`` -> a ``browser_support.Browser`` on ``server``; all quit
    when the test ends."""
    started = []

    def start(name):
        profile = tmp_path_factory.mktemp(f"chromium-{name}")
        session = browser_support.Browser(name, server.url, profile, **options)
        started.append(session)
        return session

    yield start
    for session in started:
        session.quit()


@pytest.fixture
def server():
    """A fresh chatify server for one test, stopped afterwards."""
    yield from running(ChatifyServer(chatify_binary(), server_environment()))


@pytest.fixture
def browser(server, tmp_path_factory):
    """Factory: ``browser(name)`` -> a ``browser_support.Browser`` on ``server``."""
    yield from browsers_on(server, tmp_path_factory)


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 and its key, made for this test only."""
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    return certificate, key


@pytest.fixture
def https_server(tls_files):
    """A chatify server serving HTTPS and WSS itself (TLS_CERT_FILE/TLS_KEY_FILE), with
    permessage-deflate on so the browser's offer is taken."""
    certificate, key = tls_files
    environment = server_environment()
    environment.update(
        TLS_CERT_FILE=str(certificate), TLS_KEY_FILE=str(key),
        WS_PER_MESSAGE_DEFLATE="True", WS_PER_MESSAGE_DEFLATE_THRESHOLD="64",
    )
    yield from running(ChatifyServer(chatify_binary(), environment, scheme="https"))


@pytest.fixture
def https_browser(https_server, tmp_path_factory):
    """Factory like ``browser``, for ``https_server``; the self-signed certificate is accepted."""
    yield from browsers_on(https_server, tmp_path_factory, accept_insecure_certs=True)
