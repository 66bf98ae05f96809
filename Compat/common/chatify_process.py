"""The one way the Compat suites start a server binary and stop it.

``ServerProcess`` runs a command in its own process group, keeps reading its output (so
the server never blocks on a full pipe, and the tail is there for error messages), and
takes the port from the first line matching its ``listening`` pattern: the server binds
port 0 and says which port it got, so nothing waits a fixed time. ``stop()`` sends
SIGTERM and, after a timeout, SIGKILL.

``ChatifyProcess`` is that for the ``chatify`` binary (``CHATIFY_BIN`` or
``<repo>/.build/debug/chatify``), in a fresh temporary working directory unless told
otherwise (so no stray ``.env`` is read), with ``chatify_environment()``: nothing of the
caller's configuration, the in-memory store, port 0.
"""

import collections
import os
import re
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("CHATIFY_START_TIMEOUT", "60"))
STOP_TIMEOUT = 5.0
LISTENING = re.compile(r"^chatify listening on 127\.0\.0\.1:(\d+)\s*$")

# Variables of the caller a server may see; nothing of its configuration may leak in.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "LD_LIBRARY_PATH")


def built_binary(variable, product):
    """The binary named by the environment variable ``variable`` (a relative path is
    taken from the current directory), else ``product`` in ``<repo>/.build/debug``."""
    configured = os.environ.get(variable)
    binary = Path(configured).resolve() if configured else REPO_ROOT / ".build" / "debug" / product
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"{product} binary {binary} not found or not executable; build it with "
            f"'swift build --product {product}' or set {variable}"
        )
    return binary


def chatify_binary():
    """The chatify binary to test (``CHATIFY_BIN``)."""
    return built_binary("CHATIFY_BIN", "chatify")


def chatify_environment(jwt_secret):
    """The environment of a test server: loopback, port 0, no database (the in-memory
    store at once), the stock Socket.IO client from Vendor/."""
    environment = {key: value for key, value in os.environ.items() if key in PASSED_THROUGH}
    environment.update(
        HOST="127.0.0.1",
        PORT="0",
        SECRET_KEY="test-secret",
        JWT_SECRET_KEY=jwt_secret,
        FLASK_DEBUG="False",
        MONGODB_LOCAL_URI="",
        LOG_LEVEL="info",
        SOCKETIO_CLIENT_JS=str(REPO_ROOT / "Vendor" / "socket.io.min.js"),
    )
    return environment


class ServerProcess:
    """One running server, with the tail of its output kept for error messages.

    ``listening`` is a pattern whose first group is the port; ``listening_line`` says
    in words what line is awaited. ``workdir_prefix`` runs the server in a fresh
    temporary folder (removed on stop) when ``cwd`` is not given; without either it
    runs in the caller's folder."""

    def __init__(self, command, listening, listening_line, environment=None, cwd=None, workdir_prefix=None,
                 scheme="http", start_timeout=START_TIMEOUT, keep_lines=500):
        self.binary = command[0]
        self.environment = environment
        self.listening = listening
        self.listening_line = listening_line
        self.scheme = scheme
        self.start_timeout = start_timeout
        self.output = collections.deque(maxlen=keep_lines)
        self.port = None
        # Set when a test stops the server itself: its exit is then not a crash.
        self.stopped_on_purpose = False
        self._listening = threading.Event()
        self._new_output = threading.Condition()
        self._workdir = (
            tempfile.TemporaryDirectory(prefix=workdir_prefix) if cwd is None and workdir_prefix else None
        )
        self.process = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd or (self._workdir.name if self._workdir else None),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group, ended as a whole in stop()
        )
        self._reader = threading.Thread(target=self._read, name="server-output", daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            with self._new_output:
                self.output.append(line)
                self._new_output.notify_all()
            if self.port is None:
                found = self.listening.match(line)
                if found:
                    self.port = int(found.group(1))
                    self._listening.set()
        self._listening.set()  # the server exited: stop waiting

    def wait_until_listening(self, timeout=None):
        timeout = self.start_timeout if timeout is None else timeout
        self._listening.wait(timeout)
        if self.port is None:
            state = "still running" if self.alive() else f"exited with {self.process.returncode}"
            self.stop()
            raise RuntimeError(
                f"{self.binary} printed no '{self.listening_line}' line within "
                f"{timeout:g} s (server {state}). Its output:\n{self.tail()}"
            )

    def wait_for_output(self, needle, timeout=None):
        """The output so far, once a line containing ``needle`` has been written."""
        timeout = self.start_timeout if timeout is None else timeout
        with self._new_output:
            found = self._new_output.wait_for(lambda: any(needle in line for line in self.output), timeout)
            lines = list(self.output)
        assert found, f"no output line with {needle!r} within {timeout:g} s:\n{self.tail()}"
        return lines

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def tail(self, lines=80):
        return "\n".join(list(self.output)[-lines:]) or "(no output)"

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        self.stopped_on_purpose = True
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        if self._workdir is not None:
            self._workdir.cleanup()

    def _signal(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


class ChatifyProcess(ServerProcess):
    """The chatify binary, running with ``environment`` in ``cwd`` (default: a fresh
    empty folder)."""

    def __init__(self, binary, environment, cwd=None, scheme="http"):
        super().__init__(
            [binary], LISTENING, "chatify listening on 127.0.0.1:<port>", environment=environment, cwd=cwd,
            workdir_prefix="chatify-compat-", scheme=scheme,
        )
