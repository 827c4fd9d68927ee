"""Hostile input on every form field and URL parameter never gives a 5xx or bad rows."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import csrf_token, request_login

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


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(FIELDS), st.lists(HOSTILE_TEXT, min_size=1, max_size=2), max_size=5
    ),
    state=st.sampled_from(["anonymous", "signed in", "half signed in"]),
)
def test_every_form_survives_anything_in_every_state(app, fields, state):
    from factors import PHONE, make_user, password_login

    with app.app_context():
        from apps import User

        if User.query.filter_by(email="fuzz@example.com").first() is None:
            make_user(app, "fuzz@example.com", phone=PHONE, two_factor=True)
    client = app.test_client()
    if state != "anonymous":
        password_login(client, "fuzz@example.com")
    if state == "signed in":
        from factors import pass_second_factor

        pass_second_factor(app, client)
    token = csrf_token(client)
    for path in _every_post_path(app):
        response = client.post(path, data={**fields, "csrf_token": token})
        assert response.status_code < 500, path
