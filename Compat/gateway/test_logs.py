"""Logs: LOG_FORMAT=json writes one JSON object per line; LOG_LEVEL is read like every
other variable (so from .env too); the default level is info, whatever FLASK_DEBUG says."""

import json
import re

import gateway_support as gs
from conftest import LISTENING

ISO_8601_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BAD_PAYLOAD_LOG = "closing session after a bad payload"
REGISTERED_LOG = "user registered"


def send_a_bad_payload(server):
    """Opens a polling session and posts a payload that cannot be decoded: the server
    closes the session and logs that at debug level."""
    opened = gs.http(server.url, "GET", "/socket.io/?EIO=4&transport=polling")
    assert opened.status_code == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    bad = gs.http(server.url, "POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", form=b"9")
    assert bad.status_code == 400, bad.text
    return sid


def log_lines(lines):
    return [line for line in lines if not LISTENING.match(line)]


def test_json_format_writes_one_object_per_line_with_the_fields(start_server):
    server = start_server(LOG_FORMAT="json", LOG_LEVEL="debug")
    sid = send_a_bad_payload(server)
    gs.register(server.url, gs.unique("json"))
    records = [json.loads(line) for line in log_lines(server.wait_for_output(REGISTERED_LOG))]

    for record in records:
        assert {"time", "level", "label", "message"} <= record.keys(), record
        assert ISO_8601_UTC.match(record["time"]), record
    bad_payload = next(r for r in records if r["message"] == BAD_PAYLOAD_LOG)
    assert bad_payload["level"] == "debug" and bad_payload["sid"] == sid
    assert bad_payload["metadata"]["sid"] == sid and "error" in bad_payload["metadata"]
    registered = next(r for r in records if r["message"] == REGISTERED_LOG)
    assert registered["level"] == "info" and registered["label"] == "chatify"
    assert registered["request_id"] and "user" in registered["metadata"]


def test_log_level_and_format_are_read_from_the_dot_env_file(start_server, tmp_path):
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\nLOG_FORMAT=json\n")
    server = start_server(cwd=str(tmp_path), unset=("LOG_LEVEL",))
    send_a_bad_payload(server)
    lines = log_lines(server.wait_for_output(BAD_PAYLOAD_LOG))
    assert any(json.loads(line)["level"] == "debug" for line in lines)


def test_the_default_level_is_info_even_with_flask_debug_on(start_server):
    server = start_server(unset=("LOG_LEVEL", "FLASK_DEBUG"))
    send_a_bad_payload(server)
    # Logged after the bad payload was answered: a debug line would be written by now.
    gs.register(server.url, gs.unique("quiet"))
    lines = log_lines(server.wait_for_output(REGISTERED_LOG))
    assert not [line for line in lines if re.match(r"^\S+ (trace|debug) ", line)], "\n".join(lines)
    assert not any(BAD_PAYLOAD_LOG in line for line in lines)

