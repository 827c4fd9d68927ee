"""Hostile input on every form field and URL parameter never gives a 5xx or bad rows."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import code_in, csrf_token, request_login

HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=12_000),
    st.sampled_from(
        [
            "\x00",
            "alice@example.com\x00",
            "аlice@example.com",  # Cyrillic a
            "ALICE@EXAMPLE.COM",
            "alice@example.com\r\nBcc: x@evil.example",
            "\u202e@example.com",
            "' OR 1=1 --",
            "//evil.example",
            "%2F%2Fevil.example",
            "１２３４５６",
        ]
    ),
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def app(make_app):
    return make_app(PASSWORDLESS_LIMITER_ENABLED=False)


def _assert_rows_sane(app):
    Secret = app.extensions["passwordless"].models.Secret
    with app.app_context():
        for row in Secret.query.all():
            assert row.identifier == row.identifier.strip().lower()
            assert "\x00" not in row.identifier and len(row.identifier) <= 320
            assert row.next_url is None or row.next_url.startswith("/")


@FUZZ
@given(email=HOSTILE_TEXT, next_url=HOSTILE_TEXT)
def test_email_form_survives_anything(app, user, email, next_url):
    client = app.test_client()
    response = client.post(
        "/auth/login",
        data={"email": email, "next": next_url, "csrf_token": csrf_token(client)},
    )
    assert response.status_code < 500
    _assert_rows_sane(app)


@FUZZ
@given(code=HOSTILE_TEXT)
def test_code_form_survives_anything(app, user, code):
    client = app.test_client()
    request_login(client, "alice@example.com")
    response = client.post(
        "/auth/login/code", data={"code": code, "csrf_token": csrf_token(client)}
    )
    assert response.status_code < 500


@FUZZ
@given(token=HOSTILE_TEXT, next_url=HOSTILE_TEXT)
def test_link_and_login_urls_survive_anything(app, token, next_url):
    client = app.test_client()
    assert client.get("/auth/login/link", query_string={"token": token}).status_code < 500
    assert client.get("/auth/login", query_string={"next": next_url}).status_code < 500
    data = {"token": token, "csrf_token": csrf_token(client)}
    assert client.post("/auth/login/link", data=data).status_code < 500


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(["email", "code", "token", "next", "csrf_token", "x"]),
        st.lists(HOSTILE_TEXT, min_size=1, max_size=3),
        max_size=4,
    )
)
def test_repeated_and_missing_fields_survive(app, user, fields):
    client = app.test_client()
    request_login(client, "alice@example.com")
    for path in ("/auth/login", "/auth/login/code", "/auth/login/link", "/auth/logout"):
        assert client.post(path, data=fields).status_code < 500


FIELDS = ["email", "phone", "code", "token", "next", "password", "confirm", "remember", "x"]


def _every_post_path(app):
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("passwordless.") and "POST" in rule.methods:
            paths.append(rule.rule.replace("<int:device_id>", "1"))
    return sorted(paths)


def _client_in(app, state):
    """A browser of the fuzz account (two-step on, SMS) in ``state``."""
    from factors import PHONE, make_user, pass_second_factor, password_login

    with app.app_context():
        from apps import User

        if User.query.filter_by(email="fuzz@example.com").first() is None:
            make_user(app, "fuzz@example.com", phone=PHONE, two_factor=True)
    client = app.test_client()
    if state != "anonymous":
        password_login(client, "fuzz@example.com")
    if state == "signed in":
        pass_second_factor(app, client)
    return client


STATES = ["anonymous", "signed in", "half signed in"]


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(FIELDS), st.lists(HOSTILE_TEXT, min_size=1, max_size=2), max_size=5
    ),
    state=st.sampled_from(STATES),
)
def test_every_form_survives_anything_in_every_state(app, fields, state):
    client = _client_in(app, state)
    token = csrf_token(client)
    for path in _every_post_path(app):
        response = client.post(path, data={**fields, "csrf_token": token})
        assert response.status_code < 500, path


# Multipart bodies: Flask-WTF would hand uploaded parts to the forms as data.

FILE_FIELDS = [*FIELDS, "csrf_token", "enable"]


@pytest.mark.parametrize("state", STATES)
def test_any_field_sent_as_a_file_counts_as_absent_on_every_form(app, state):
    client = _client_in(app, state)
    token = csrf_token(client)
    for path in _every_post_path(app):
        for field in FILE_FIELDS:
            data = {"csrf_token": token, field: (io.BytesIO(b"fuzz@example.com"), "a.txt")}
            response = client.post(path, data=data, content_type="multipart/form-data")
            assert response.status_code < 500, (path, field)


@pytest.mark.parametrize(
    "part",
    [
        ("email", lambda: (io.BytesIO(b"fuzz@example.com"), "")),  # empty filename: a file
        ("n" * 20_000, lambda: "x"),  # a huge part name
        ("email", lambda: (io.BytesIO(b"\x00" * 100_000), "big.bin")),
    ],
    ids=["empty filename", "huge part name", "large file"],
)
def test_odd_parts_never_give_a_5xx_on_any_form(app, part):
    for state in STATES:
        client = _client_in(app, state)
        token = csrf_token(client)
        for path in _every_post_path(app):
            data = {
                "csrf_token": token,
                "code": "123456",
                "phone": "+14155550100",
                part[0]: part[1],
            }
            data["email"] = data.get("email", "fuzz@example.com")
            response = client.post(path, data=data, content_type="multipart/form-data")
            assert response.status_code < 500, (path, state)


def test_an_email_sent_as_a_file_gets_the_missing_field_message(app, user):
    client = app.test_client()
    data = {
        "csrf_token": csrf_token(client),
        "email": (io.BytesIO(b"alice@example.com"), "email.txt"),
    }
    page = client.post("/auth/login", data=data, content_type="multipart/form-data")
    assert page.status_code == 200
    assert "Enter your email address." in page.get_data(as_text=True)
    assert app.extensions["passwordless"].outbox == []


def test_a_json_body_counts_as_an_empty_form(app, user):
    client = app.test_client()
    token = csrf_token(client)
    for body in ({"email": 5, "csrf_token": token}, [1, 2], {"email": {"a": None}}, "x"):
        page = client.post("/auth/login", json=body, headers={"X-CSRFToken": token})
        assert page.status_code == 200
        assert "Enter your email address." in page.get_data(as_text=True)


def _multipart(parts, boundary: bytes) -> bytes:
    """A multipart body built by hand, so names, filenames and framing can be hostile."""
    body = b""
    for name, filename, value in parts:
        body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            body += b'; filename="' + filename + b'"\r\nContent-Type: application/octet-stream'
        body += b"\r\n\r\n" + value + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


LATIN1 = st.binary(max_size=200)  # raw bytes: not UTF-8, NUL, CR LF
# Mostly the forms' own field names (each one a file part or text), sometimes hostile ones.
FIELD_NAME = st.sampled_from([f.encode() for f in FILE_FIELDS])
PART_NAME = st.one_of(FIELD_NAME, FIELD_NAME, st.sampled_from([b"n" * 20_000, b""]), LATIN1)
FILENAME = st.one_of(
    st.none(), st.sampled_from([b"", b"a.txt", b"\x00", b"x" * 5000, b"../../etc/passwd"]), LATIN1
)
PART = st.tuples(PART_NAME, FILENAME, st.one_of(LATIN1, st.just(b"fuzz@example.com")))
BOUNDARY = st.sampled_from(
    [b"b", b"fuzz-boundary", b"x" * 70, b"x" * 300, b"a b", b"--", b"\xff\xfe", b"\x00"]
)


@FUZZ
@given(
    parts=st.lists(PART, min_size=1, max_size=6),
    with_token=st.sampled_from([True, True, True, False]),
    boundary=BOUNDARY,
    declared=st.sampled_from(["same", "same", "quoted", "other", "none", "huge"]),
    state=st.sampled_from(STATES),
)
def test_hostile_multipart_bodies_never_give_a_5xx(
    app, parts, with_token, boundary, declared, state
):
    client = _client_in(app, state)
    token = csrf_token(client)
    if with_token:
        parts = [(b"csrf_token", None, token.encode()), *parts]
    body = _multipart(parts, boundary)
    header = {
        "same": boundary,
        "quoted": b'"' + boundary + b'"',
        "other": b"not-the-boundary",
        "none": b"",
        "huge": b"z" * 5000,
    }[declared].decode("latin-1")
    for path in _every_post_path(app):
        response = client.post(
            path, data=body, content_type=f"multipart/form-data; boundary={header}"
        )
        assert response.status_code < 500, path


# Hostile headers: raw bytes in the WSGI environ (PEP 3333 hands them over as
# latin-1 text), behind a proxy fix that trusts every X-Forwarded-* header.

HEADERS = [
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_HOST",
    "CONTENT_TYPE",
]
# CR and LF never reach an app inside a header value (they end the header line
# at the server); every other byte does, including NUL on some servers.
RAW_VALUE = st.one_of(
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1").translate({13: "", 10: ""})),
    st.sampled_from(
        [
            "\x00",
            "Mozilla/5.0 (X11; Linux x86_64)\x00 Firefox/128.0",
            "caf\xc3\xa9 \xff\xfe\x80",  # UTF-8 é, then bytes that are not UTF-8
            "a\x0bX-Injected: 1\x1b[31m\x7f",
            "https",
            "x" * 20_000,
            "multipart/form-data; boundary=",
            'multipart/form-data; boundary="',
            "multipart/form-data; boundary=" + "b" * 5000,
            "application/x-www-form-urlencoded; charset=utf-7",
            "[::1",
            "http://[",
            "1.2.3.4, \x00",
        ]
    ),
)


class Hostile:
    """WSGI middleware that puts chosen raw values into the environ; a hostile
    Cookie header is added in front of the browser's real cookies."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.values = wsgi_app, {}

    def __call__(self, environ, start_response):
        environ = dict(environ)
        for key, value in self.values.items():
            if key == "HTTP_COOKIE" and environ.get(key):
                value = f"{value}; {environ[key]}"
            environ[key] = value
        return self.wsgi_app(environ, start_response)


@pytest.fixture
def proxied_app(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = Hostile(
        ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    )
    return app


def _assert_device_rows_clean(app):
    with app.app_context():
        for row in app.extensions["passwordless"].models.Device.query.all():
            for text in (row.user_agent, row.name, row.ip or ""):
                assert text.isprintable(), text
            assert len(row.user_agent) <= 512 and len(row.ip or "") <= 64


def _second_step_with_remember(app, client, token=None):
    """Finish the second step ticking "remember": returns (response, code used, device saved).

    Never half done: the code is used exactly when the device row was written.
    """
    from factors import last

    models = app.extensions["passwordless"].models

    def counts():
        with app.app_context():
            used = models.Secret.query.filter(models.Secret.consumed_at.is_not(None)).count()
            return used, models.Device.query.count()

    used_before, devices_before = counts()
    data = {"code": code_in(last(app, "sms")), "remember": "y"}
    data["csrf_token"] = token or csrf_token(client)
    response = client.post("/auth/two-factor", data=data)
    used_after, devices_after = counts()
    used, saved = used_after > used_before, devices_after > devices_before
    assert used == saved, (response.status_code, used, saved)
    return response, used, saved


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Macintosh)\x00 Firefox/128.0",
        "\x00" * 600,
        "Mozilla/5.0 (Windows NT 10.0) Chrome/126 \xff\xfe\x80",
        "Mozilla/5.0 (iPhone) caf\xc3\xa9 Safari/605",
        "Firefox/128.0\r\n\x1b[31m\u202egpj.exe",
        "Firefox/128.0 " + "x" * 20_000,
    ],
    ids=["nul", "only nul", "not utf-8", "utf-8", "controls", "huge"],
)
def test_hostile_user_agent_at_remember_this_device_saves_a_clean_device(proxied_app, agent):
    app = proxied_app
    client = _client_in(app, "anonymous")
    app.wsgi_app.values = {"HTTP_USER_AGENT": agent, "HTTP_X_FORWARDED_FOR": "\x00" + agent}
    from factors import password_login

    password_login(client, "fuzz@example.com")
    response, used, saved = _second_step_with_remember(app, client)
    assert response.status_code == 302 and used and saved
    _assert_device_rows_clean(app)
    with app.app_context():
        row = app.extensions["passwordless"].models.Device.query.one()
        assert "\x00" not in row.user_agent and row.user_agent.startswith(
            ("Mozilla", "Firefox", "")
        )
    if "caf" in agent:
        assert "café" in row.user_agent
    if "\xff" in agent:
        assert "\ufffd" in row.user_agent


@FUZZ
@given(values=st.dictionaries(st.sampled_from(HEADERS), RAW_VALUE, min_size=1, max_size=4))
def test_hostile_headers_never_give_a_5xx_nor_half_done_writes(proxied_app, values):
    """Every step that reads headers: the pages, sign-in, the second step with
    "remember", a sign-in on the remembered device, the account pages, sign-out."""
    from factors import PASSWORD, count

    app = proxied_app
    client = _client_in(app, "anonymous")
    token = csrf_token(client)  # the session cookie still goes with every request
    sign_in = {"email": "fuzz@example.com", "password": PASSWORD, "csrf_token": token}
    app.wsgi_app.values = values
    try:
        for path in ("/auth/login", "/auth/login/password", "/auth/two-factor", "/"):
            assert client.get(path).status_code < 500, path
        email = {"email": "fuzz@example.com", "csrf_token": token}
        assert client.post("/auth/login", data=email).status_code < 500
        texts = count(app, "sms")
        assert client.post("/auth/login/password", data=sign_in).status_code < 500
        if count(app, "sms") > texts:  # the headers let the first step through
            response, _used, _saved = _second_step_with_remember(app, client, token)
            assert response.status_code < 500
        for path in ("/auth/account", "/auth/account/devices", "/auth/account/phone"):
            assert client.get(path).status_code < 500, path
        assert client.post("/auth/logout", data={"csrf_token": token}).status_code < 500
        # On the remembered device now: its row is touched (last seen, from where).
        app.wsgi_app.values = {}  # sign-out started a new session: a token for it
        sign_in["csrf_token"] = csrf_token(client)
        app.wsgi_app.values = values
        assert client.post("/auth/login/password", data=sign_in).status_code < 500
        _assert_device_rows_clean(app)
    finally:
        app.wsgi_app.values = {}


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://[", "localhost"),
        ("https://[::1/auth/login", "localhost"),
        ("https://localhost:99999/", "localhost"),
        ("https://localhost/", "[::1"),
        ("https://localhost/", "localhost:port"),
    ],
)
def test_an_unparseable_referer_or_host_over_https_is_an_expired_form(
    proxied_app, user, referer, host
):
    """Flask-WTF's HTTPS Referer check parses both; what does not parse is no same origin."""
    client = proxied_app.test_client()
    token = csrf_token(client)
    proxied_app.wsgi_app.values = {
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": host,
        "HTTP_REFERER": referer,
    }
    page = client.post("/auth/login", data={"email": "alice@example.com", "csrf_token": token})
    assert page.status_code == 400
    assert "This form has expired" in page.get_data(as_text=True)
    assert proxied_app.extensions["passwordless"].outbox == []


@pytest.mark.parametrize("prefix", ["[", "\x00", "\xff\xfe", "@evil.com"])
def test_a_hostile_path_prefix_never_gives_a_5xx(proxied_app, prefix):
    """The SMS origin line comes from PASSWORDLESS_BASE_URL, whatever the script root says."""
    from factors import count, password_login

    client = _client_in(proxied_app, "anonymous")
    proxied_app.wsgi_app.values = {"HTTP_X_FORWARDED_PREFIX": prefix}
    texts = count(proxied_app, "sms")
    assert password_login(client, "fuzz@example.com").status_code < 500
    assert count(proxied_app, "sms") == texts + 1
    assert "@app.example.com #" in proxied_app.extensions["passwordless"].outbox[-1].text


@pytest.mark.parametrize("prefix", ["http://[", "//evil.example", "https://evil.example"])
def test_a_path_prefix_that_is_not_a_path_is_refused(proxied_app, prefix):
    """Every redirect starts with the prefix: unparseable, it was a 500; "//host", off-site."""
    client = _client_in(proxied_app, "anonymous")
    token = csrf_token(client)
    proxied_app.wsgi_app.values = {"HTTP_X_FORWARDED_PREFIX": prefix}
    assert client.get("/auth/two-factor").status_code == 400  # it would redirect to sign-in
    data = {"email": "fuzz@example.com", "csrf_token": token}
    assert client.post("/auth/login", data=data).status_code == 400
    assert proxied_app.extensions["passwordless"].outbox == []
