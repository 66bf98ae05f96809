"""Starts the real ``chatify`` server for the gateway compatibility suites.

The binary is ``CHATIFY_BIN`` or, by default, ``<repo>/.build/debug/chatify``. Each
server runs in a fresh temporary working directory (so no stray ``.env`` is read) with
the environment the Flask recordings were made with, on port 0; the real port comes
from its ``chatify listening on 127.0.0.1:<port>`` line. An empty ``MONGODB_LOCAL_URI``
means no database: the in-memory store at once, as in the recordings.
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

import gateway_support
import socketio_support

REPO_ROOT = gateway_support.REPO_ROOT
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


def base_environment():
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
        JWT_SECRET_KEY=gateway_support.TEST_JWT_SECRET,
        FLASK_DEBUG="False",
        MONGODB_LOCAL_URI="",
        LOG_LEVEL="info",
        SOCKETIO_CLIENT_JS=str(REPO_ROOT / "Vendor" / "socket.io.min.js"),
    )
    return env


class ChatifyProcess:
    """One running server, with the tail of its output kept for error messages."""

    def __init__(self, binary, environment, cwd=None):
        self.binary = binary
        self.environment = environment
        self.output = collections.deque(maxlen=500)
        self.port = None
        # Set when a test stops the server itself: its exit is then not a crash.
        self.stopped_on_purpose = False
        self._listening = threading.Event()
        self._new_output = threading.Condition()
        self._workdir = tempfile.TemporaryDirectory(prefix="chatify-compat-")
        self.process = subprocess.Popen(
            [str(binary)],
            cwd=cwd or self._workdir.name,
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
            with self._new_output:
                self.output.append(line)
                self._new_output.notify_all()
            if self.port is None:
                found = LISTENING.match(line)
                if found:
                    self.port = int(found.group(1))
                    self._listening.set()
        self._listening.set()  # exited: stop waiting

    def wait_until_listening(self, timeout=START_TIMEOUT):
        self._listening.wait(timeout)
        if self.port is None:
            state = "still running" if self.alive() else f"exited with {self.process.returncode}"
            self.stop()
            raise RuntimeError(
                f"{self.binary} printed no 'chatify listening on 127.0.0.1:<port>' line within "
                f"{timeout:g} s (server {state}). Its output:\n{self.tail()}"
            )

    def wait_for_output(self, needle, timeout=START_TIMEOUT):
        """The output so far, once a line containing ``needle`` has been written."""
        with self._new_output:
            found = self._new_output.wait_for(lambda: any(needle in line for line in self.output), timeout)
            lines = list(self.output)
        assert found, f"no output line with {needle!r} within {timeout:g} s:\n{self.tail()}"
        return lines

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines=80):
        return "\n".join(list(self.output)[-lines:]) or "(no output)"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        self.stopped_on_purpose = True
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


class ServerPool:
    """Starts servers on demand and stops them all at the end of its scope."""

    def __init__(self):
        self.started = []

    def start(self, cwd=None, unset=(), **overrides):
        """A server with these variables set and those in ``unset`` removed, started in
        ``cwd`` (default: a fresh empty folder)."""
        environment = base_environment()
        for name in unset:
            environment.pop(name, None)
        environment.update({key: str(value) for key, value in overrides.items()})
        process = ChatifyProcess(chatify_binary(), environment, cwd=cwd)
        self.started.append(process)
        process.wait_until_listening()
        return process

    def stop_all(self):
        for process in self.started:
            process.stop()

    def check_alive(self):
        for process in self.started:
            if not process.alive() and not process.stopped_on_purpose:
                pytest.fail(
                    f"the chatify server exited with {process.process.returncode} during this test. "
                    f"Its output:\n{process.tail()}"
                )


@pytest.fixture
def start_server():
    """Factory: ``start_server(cwd=None, unset=(), **env_overrides)`` -> a fresh
    ChatifyProcess (stopped after the test)."""
    pool = ServerPool()
    yield pool.start
    try:
        pool.check_alive()
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def module_pool():
    """A ServerPool for the whole test module: ``module_pool.start()`` gives a fresh server."""
    pool = ServerPool()
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module")
def module_server(module_pool):
    """One server for a whole test module (for tests that create their own users)."""
    return module_pool.start()


@pytest.fixture
def server(module_server):
    yield module_server
    if not module_server.alive():
        pytest.fail(
            f"the chatify server exited with {module_server.process.returncode} during this test. "
            f"Its output:\n{module_server.tail()}"
        )


@pytest.fixture(autouse=True)
def record_websockets(monkeypatch):
    """Every test: WebSocket frames of the stock client are recorded into its Peer."""
    socketio_support.install_websocket_recorder(monkeypatch)


@pytest.fixture
def peers():
    """Factory: ``peers(name, base_url, transport, cookie=None, connect=True)`` -> a Peer
    (a stock socketio.Client that records events and packets); all are disconnected
    after the test."""
    factory = socketio_support.PeerFactory()
    yield factory
    factory.close_all()


def pytest_configure(config):
    # The old backend's secrets (and the test secret) are shorter than PyJWT recommends.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")


def pytest_terminal_summary(terminalreporter):
    if gateway_support.DELIBERATE:
        terminalreporter.section("gateway: deliberate differences from the Flask recordings")
        for suite, case, description in gateway_support.DELIBERATE:
            terminalreporter.write_line(f"[{suite}] {case}: {description}")
    if gateway_support.NOTES:
        terminalreporter.section("gateway: other observed differences (not failures)")
        for suite, case, text in gateway_support.NOTES:
            terminalreporter.write_line(f"[{suite}] {case}: {text}")
