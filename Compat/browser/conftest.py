"""Fixtures for the real-browser end-to-end suite (Compat/browser).

``server``: the real ``chatify`` binary (``CHATIFY_BIN`` or ``<repo>/.build/debug/chatify``)
started by the launcher all suites share (Compat/common/chatify_process.py): a fresh
temporary working directory (so no ``.env`` is read), port 0, the in-memory store; the
port comes from its ``chatify listening on 127.0.0.1:<port>`` line.

``browser``: a factory, ``browser("alice")`` -> a new headless Chromium session (own
profile, own cookies) driven through the system ``chromedriver``, quit after the test.
"""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import browser_support  # noqa: E402
from chatify_process import ChatifyProcess, chatify_binary, chatify_environment  # noqa: E402


def server_environment():
    return chatify_environment("test-jwt-secret")


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
    yield from running(ChatifyProcess(chatify_binary(), server_environment()))


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
    yield from running(ChatifyProcess(chatify_binary(), environment, scheme="https"))


@pytest.fixture
def https_browser(https_server, tmp_path_factory):
    """Factory like ``browser``, for ``https_server``; the self-signed certificate is accepted."""
    yield from browsers_on(https_server, tmp_path_factory, accept_insecure_certs=True)
