"""Starts the conformance server once for the python-socketio compatibility suite.

The server binary comes from ``SOCKETIO_SERVER_BIN`` or, by default, from
``.build/debug/socketio-conformance-server`` in the repository root. It is started on
port 0; the real port is read from its ``listening on <PORT>`` line.
"""

import collections
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_BIN = REPO_ROOT / ".build" / "debug" / "socketio-conformance-server"
START_TIMEOUT = float(os.environ.get("SOCKETIO_SERVER_START_TIMEOUT", "30"))


class ServerProcess:
    """The running server, with the tail of its output kept for error messages."""

    def __init__(self, binary):
        self.binary = binary
        self.output = collections.deque(maxlen=400)
        self.port = None
        self._listening = threading.Event()
        self.process = subprocess.Popen(
            [str(binary), "--port", "0", "--host", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group, ended as a whole in stop()
        )
        # Keeps draining the pipe for the whole run so the server never blocks on it.
        self._reader = threading.Thread(target=self._read, name="server-output", daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if self.port is None and line.startswith("listening on "):
                try:
                    self.port = int(line[len("listening on "):].strip())
                except ValueError:
                    pass
                else:
                    self._listening.set()
        self._listening.set()  # the server exited: stop waiting

    def wait_until_listening(self, timeout):
        self._listening.wait(timeout)
        if self.port is None:
            state = "still running" if self.process.poll() is None else f"exited with {self.process.returncode}"
            self.stop()
            raise RuntimeError(
                f"{self.binary} printed no 'listening on <PORT>' line within {timeout:g} s "
                f"(server {state}). Its output:\n{self.tail()}"
            )

    def tail(self, lines=60):
        return "\n".join(list(self.output)[-lines:]) or "(no output)"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=5)
        self._reader.join(timeout=5)

    def _signal(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def _server_binary():
    configured = os.environ.get("SOCKETIO_SERVER_BIN")
    # A relative SOCKETIO_SERVER_BIN is taken from the current directory.
    binary = Path(configured).resolve() if configured else DEFAULT_SERVER_BIN
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"server binary {binary} not found or not executable; build it with "
            f"'swift build --product socketio-conformance-server' or set SOCKETIO_SERVER_BIN"
        )
    return binary


@pytest.fixture(scope="session")
def server():
    """The running conformance server (a ServerProcess)."""
    process = ServerProcess(_server_binary())
    process.wait_until_listening(START_TIMEOUT)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def server_url(server):
    """Base URL of the server, e.g. http://127.0.0.1:41234."""
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture(autouse=True)
def _server_still_running(request):
    """Fails a test clearly when the server died under it."""
    yield
    if "server" in request.fixturenames:
        process = request.getfixturevalue("server")
        if not process.alive():
            pytest.fail(
                f"the server exited with {process.process.returncode} during this test. "
                f"Its output:\n{process.tail()}"
            )
