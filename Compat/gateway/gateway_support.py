"""Shared helpers of the gateway compatibility suites (Compat/gateway).

* the recordings of the old Flask backend (Fixtures/flask-reference), read from the repo;
* placeholder templates (``<JWT_A>``, ``<HH:MM>``...) matched against real values;
* a page summariser that extracts what the recorder kept of each HTML page;
* JWTs forged with PyJWT the way Flask-JWT-Extended writes them;
* small HTTP helpers (register, log in, create and join rooms);
* the registry of deliberate differences and notes printed at the end of a run.
"""

from __future__ import annotations

import html.parser
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Fixtures" / "flask-reference"

TEST_JWT_SECRET = "test-jwt-secret"
COOKIE_NAME = "access_token_cookie"
HTTP_TIMEOUT = 10.0


def load_fixture(relative):
    """A recording, parsed with key order kept (Python dicts keep insertion order)."""
    with open(FIXTURES / relative, encoding="utf-8") as handle:
        return json.load(handle)


# --------------------------------------------------------------------------- summary registry

_lock = threading.Lock()
DELIBERATE = []  # (suite, case, description), printed in the terminal summary
NOTES = []  # (suite, case, text): observed differences that are not failures


def record_deliberate(suite, case, description):
    with _lock:
        entry = (suite, case, description)
        if entry not in DELIBERATE:
            DELIBERATE.append(entry)


def record_note(suite, case, text):
    with _lock:
        entry = (suite, case, text)
        if entry not in NOTES:
            NOTES.append(entry)


# --------------------------------------------------------------------------- placeholders

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_:+]*)>")

# What an unbound placeholder may stand for, by name.
PLACEHOLDER_PATTERNS = [
    (re.compile(r"^HH:MM$"), r"\d\d:\d\d"),
    (re.compile(r"^(NSP_)?SID(_[A-Z0-9]+)?$"), r"[A-Za-z0-9_-]{20}"),
    (re.compile(r"^ROOM_KEY(_\d+)?$"), r"[A-Za-z0-9_-]{11}"),
    (re.compile(r"^JWT.*$"), r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    (re.compile(r"^(USER_[A-Z]_ID|UNKNOWN_USER_ID|JTI)$"), r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
]

# Placeholders that may take a different value at each occurrence.
UNBOUND_EACH_TIME = {"HH:MM", "T", "DATE", "WS_KEY", "WS_ACCEPT"}


def placeholder_pattern(name):
    for test, pattern in PLACEHOLDER_PATTERNS:
        if test.match(name):
            return pattern
    return r".+?"


def substitute(template, bindings):
    """The template with every bound placeholder replaced; unbound ones are an error."""

    def replace(match):
        name = match.group(1)
        if name not in bindings:
            raise KeyError(f"placeholder <{name}> is not bound yet (template {template!r})")
        return bindings[name]

    return PLACEHOLDER.sub(replace, template)


def match_template(template, actual, bindings):
    """Whether `actual` is `template` with its placeholders filled in.

    Bound placeholders must have their value; unbound ones match their pattern and are
    bound (consistently within the template), except those in UNBOUND_EACH_TIME. On a
    match the new bindings are added to `bindings` and True is returned.
    """
    if not isinstance(actual, str):
        return False
    regex = ["^"]
    groups = {}
    counter = 0
    position = 0
    for match in PLACEHOLDER.finditer(template):
        regex.append(re.escape(template[position:match.start()]))
        name = match.group(1)
        if name in bindings and name not in UNBOUND_EACH_TIME:
            regex.append(re.escape(bindings[name]))
        elif name in groups:
            regex.append(f"(?P={groups[name]})")
        else:
            group = f"g{counter}"
            counter += 1
            if name not in UNBOUND_EACH_TIME:
                groups[name] = group
            regex.append(f"(?P<{group}>{placeholder_pattern(name)})")
        position = match.end()
    regex.append(re.escape(template[position:]))
    regex.append("$")
    found = re.match("".join(regex), actual, re.DOTALL)
    if not found:
        return False
    for name, group in groups.items():
        bindings[name] = found.group(group)
    return True


# --------------------------------------------------------------------------- page summaries


class PageSummary(html.parser.HTMLParser):
    """What the recorder kept of a page, and what the new pages must not contain.

    Kept as in the recordings: title; forms (method, action, fields: name/type/id/
    required); form field names; element ids; script srcs; stylesheets; links (a href);
    texts of elements with class ``error`` / ``success``. Also collected for the
    safety checks: inline scripts, ``on*`` attributes, every attribute value, the
    text nodes, the ``data-*`` attributes of <body>.
    """

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.title = None
        self.forms = []
        self.form_field_names = []
        self.element_ids = []
        self.script_srcs = []
        self.stylesheets = []
        self.links = []
        self.error_messages = []
        self.success_messages = []
        self.inline_scripts = []
        self.event_attributes = []  # (tag, name, value)
        self.attribute_values = []  # (tag, name, value)
        self.texts = []  # text nodes outside <script>/<style>
        self.body_data = {}
        self.tags = []  # every start tag, in order
        self._in_title = False
        self._title_parts = []
        self._form = None
        self._script = None  # list of parts while inside an inline <script>
        self._in_style = False
        self._capture = []  # stack of [kind, depth, parts]
        self._depth = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs)
        if tag not in self.VOID:
            self._depth += 1

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs)

    def _start(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            self.attribute_values.append((tag, name, value or ""))
            if name.lower().startswith("on"):
                self.event_attributes.append((tag, name, value))
        if "id" in values and values["id"] is not None:
            self.element_ids.append(values["id"])
        if tag == "title":
            self._in_title = True
        elif tag == "body":
            self.body_data = {name[5:]: value for name, value in attrs if name.startswith("data-")}
        elif tag == "form":
            self._form = {
                "method": (values.get("method") or "GET").upper(),
                "action": values.get("action"),
                "fields": [],
            }
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button"):
            name = values.get("name")
            if name is not None:
                self.form_field_names.append(name)
                if self._form is not None:
                    self._form["fields"].append(
                        {
                            "name": name,
                            "type": values.get("type", "text" if tag == "input" else tag),
                            "id": values.get("id"),
                            "required": "required" in values,
                        }
                    )
        elif tag == "script":
            if values.get("src"):
                self.script_srcs.append(values["src"])
            else:
                self._script = []
        elif tag == "style":
            self._in_style = True
        elif tag == "link" and "stylesheet" in (values.get("rel") or "").lower().split():
            self.stylesheets.append(values.get("href"))
        elif tag == "a" and values.get("href") is not None:
            self.links.append(values["href"])
        classes = (values.get("class") or "").split()
        if tag not in self.VOID:
            for kind in ("error", "success"):
                if kind in classes:
                    self._capture.append([kind, self._depth, []])

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            self._depth -= 1
        if tag == "title":
            self._in_title = False
            self.title = "".join(self._title_parts).strip()
        elif tag == "form":
            self._form = None
        elif tag == "script":
            if self._script is not None:
                self.inline_scripts.append("".join(self._script))
            self._script = None
        elif tag == "style":
            self._in_style = False
        while self._capture and self._capture[-1][1] >= self._depth:
            kind, _, parts = self._capture.pop()
            text = " ".join("".join(parts).split())
            if text:  # an empty, hidden placeholder box is no message
                (self.error_messages if kind == "error" else self.success_messages).append(text)

    def handle_data(self, data):
        if self._in_title:
            self._title_parts.append(data)
        if self._script is not None:
            self._script.append(data)
            return
        if self._in_style:
            return
        self.texts.append(data)
        for entry in self._capture:
            entry[2].append(data)

    @property
    def text(self):
        return " ".join("".join(self.texts).split())


def summarise(text):
    return PageSummary(text)


def is_external(url):
    return bool(url) and (url.startswith("http://") or url.startswith("https://") or url.startswith("//"))


def assert_page_is_self_contained(summary, where):
    """No CDN, no inline script, no inline event handler: the new pages' design."""
    external = [u for u in summary.stylesheets + summary.script_srcs if is_external(u)]
    assert not external, f"{where}: external stylesheet/script {external}"
    inline = [s for s in summary.inline_scripts if s.strip()]
    assert not inline, f"{where}: inline <script> without src: {[s[:80] for s in inline]}"
    assert not summary.event_attributes, f"{where}: on* attributes {summary.event_attributes}"


# --------------------------------------------------------------------------- JWT


def forge_token(sub, *, secret=TEST_JWT_SECRET, now=None, lifetime=900, exp=None):
    """An access token as Flask-JWT-Extended 4.5 writes it: HS256, claims fresh, iat,
    jti, type, sub, nbf, exp (in that order)."""
    issued = int(time.time()) if now is None else int(now)
    if exp is None:
        exp = issued + lifetime
    claims = {
        "fresh": False,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "type": "access",
        "sub": sub,
        "nbf": issued,
        "exp": exp,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def expired_token(sub, *, secret=TEST_JWT_SECRET):
    """Correctly signed, expired 30 minutes ago (issued 45 minutes ago)."""
    exp = int(time.time()) - 30 * 60
    return forge_token(sub, secret=secret, now=exp - 900, exp=exp)


def decode_unverified(token):
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def decode_verified(token, secret=TEST_JWT_SECRET):
    return jwt.decode(token, secret, algorithms=["HS256"])


def claims_in_order(token):
    """The claim names in the order they appear in the token's payload."""
    import base64

    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return list(json.loads(base64.urlsafe_b64decode(payload)).keys())


# --------------------------------------------------------------------------- HTTP


def parse_set_cookie(raw):
    parts = [p.strip() for p in raw.split(";")]
    name, _, value = parts[0].partition("=")
    attributes = {}
    for part in parts[1:]:
        if not part:
            continue
        key, sep, val = part.partition("=")
        attributes[key] = val if sep else True
    return {"raw": raw, "name": name, "value": value, "attributes": attributes}


def set_cookies(response):
    """Every Set-Cookie header of a response, parsed, in order."""
    return [parse_set_cookie(raw) for raw in response.raw.headers.getlist("Set-Cookie")]


def cookie_header(token):
    return f"{COOKIE_NAME}={token}"


def http(base, method, target, *, token=None, form=None, headers=None):
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Cookie"] = cookie_header(token)
    return requests.request(
        method, base + target, headers=all_headers, data=form, allow_redirects=False, timeout=HTTP_TIMEOUT
    )


def auth_cookie_of(response):
    for cookie in set_cookies(response):
        if cookie["name"] == COOKIE_NAME and cookie["value"]:
            return cookie["value"]
    raise AssertionError(
        f"no {COOKIE_NAME} in the response ({response.status_code}, Location {response.headers.get('Location')!r})"
    )


@dataclass
class User:
    username: str
    email: str
    password: str
    token: str
    id: str = field(default="")

    @property
    def cookie(self):
        return cookie_header(self.token)


def register(base, username, email=None, password=None):
    email = email or f"{re.sub(r'[^A-Za-z0-9]', '', username) or 'user'}-{uuid.uuid4().hex[:6]}@example.com"
    password = password or f"pw-{uuid.uuid4().hex[:8]}"
    response = http(base, "POST", "/register", form={"username": username, "email": email, "password": password})
    assert response.status_code == 302 and response.headers.get("Location") == "/dashboard", (
        f"registering {username!r}: {response.status_code} {response.headers.get('Location')!r} {response.text[:300]!r}"
    )
    token = auth_cookie_of(response)
    _, claims = decode_unverified(token)
    return User(username, email, password, token, claims["sub"])


def login(base, username, password):
    response = http(base, "POST", "/login", form={"username": username, "password": password})
    assert response.status_code == 302, f"login {username!r}: {response.status_code} {response.text[:300]!r}"
    return auth_cookie_of(response)


CHAT_LINK = re.compile(r"^/chat/([A-Za-z0-9_-]+)$")


def room_keys(base, token):
    """The keys of the rooms the user created, from the /my_rooms page links."""
    response = http(base, "GET", "/my_rooms", token=token)
    assert response.status_code == 200, f"/my_rooms: {response.status_code}"
    keys = []
    for link in summarise(response.text).links:
        found = CHAT_LINK.match(link)
        if found and found.group(1) not in keys:
            keys.append(found.group(1))
    return keys


def create_room(base, user, name):
    before = set(room_keys(base, user.token))
    response = http(base, "POST", "/create_room", token=user.token, form={"room_name": name})
    assert response.status_code == 302 and response.headers.get("Location") == "/my_rooms", (
        f"create_room {name!r}: {response.status_code} {response.text[:300]!r}"
    )
    new = [key for key in room_keys(base, user.token) if key not in before]
    assert len(new) == 1, f"expected one new room key on /my_rooms, found {new}"
    return new[0]


def join_room(base, user, key):
    response = http(base, "POST", "/join_room", token=user.token, form={"room_key": key})
    assert response.status_code == 302 and response.headers.get("Location") == f"/chat/{key}", (
        f"join_room {key!r} as {user.username}: {response.status_code} {response.headers.get('Location')!r}"
    )


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"
