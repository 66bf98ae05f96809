"""Starts the conformance server once for the python-socketio compatibility suite.

The server binary comes from ``SOCKETIO_SERVER_BIN`` or, by default, from
``.build/debug/socketio-conformance-server`` in the repository root. It is started on
port 0 by the launcher all suites share (Compat/common/chatify_process.py); the real
port is read from its ``listening on <PORT>`` line.
"""

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from chatify_process import ServerProcess, built_binary  # noqa: E402

START_TIMEOUT = float(os.environ.get("SOCKETIO_SERVER_START_TIMEOUT", "30"))
LISTENING = re.compile(r"^listening on (\d+)\s*$")


@pytest.fixture(scope="session")
def server():
    """The running conformance server (a ServerProcess)."""
    binary = built_binary("SOCKETIO_SERVER_BIN", "socketio-conformance-server")
    process = ServerProcess(
        [binary, "--port", "0", "--host", "127.0.0.1"], LISTENING, "listening on <PORT>",
        start_timeout=START_TIMEOUT, keep_lines=400,
    )
    process.wait_until_listening()
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
