"""The binary finds its templates, static files and the stock Socket.IO client from its
own location, not the working directory."""

import gateway_support as gs
from gateway_support import REPO_ROOT
from test_room_activity import wait_for

CLIENT = REPO_ROOT / "Vendor" / "socket.io.min.js"


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

