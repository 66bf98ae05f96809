#!/usr/bin/env python3
"""Registers one user on a running chatify, creates N rooms through the real HTTP routes
(POST /register, POST /create_room, GET /my_rooms) and writes the access-token cookie and
the room keys. Standard library only.

    setup_rooms.py http://127.0.0.1:5000 ROOMS OUT_DIR
writes OUT_DIR/cookie.txt and OUT_DIR/rooms.txt (one key per line)."""
import http.client
import re
import sys
import urllib.parse
import uuid

base, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def request(method, path, form=None, token=None):
    headers = {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Cookie"] = f"access_token_cookie={token}"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response, data


name = "bench" + uuid.uuid4().hex[:8]
response, _ = request("POST", "/register", {"username": name, "email": f"{name}@example.com", "password": "pw-" + name})
assert response.status == 302, f"register: {response.status}"
token = None
for header, value in response.getheaders():
    if header.lower() == "set-cookie" and value.startswith("access_token_cookie="):
        token = value.split(";")[0].split("=", 1)[1]
assert token, "no access_token_cookie"
for i in range(count):
    response, _ = request("POST", "/create_room", {"room_name": f"bench room {i}"}, token)
    assert response.status == 302, f"create_room: {response.status}"
# /my_rooms lists 20 rooms a page: read pages until one adds no key.
keys = []
page_number = 1
while len(keys) < count:
    response, page = request("GET", f"/my_rooms?page={page_number}", token=token)
    assert response.status == 200, f"my_rooms page {page_number}: {response.status}"
    found = [k for k in re.findall(r'href="/chat/([A-Za-z0-9_-]+)"', page.decode()) if k not in keys]
    if not found:
        break
    keys.extend(dict.fromkeys(found))
    page_number += 1
assert len(keys) >= count, f"{len(keys)} room keys on /my_rooms, {count} made"
open(f"{out}/cookie.txt", "w").write(token)
open(f"{out}/rooms.txt", "w").write("\n".join(keys) + "\n")
print(f"user {name}: {len(keys)} rooms", file=sys.stderr)
