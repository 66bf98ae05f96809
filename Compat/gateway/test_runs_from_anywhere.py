"""The binary finds its templates, static files and the stock Socket.IO client from its
own location, not the working directory; static files carry validators that change with
their content, so a new release is never hidden behind a cached copy."""

import shutil

import gateway_support as gs
from gateway_support import REPO_ROOT
from test_room_activity import wait_for

CLIENT = REPO_ROOT / "Vendor" / "socket.io.min.js"
RESOURCES = REPO_ROOT / "Sources" / "ChatifyApp" / "Resources"


def test_started_from_the_root_folder_it_serves_a_chat_page_that_connects(start_server, peers):
    server = start_server(cwd="/", unset=("SOCKETIO_CLIENT_JS",))
    owner = gs.register(server.url, gs.unique("root"))
    key = gs.create_room(server.url, owner, "from the root folder")

    page = gs.http(server.url, "GET", f"/chat/{key}", token=owner.token)
    assert page.status_code == 200, page.text[:300]
    summary = gs.summarise(page.text)
    assert "/socket.io/socket.io.min.js" in summary.script_srcs and "/static/chat.js" in summary.script_srcs
    for asset in summary.script_srcs + summary.stylesheets:
        response = gs.http(server.url, "GET", asset)
        assert response.status_code == 200, (asset, response.status_code)
    client = gs.http(server.url, "GET", "/socket.io/socket.io.min.js")
    assert client.content == CLIENT.read_bytes()

    peer = peers("A", server.url, "websocket", cookie=owner.cookie)
    peer.call("join", {"room": key})
    peer.call("message", {"room": key, "message": "hello from /"})
    wait_for(peer, "message", lambda payload: payload.get("message") == "hello from /")


def get_static(server, name, if_none_match=None):
    headers = {"If-None-Match": if_none_match} if if_none_match else {}
    return gs.http(server.url, "GET", f"/static/{name}", headers=headers)


def test_a_changed_static_file_gets_a_new_validator_and_a_cached_copy_is_not_reused(start_server, tmp_path):
    resources = tmp_path / "resources"
    shutil.copytree(RESOURCES, resources)
    script = resources / "Static" / "chat.js"

    first = start_server(CHATIFY_RESOURCES=str(resources))
    fresh = get_static(first, "chat.js")
    assert fresh.status_code == 200 and fresh.content == script.read_bytes()
    old_tag = fresh.headers.get("ETag")
    assert old_tag and old_tag.startswith('"'), fresh.headers
    assert fresh.headers.get("Cache-Control") == "no-cache", fresh.headers
    unchanged = get_static(first, "chat.js", old_tag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    first.stop()

    script.write_bytes(script.read_bytes() + b"\n// the next release\n")
    second = start_server(CHATIFY_RESOURCES=str(resources))
    revalidated = get_static(second, "chat.js", old_tag)
    assert revalidated.status_code == 200, "the browser's cached copy of the old file was declared current"
    assert revalidated.content == script.read_bytes()
    assert revalidated.headers.get("ETag") not in (None, old_tag)


def test_the_socket_io_client_is_revalidated_too(server):
    response = gs.http(server.url, "GET", "/socket.io/socket.io.min.js")
    tag = response.headers.get("ETag")
    assert response.status_code == 200 and tag and response.headers.get("Cache-Control") == "no-cache"
    again = gs.http(server.url, "GET", "/socket.io/socket.io.min.js", headers={"If-None-Match": f'W/{tag}, "other"'})
    assert again.status_code == 304
