"""Starts the real ``chatify`` server for the gateway compatibility suites, with the
launcher all suites share (Compat/common/chatify_process.py): a fresh temporary working
directory (so no stray ``.env`` is read), the environment the Flask recordings were made
with, port 0 and the port from its ``chatify listening on 127.0.0.1:<port>`` line. An
empty ``MONGODB_LOCAL_URI`` means no database: the in-memory store at once, as in the
recordings.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import gateway_support  # noqa: E402
import socketio_support  # noqa: E402
from chatify_process import LISTENING, ChatifyProcess, chatify_binary, chatify_environment  # noqa: E402,F401

REPO_ROOT = gateway_support.REPO_ROOT


def base_environment():
    """The environment the Flask recordings were made with (see chatify_process)."""
    return chatify_environment(gateway_support.TEST_JWT_SECRET)


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
