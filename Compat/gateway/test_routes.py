"""Replays the 77 recorded HTTP cases of the old Flask backend against chatify.

``Fixtures/flask-reference/http-routes.json`` is replayed in order against one fresh
server (empty in-memory store), with ``requests`` and ``allow_redirects=False``.
Placeholders are filled in with what this server issued: ``<JWT_A>``... are the
cookies set by the register/login cases, ``<USER_A_ID>``... the tokens' ``sub``,
``<ROOM_KEY>``/``<ROOM_KEY_2>`` the keys linked from ``/my_rooms`` (``/chat/<key>``).
``<JWT_EXPIRED_A>``, ``<JWT_WRONG_KEY_A>`` and ``<JWT_UNKNOWN_USER>`` are forged here
with PyJWT, as the recordings' README describes.

Compared for every case: status, ``Location``, Set-Cookie (name, value, attributes),
``Content-Type``, JSON bodies byte for byte (key order, trailing newline), and for
pages the recorder's summary: title, forms, form field names and ``.error``/``.success``
texts exactly, the recorded element ids as a subset of ours, the recorded links as a
subset of ours (and the room links exactly), ``Allow`` on 405. Not compared, by design:
stylesheets, script srcs, onclick handlers and inline script constants (the new pages
load nothing from a CDN, have no inline script and no ``on*`` attribute); the opposite
is asserted instead, and the chat page's inline constants are checked in their new
form, the ``data-*`` attributes of ``<body>``.

Each deliberate difference from the recording (a bug or hole of the old backend,
fixed) is an explicit override below, with its reason, and is listed in the summary at
the end of the run.
"""

import copy
import re
import uuid

import pytest
import requests

import gateway_support as gs

SUITE = "routes"
ROUTES = gs.load_fixture("http-routes.json")
JWT_SPEC = gs.load_fixture("auth-cookie-jwt.json")["jwt"]
CASES = ROUTES["cases"]
CASES_BY_NAME = {case["case"]: case for case in CASES}

NOT_COMPARED = (
    "stylesheets, script srcs, onclick handlers and inline script constants of the recorded pages are not "
    "compared: the new pages load no CDN, use no inline script and no onclick by design; asserted instead: no "
    "external stylesheet/script, no inline <script>, no on* attribute, local assets are served, and the chat "
    "page's constants (room key, user id, owner) are data-* attributes of <body>"
)

# --------------------------------------------------------------------------- deliberate differences


def _redirect_to_login(expected):
    template = CASES_BY_NAME["dashboard-no-cookie"]
    for key in ("status", "location", "content_type", "html"):
        expected[key] = copy.deepcopy(template[key])
    expected.pop("json", None)
    expected.pop("body", None)


def _json_answer(message, success):
    def apply(expected):
        expected["json"] = {"message": message, "success": success}
        expected["body"] = '{"message":"%s","success":%s}\n' % (message, "true" if success else "false")

    return apply


def _bad_request_naming(field_name):
    def apply(expected):
        expected.update(
            status=400,
            location=None,
            content_type="text/html; charset=utf-8",
            html={
                "title": "400 Bad Request",
                "forms": [],
                "form_field_names": [],
                "element_ids": [],
                "script_srcs": [],
                "stylesheets": [],
                "links": [],
            },
            page_names_field=field_name,
        )
        expected.pop("json", None)
        expected.pop("body", None)

    return apply


OVERRIDES = {
    "dashboard-unknown-user-jwt": (
        "a validly signed token whose user does not exist is treated as logged out: 302 /login "
        "(recorded: 200, a dashboard with an empty name)",
        _redirect_to_login,
    ),
    "dashboard-replay-after-logout": (
        "logout revokes the token (its jti is denied until it expires): replaying the cookie afterwards is "
        "signed out, 302 /login (recorded: 200, the token still worked)",
        _redirect_to_login,
    ),
    "update-profile-unknown-field": (
        'an unknown field is refused: {"message":"Unknown field","success":false} (recorded: success)',
        _json_answer("Unknown field", False),
    ),
    "update-profile-empty-username": (
        'an empty username is refused: {"message":"Username cannot be empty","success":false} (recorded: success)',
        _json_answer("Username cannot be empty", False),
    ),
    "update-profile-missing-value": (
        "a missing form field is a 400 page naming it (recorded: 302 /login, which looked like a logout)",
        _bad_request_naming("value"),
    ),
    "create-room-missing-name": (
        "a missing form field is a 400 page naming it (recorded: 302 /login, which looked like a logout)",
        _bad_request_naming("room_name"),
    ),
}

CSRF_FIELD = (
    "every POST form carries a hidden csrf_token field (the double-submit value when JWT_COOKIE_CSRF_PROTECT "
    "is on, empty otherwise); it is left out of the form comparison"
)
ROOM_ACTION_FORMS = (
    "the leave and delete links of the chat and my-rooms pages are POST forms to the same paths (compared "
    "as those links)"
)
SAMESITE = (
    "session cookies carry SameSite=Lax (recorded: no SameSite), so other sites cannot post with them"
)
SIGN_IN_CLAIM = (
    "access tokens carry one more claim, sid (the sign-in a refresh carries on, so a logout ends every "
    "token of it), last, where Flask-JWT-Extended puts additional_claims"
)
CONFIRMATION = (
    "GET /leave_room/<key> and GET /delete_room/<key> change nothing: they answer 200 with a confirmation "
    "page whose POST form (with the csrf_token field) does it; the replay submits that form and compares "
    "its answer with the recorded GET's (recorded: GET changed state, a CSRF hole)"
)
STATE_CHANGE_BY_GET = re.compile(r"^/(leave_room|delete_room)/")


def expect_samesite(expected):
    """Cookies that sign in (a non-empty value) now say SameSite=Lax."""
    for cookie in expected["set_cookie"]:
        if cookie["value"] != "":
            cookie["attributes"] = {**cookie["attributes"], "SameSite": "Lax"}
            expected["samesite_added"] = True


# Checks the summary cannot express: the dashboard shows the user's name and email.
DASHBOARD_SHOWS = {
    "dashboard-ok": ("alice", "alice@example.com"),
    "dashboard-after-rename": ("alice_new", "alice_new@example.com"),
}


def expected_for(case):
    expected = copy.deepcopy(case)
    expect_samesite(expected)
    override = OVERRIDES.get(case["case"])
    if override:
        reason, apply = override
        apply(expected)
        expected["override_reason"] = reason
    return expected


# --------------------------------------------------------------------------- replay

ROOM_LINK = re.compile(r"^/(chat|leave_room|delete_room)/")
CONSTANT = re.compile(r"^const (\w+) = '([^']*)'( === currentUserId)?;$")


class Replay:
    def __init__(self, base):
        self.base = base
        self.bindings = {}
        self.results = {}  # case -> list of mismatch strings
        self.asset_status = {}

    # placeholders the test makes itself
    def ensure_forged(self, template):
        for name in gs.PLACEHOLDER.findall(template or ""):
            if name in self.bindings:
                continue
            if name == "JWT_EXPIRED_A":
                self.bindings[name] = gs.expired_token(self.bindings["USER_A_ID"])
            elif name == "JWT_WRONG_KEY_A":
                self.bindings[name] = gs.forge_token(self.bindings["USER_A_ID"], secret="another-secret-key")
            elif name == "JWT_UNKNOWN_USER":
                unknown = self.bindings.setdefault("UNKNOWN_USER_ID", str(uuid.uuid4()))
                self.bindings[name] = gs.forge_token(unknown)

    def fill(self, template):
        if template is None:
            return None
        self.ensure_forged(template)
        return gs.substitute(template, self.bindings)

    def run(self):
        for case in CASES:
            name = case["case"]
            try:
                self.results[name] = self.replay(case, expected_for(case))
            except Exception as error:  # a missing binding, a connection error...
                self.results[name] = [f"could not replay: {type(error).__name__}: {error}"]

    def replay(self, case, expected):
        request = case["request"]
        headers = {key: self.fill(value) for key, value in (request.get("headers") or {}).items()}
        if request.get("cookie"):
            headers["Cookie"] = self.fill(request["cookie"])
        form = None
        if "form" in request:
            form = {key: self.fill(value) for key, value in request["form"].items()}
        target = self.fill(request["target"])
        response = requests.request(
            request["method"],
            self.base + target,
            headers=headers,
            data=form,
            allow_redirects=False,
            timeout=gs.HTTP_TIMEOUT,
        )
        problems = []
        if request["method"] == "GET" and STATE_CHANGE_BY_GET.match(target) and response.status_code == 200:
            response = self.submit_confirmation(target, headers, response, problems)
            gs.record_deliberate(SUITE, "(leave and delete by GET)", CONFIRMATION)
        if expected.get("samesite_added"):
            gs.record_deliberate(SUITE, "(sign-in cookies)", SAMESITE)
        self.compare(case, expected, response, problems)
        if expected.get("override_reason"):
            gs.record_deliberate(SUITE, case["case"], expected["override_reason"])
        return problems

    def submit_confirmation(self, target, headers, page, problems):
        """The confirmation page must hold one POST form back to the same path; its
        submission is what the recorded GET did."""
        forms = re.findall(r'<form method="POST" action="([^"]*)"', page.text)
        if forms != [target]:
            problems.append(f"confirmation page of {target}: POST forms {forms!r}, expected [{target!r}]")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        return requests.post(
            self.base + target,
            headers=headers,
            data={"csrf_token": token.group(1) if token else ""},
            allow_redirects=False,
            timeout=gs.HTTP_TIMEOUT,
        )

    # comparisons
    def compare(self, case, expected, response, problems):
        def check(condition, message):
            if not condition:
                problems.append(message)

        check(
            response.status_code == expected["status"],
            f"status {response.status_code}, expected {expected['status']}",
        )
        location = response.headers.get("Location")
        if expected["location"] is None:
            check(location is None, f"Location {location!r}, expected none")
        else:
            check(
                location is not None and gs.match_template(expected["location"], location, self.bindings),
                f"Location {location!r}, expected {expected['location']!r}",
            )
        content_type = response.headers.get("Content-Type")
        check(
            content_type == expected["content_type"],
            f"Content-Type {content_type!r}, expected {expected['content_type']!r}",
        )
        self.compare_cookies(expected["set_cookie"], gs.set_cookies(response), check)
        if expected["status"] == 405:
            allow = case["response_headers"].get("Allow")
            check(
                response.headers.get("Allow") == allow,
                f"Allow {response.headers.get('Allow')!r}, expected {allow!r}",
            )
        if "body" in expected:
            body = gs.substitute(expected["body"], self.bindings)
            check(response.text == body, f"body {response.text!r}, expected {body!r}")
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            check(
                parsed == expected["json"] and list(parsed or {}) == list(expected["json"]),
                f"JSON {parsed!r}, expected {expected['json']!r}",
            )
        if "html" in expected:
            self.compare_page(case, expected, response, check)

    def compare_cookies(self, expected, actual, check):
        check(
            len(actual) == len(expected),
            f"Set-Cookie {[c['raw'] for c in actual]}, expected {[c['raw'] for c in expected]}",
        )
        for want, got in zip(expected, actual):
            check(got["name"] == want["name"], f"cookie name {got['name']!r}, expected {want['name']!r}")
            if want["value"] == "":
                check(got["value"] == "", f"cookie value {got['value']!r}, expected empty")
            else:
                before = dict(self.bindings)
                matched = gs.match_template(want["value"], got["value"], self.bindings)
                check(matched, f"cookie value {got['value'][:40]!r}..., expected {want['value']!r}")
                if matched:
                    for name in set(self.bindings) - set(before):
                        if name.startswith("JWT"):
                            self.check_issued_token(name, self.bindings[name], check)
            check(
                got["attributes"] == want["attributes"],
                f"cookie attributes {got['attributes']!r}, expected {want['attributes']!r} (raw {got['raw']!r})",
            )

    def check_issued_token(self, placeholder, token, check):
        """A token the server issued: the claims of auth-cookie-jwt.json."""
        try:
            header, _ = gs.decode_unverified(token)
            claims = gs.decode_verified(token)
        except Exception as error:
            check(False, f"{placeholder} does not verify with the test secret: {error}")
            return
        spec = JWT_SPEC["register_token"]
        check(header == spec["header"], f"{placeholder} header {header!r}, expected {spec['header']!r}")
        order = gs.claims_in_order(token)
        if order and order[-1] == "sid" and "sid" not in spec["claim_names"]:
            check(isinstance(claims.get("sid"), str) and claims["sid"], f"{placeholder} sid={claims.get('sid')!r}")
            gs.record_deliberate(SUITE, "(sign-in tokens)", SIGN_IN_CLAIM)
            order = order[:-1]
            claims = {name: value for name, value in claims.items() if name != "sid"}
        check(
            sorted(claims) == sorted(spec["claim_names"]),
            f"{placeholder} claims {sorted(claims)}, expected {spec['claim_names']}",
        )
        check(order == list(spec["claims"]), f"{placeholder} claim order {order}, expected {list(spec['claims'])}")
        check(claims.get("fresh") is False, f"{placeholder} fresh={claims.get('fresh')!r}")
        check(claims.get("type") == "access", f"{placeholder} type={claims.get('type')!r}")
        check(claims.get("nbf") == claims.get("iat"), f"{placeholder} nbf != iat: {claims}")
        check(
            claims.get("exp", 0) - claims.get("iat", 0) == JWT_SPEC["lifetime_seconds"],
            f"{placeholder} lifetime {claims.get('exp', 0) - claims.get('iat', 0)}",
        )
        check(
            gs.match_template("<JTI>", str(claims.get("jti")), {}),
            f"{placeholder} jti {claims.get('jti')!r} is not a uuid4 string",
        )
        letter = placeholder.split("_")[1][0]  # JWT_A, JWT_A_LOGIN, JWT_B...
        user = f"USER_{letter}_ID"
        if user in self.bindings:
            check(claims.get("sub") == self.bindings[user], f"{placeholder} sub {claims.get('sub')!r} != <{user}>")
        else:
            check(
                gs.match_template(f"<{user}>", str(claims.get("sub")), self.bindings),
                f"{placeholder} sub {claims.get('sub')!r} is not a uuid4 string",
            )

    def compare_page(self, case, expected, response, check):
        want = expected["html"]
        page = gs.summarise(response.text)
        check(page.title == want["title"], f"title {page.title!r}, expected {want['title']!r}")
        forms, links = [], list(page.links)
        for form in page.forms:
            fields = [f for f in form["fields"] if not (f["name"] == "csrf_token" and f["type"] == "hidden")]
            if len(fields) != len(form["fields"]):
                gs.record_deliberate(SUITE, "(all forms)", CSRF_FIELD)
            if form["action"] and STATE_CHANGE_BY_GET.match(form["action"]) and not fields:
                # The chat page's leave link became this form; my-rooms' delete button
                # (a script before) is one too, with no recorded link to compare.
                if any(gs.match_template(link, form["action"], self.bindings) for link in want["links"]):
                    links.append(form["action"])
                gs.record_deliberate(SUITE, "(leave and delete links)", ROOM_ACTION_FORMS)
                continue
            forms.append({**form, "fields": fields})
        field_names = [f["name"] for form in forms for f in form["fields"] if f["name"]]
        check(forms == want["forms"], f"forms {forms!r}, expected {want['forms']!r}")
        check(
            field_names == want["form_field_names"],
            f"form field names {field_names!r}, expected {want['form_field_names']!r}",
        )
        for kind in ("error_messages", "success_messages"):
            got = getattr(page, kind)
            check(got == want.get(kind, []), f"{kind} {got!r}, expected {want.get(kind, [])!r}")
        missing = [i for i in want["element_ids"] if i not in page.element_ids]
        check(not missing, f"element ids {missing} missing (ours: {page.element_ids})")
        # Links: the recorded ones are there; the room links are exactly the recorded ones.
        for link in want["links"]:
            check(
                any(gs.match_template(link, ours, self.bindings) for ours in links),
                f"link {link!r} missing (ours: {links})",
            )
        try:
            room_links_want = sorted({gs.substitute(link, self.bindings) for link in want["links"] if ROOM_LINK.match(link)})
        except KeyError as error:
            room_links_want = [f"unbound: {error}"]
        room_links_got = sorted({link for link in links if ROOM_LINK.match(link)})
        check(room_links_got == room_links_want, f"room links {room_links_got}, expected {room_links_want}")
        try:
            gs.assert_page_is_self_contained(page, "page")
        except AssertionError as error:
            check(False, str(error))
        if want.get("stylesheets") or want.get("script_srcs") or want.get("onclick_handlers") or want.get(
            "inline_script_constants"
        ):
            gs.record_deliberate(SUITE, "(all pages)", NOT_COMPARED)
        self.check_assets(page, check)
        if want.get("inline_script_constants"):
            self.check_chat_constants(want["inline_script_constants"], page, check)
        if case["case"] in DASHBOARD_SHOWS:
            for text in DASHBOARD_SHOWS[case["case"]]:
                check(text in page.text, f"dashboard does not show {text!r}")
        field_name = expected.get("page_names_field")
        if field_name:
            check(
                re.search(rf"(?<![\w]){re.escape(field_name)}(?![\w])", page.text) is not None,
                f"the 400 page does not name the missing field {field_name!r}: {page.text!r}",
            )

    def check_assets(self, page, check):
        """The local stylesheets and scripts a page loads are served."""
        for url in page.stylesheets + page.script_srcs:
            if gs.is_external(url) or not url:
                continue
            if url not in self.asset_status:
                response = requests.get(self.base + url, timeout=gs.HTTP_TIMEOUT)
                self.asset_status[url] = (response.status_code, response.headers.get("Content-Type", ""))
            status, content_type = self.asset_status[url]
            kind = "css" if url.endswith(".css") else "javascript"
            check(status == 200 and kind in content_type, f"asset {url}: {status} {content_type!r}")

    def check_chat_constants(self, constants, page, check):
        """The recorded inline constants, in their new form: <body data-*>."""
        values = {}
        for line in constants:
            found = CONSTANT.match(line)
            if found:
                values[found.group(1)] = gs.substitute(found.group(2), self.bindings)
        owner = values.get("isAdmin")
        expected = {
            "room-key": values.get("roomKey"),
            "user-id": values.get("currentUserId"),
            "is-owner": "true" if owner == values.get("currentUserId") else "false",
        }
        got = {key: page.body_data.get(key) for key in expected}
        check(got == expected, f"chat page <body data-*> {got}, expected {expected}")


@pytest.fixture(scope="module")
def replay(module_pool):
    """The whole replay, once, in order, against a fresh server of its own."""
    process = module_pool.start()
    run = Replay(process.url)
    run.run()
    run.server_alive = process.alive()
    run.server_tail = process.tail()
    return run


@pytest.mark.parametrize("name", [case["case"] for case in CASES])
def test_recorded_route(replay, name):
    assert replay.server_alive, f"the server died during the replay:\n{replay.server_tail}"
    problems = replay.results[name]
    case = CASES_BY_NAME[name]
    request = case["request"]
    assert not problems, (
        f"{name} ({request['method']} {request['target']}, cookie {request.get('cookie')}):\n  " + "\n  ".join(problems)
    )


def test_replay_covers_all_cases(replay):
    assert len(CASES) == 77
    assert set(replay.results) == set(CASES_BY_NAME)
    for name in OVERRIDES:
        assert name in CASES_BY_NAME, f"override for unknown case {name}"


# --------------------------------------------------------------------------- XSS

HTML_ROOM_NAME = "<b>x</b>'); alert(1); ('"


def assert_only_as_text(response, value, where):
    """`value` appears in the page only as escaped text: never raw, never inside an
    attribute or a script, and no markup of it became an element or a handler."""
    body = response.text
    assert response.status_code == 200, f"{where}: status {response.status_code}"
    page = gs.summarise(body)
    assert value in page.text, f"{where}: {value!r} is not shown as text: {page.text[:400]!r}"
    assert value not in body, f"{where}: {value!r} appears unescaped in the HTML"
    for tag, name, attribute in page.attribute_values:
        assert value not in attribute, f"{where}: {value!r} is inside the attribute {tag}[{name}]"
        assert "alert(" not in attribute, f"{where}: script text inside the attribute {tag}[{name}]={attribute!r}"
    for script in page.inline_scripts:
        assert value not in script and "alert(" not in script, f"{where}: the value reaches an inline script"
    gs.assert_page_is_self_contained(page, where)
    return page


def test_room_name_with_html_is_escaped_everywhere(server):
    # Recorded case my-rooms-html-name: the old page put the name inside an onclick
    # attribute (script injection). Now: text only, on /my_rooms and on the chat page.
    owner = gs.register(server.url, gs.unique("owner"))
    key = gs.create_room(server.url, owner, HTML_ROOM_NAME)
    rooms = gs.http(server.url, "GET", "/my_rooms", token=owner.token)
    page = assert_only_as_text(rooms, HTML_ROOM_NAME, "/my_rooms")
    assert "b" not in page.tags and "<b>" not in rooms.text, "the room name's <b> became markup"
    assert f"/chat/{key}" in page.links
    chat = gs.http(server.url, "GET", f"/chat/{key}", token=owner.token)
    page = assert_only_as_text(chat, HTML_ROOM_NAME, "/chat/<key>")
    assert page.title == f"{HTML_ROOM_NAME} - Chat"
    gs.record_deliberate(
        SUITE,
        "my-rooms-html-name",
        "a room name with markup and quotes is only HTML-escaped text (recorded: inside an onclick handler)",
    )


def test_username_and_email_with_html_are_escaped_on_the_dashboard(server):
    username = "<img src=x onerror=alert(1)>\"'&" + gs.unique("")
    email = f'x"><svg onload=alert(2)>{gs.unique("")}@example.com'
    user = gs.register(server.url, username, email=email)
    dashboard = gs.http(server.url, "GET", "/dashboard", token=user.token)
    page = assert_only_as_text(dashboard, username, "/dashboard (username)")
    assert email in page.text, "the email is not shown"
    assert email not in dashboard.text, "the email appears unescaped"
    assert "img" not in page.tags and "svg" not in page.tags, f"markup of the user's text became elements: {page.tags}"
    assert "<img" not in dashboard.text and "<svg" not in dashboard.text


# A `<`, `>` or `"` that a combining mark or a prepended character joins into one grapheme
# cluster: escaping that compares whole characters lets it through.
COMBINING_ROOM_NAMES = ['\u06dd<meta http-equiv=refresh content="0;url=/x">', 'den"\u0301 data-injected="1']
COMBINING_USER_SUFFIXES = ["<i>\u0301", ">\u0301"]


def html_escaped(value):
    """`value` as the pages escape it."""
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        value = value.replace(raw, entity)
    return value


def assert_escaped_only(response, values, where):
    """Each of `values` is in the page escaped, never raw, and none of its markup became
    an element or an attribute."""
    body = response.text
    assert response.status_code == 200, f"{where}: status {response.status_code}"
    for value in values:
        assert value not in body, f"{where}: {value!r} appears unescaped in the HTML"
        assert html_escaped(value) in body, f"{where}: {html_escaped(value)!r} is not in the page"
    for raw in ("<meta http-equiv", "<i>", ">\u0301", '"\u0301', 'data-injected="1"'):
        assert raw not in body, f"{where}: {raw!r} appears raw in the HTML"
    page = gs.summarise(body)
    assert "i" not in page.tags, f"{where}: the user's <i> became an element"
    names = {name for _, name, _ in page.attribute_values}
    assert not names & {"http-equiv", "data-injected"}, f"{where}: the user's text made attributes {names}"


@pytest.mark.parametrize("room_name", COMBINING_ROOM_NAMES)
def test_text_with_combining_marks_is_escaped_on_every_page(server, room_name):
    owner = gs.register(server.url, gs.unique("owner") + COMBINING_USER_SUFFIXES[0])
    member = gs.register(server.url, gs.unique("member") + COMBINING_USER_SUFFIXES[1])
    key = gs.create_room(server.url, owner, room_name)
    gs.join_room(server.url, member, key)
    pages = [
        ("/dashboard", owner, [owner.username]),
        ("/dashboard", member, [member.username]),
        ("/my_rooms", owner, [room_name]),
        ("/rooms", owner, [room_name]),
        ("/rooms", member, [room_name]),
        (f"/chat/{key}", owner, [room_name]),
        (f"/chat/{key}", member, [room_name]),
        (f"/room/{key}/settings", owner, [room_name, owner.username, member.username]),
        (f"/room/{key}/settings", member, [room_name, owner.username, member.username]),
        (f"/delete_room/{key}", owner, [room_name]),
    ]
    for path, user, values in pages:
        response = gs.http(server.url, "GET", path, token=user.token)
        assert_escaped_only(response, values, f"{path} as {user.username!r}")
    # Banned members are listed on the owner's settings page.
    ban = gs.http(
        server.url, "POST", f"/room/{key}/moderate", token=owner.token, form={"user_id": member.id, "action": "ban"}
    )
    assert ban.status_code in (200, 302, 303), f"ban: {ban.status_code} {ban.text[:200]!r}"
    settings = gs.http(server.url, "GET", f"/room/{key}/settings", token=owner.token)
    assert_escaped_only(settings, [room_name, member.username], "/room/<key>/settings with a ban")


def test_ordinary_text_is_escaped_once(server):
    owner = gs.register(server.url, "O'Brien & Co " + gs.unique(""))
    key = gs.create_room(server.url, owner, 'Tom & Jerry\'s "den"')
    for path in ("/dashboard", "/my_rooms", f"/chat/{key}", f"/room/{key}/settings"):
        body = gs.http(server.url, "GET", path, token=owner.token).text
        assert "&amp;amp;" not in body and "&amp;#39;" not in body and "&amp;quot;" not in body, f"{path}: escaped twice"
    assert "O&#39;Brien &amp; Co" in gs.http(server.url, "GET", "/dashboard", token=owner.token).text
    assert "Tom &amp; Jerry&#39;s &quot;den&quot;" in gs.http(server.url, "GET", f"/chat/{key}", token=owner.token).text


# --------------------------------------------------------------------------- methods, as Flask answers them

# The old backend's routes and methods (ORIGINAL-BACKEND.md), with a sample path each;
# leave_room and delete_room also take POST now (the state changes moved there).
OLD_ROUTES = [
    ("/", "/", ["GET"]),
    ("/register", "/register", ["GET", "POST"]),
    ("/login", "/login", ["GET", "POST"]),
    ("/dashboard", "/dashboard", ["GET"]),
    ("/update_profile", "/update_profile", ["POST"]),
    ("/my_rooms", "/my_rooms", ["GET"]),
    ("/create_room", "/create_room", ["POST"]),
    ("/join_room", "/join_room", ["GET", "POST"]),
    ("/chat/<key>", "/chat/somekey", ["GET"]),
    ("/leave_room/<key>", "/leave_room/somekey", ["GET", "POST"]),
    ("/delete_room/<key>", "/delete_room/somekey", ["GET", "POST"]),
    ("/logout", "/logout", ["GET"]),
]


def flask_mirror():
    """A Flask 2.3 app with the old route table: what Flask itself answers for methods."""
    from flask import Flask

    app = Flask("route-mirror")
    for rule, _, methods in OLD_ROUTES:
        app.add_url_rule(rule, rule, lambda **_: "", methods=methods)
    return app.test_client()


def allow_set(value):
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def test_wrong_methods_get_405_with_allow_like_flask(server):
    mirror = flask_mirror()
    problems = []
    for _, path, methods in OLD_ROUTES:
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"]:
            if method in methods:
                continue
            flask = mirror.open(path, method=method)
            ours = requests.request(method, server.url + path, allow_redirects=False, timeout=gs.HTTP_TIMEOUT)
            want = (flask.status_code, allow_set(flask.headers.get("Allow")))
            got = (ours.status_code, allow_set(ours.headers.get("Allow")))
            if got != want:
                problems.append(f"{method} {path}: {got}, Flask: {want}")
            elif gs.summarise(ours.text).title != "405 Method Not Allowed":
                problems.append(f"{method} {path}: title {gs.summarise(ours.text).title!r}")
    assert not problems, "\n".join(problems)


def test_options_is_answered_like_flask(server):
    # Every route's Allow header lists OPTIONS, and Flask answers OPTIONS itself with
    # 200, an empty body and the Allow header.
    mirror = flask_mirror()
    problems = []
    for _, path, _ in OLD_ROUTES:
        flask = mirror.open(path, method="OPTIONS")
        ours = requests.options(server.url + path, allow_redirects=False, timeout=gs.HTTP_TIMEOUT)
        want = (flask.status_code, allow_set(flask.headers.get("Allow")), flask.data.decode())
        got = (ours.status_code, allow_set(ours.headers.get("Allow")), ours.text if ours.status_code == 200 else "...")
        if got != want:
            problems.append(f"OPTIONS {path}: {got[:2]}, Flask: {want[:2]} (body {want[2]!r})")
    assert not problems, "\n".join(problems)
