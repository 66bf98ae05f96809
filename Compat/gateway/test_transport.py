"""Compression and TLS start-up checks against the real server with stock clients:
python-socketio over polling (its requests session asks for gzip and decodes it) and
plain requests; TLS file problems stop the server with a message naming the file."""

import itertools
import subprocess

import requests

import gateway_support as gs
from conftest import base_environment, chatify_binary

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def test_polling_responses_over_the_threshold_are_gzip_for_a_stock_client(start_server, peers):
    server = start_server(HTTP_COMPRESSION_THRESHOLD="200")
    owner = gs.register(server.url, gs.unique("zip"))
    key = gs.create_room(server.url, owner, "Compressed")
    peer = peers("Z", server.url, "polling", cookie=owner.cookie, connect=False)
    encodings = []  # (Content-Encoding, decoded body) of every GET
    sending = peer.client.eio._send_request

    def recording(method, url, headers=None, body=None, timeout=None):
        response = sending(method, url, headers=headers, body=body, timeout=timeout)
        if method == "GET" and response is not None and not isinstance(response, str):
            encodings.append((response.headers.get("Content-Encoding"), response.text))
        return response

    peer.client.eio._send_request = recording
    peer.connect()
    peer.call("join", {"room": key})
    text = " ".join(["long message"] * 36)
    peer.emit("message", {"room": key, "message": text})
    # The join notice is a "message" too: wait until the long one is among the events.
    for count in itertools.count(1):
        events = peer.wait_events(count, what="the long message")
        if any(name == "message" and isinstance(body, dict) and body.get("message") == text for name, body in events):
            break
    compressed = [body for encoding, body in encodings if encoding == "gzip"]
    assert any(text in body for body in compressed), f"the long message did not come gzip-encoded: {encodings}"
    # The handshake (about 110 bytes) is under the threshold.
    assert encodings[0][0] is None and encodings[0][1].startswith('0{"sid":"')


def test_accept_encoding_decides_and_the_default_threshold_leaves_short_responses_alone(start_server):
    server = start_server(HTTP_COMPRESSION_THRESHOLD="0")
    gzip = requests.get(server.url + HANDSHAKE, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert gzip.headers.get("Content-Encoding") == "gzip" and gzip.text.startswith('0{"sid":"')
    deflate = requests.get(server.url + HANDSHAKE, headers={"Accept-Encoding": "deflate"}, timeout=10)
    assert deflate.headers.get("Content-Encoding") == "deflate" and deflate.text.startswith('0{"sid":"')
    identity = requests.get(server.url + HANDSHAKE, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert identity.headers.get("Content-Encoding") is None and identity.text.startswith('0{"sid":"')

    default = start_server()
    short = requests.get(default.url + HANDSHAKE, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert short.headers.get("Content-Encoding") is None and short.text.startswith('0{"sid":"')

    off = start_server(HTTP_COMPRESSION="False", HTTP_COMPRESSION_THRESHOLD="0")
    plain = requests.get(off.url + HANDSHAKE, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert plain.headers.get("Content-Encoding") is None


def start_failure(tmp_path, **overrides):
    """Runs the server with these variables; it must exit at once. (exit status, output)"""
    environment = base_environment()
    environment.update(overrides)
    result = subprocess.run(
        [str(chatify_binary())], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=30
    )
    return result.returncode, result.stdout + result.stderr


def openssl_pair(tmp_path, name):
    certificate, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    return str(certificate), str(key)


def test_tls_file_problems_stop_the_start_with_a_clear_message(tmp_path):
    certificate, key = openssl_pair(tmp_path, "one")
    _, other_key = openssl_pair(tmp_path, "two")
    status, output = start_failure(tmp_path, TLS_CERT_FILE=certificate)
    assert status == 2 and "TLS_CERT_FILE" in output and "TLS_KEY_FILE set as well" in output, output
    status, output = start_failure(tmp_path, TLS_CERT_FILE=str(tmp_path / "missing.crt"), TLS_KEY_FILE=key)
    assert status == 2 and "missing.crt does not exist" in output, output
    status, output = start_failure(tmp_path, TLS_CERT_FILE=key, TLS_KEY_FILE=key)
    assert status == 2 and "holds no PEM certificate" in output, output
    status, output = start_failure(tmp_path, TLS_CERT_FILE=certificate, TLS_KEY_FILE=other_key)
    assert status == 2 and "does not match the certificate" in output, output
