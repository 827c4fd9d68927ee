"""Password reset by email link: single use, expiring, and it ends everything."""

from __future__ import annotations

import re

import pytest
from factors import PHONE, count, last, make_user, pass_second_factor, password_login

from conftest import (
    CSRF_FIELD,
    code_in,
    confirm_link,
    csrf_token,
    request_login,
    signed_in_as,
    submit_code,
    token_in,
)
from flask_passwordless import password_changed, password_reset_requested

NEW_PASSWORD = "a brand new long passphrase"


def ask_reset(client, email="alice@example.com"):
    return client.post("/auth/reset", data={"email": email, "csrf_token": csrf_token(client)})


def reset_token(app):
    return re.search(r"token=([A-Za-z0-9_-]+)", last(app, "email").text).group(1)


def set_password(client, token, password=NEW_PASSWORD, confirm=None):
    page = client.get(f"/auth/reset/confirm?token={token}", follow_redirects=True)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    csrf = match.group(1) if match else csrf_token(client)
    return client.post(
        "/auth/reset/confirm",
        data={
            "token": token,
            "password": password,
            "confirm": password if confirm is None else confirm,
            "csrf_token": csrf,
        },
    )


def test_reset_link_sets_a_new_password_once(app, client):
    make_user(app)
    requested, changed = [], []
    with (
        password_reset_requested.connected_to(lambda s, **kw: requested.append(kw["email"]), app),
        password_changed.connected_to(lambda s, **kw: changed.append(kw["user"].email), app),
    ):
        assert ask_reset(client).headers["Location"] == "/auth/reset/sent"
        assert "Check your email" in client.get("/auth/reset/sent").get_data(as_text=True)
        token = reset_token(app)
        assert "token=" in last(app, "email").text and last(app, "email").template == "reset"
        response = set_password(client, token)
    assert response.headers["Location"] == "/auth/login/password"
    assert requested == ["alice@example.com"] and changed == ["alice@example.com"]
    assert last(app, "email").template == "password_changed"
    assert signed_in_as(client) == "nobody"  # not signed in automatically
    assert "do not match" in password_login(client).get_data(as_text=True)
    assert password_login(client, password=NEW_PASSWORD).status_code == 302
    assert set_password(app.test_client(), token, "yet another passphrase").status_code == 400


def test_reset_page_get_uses_nothing(make_app):
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False)  # scanners may come back often
    make_user(app)
    ask_reset(app.test_client())
    token = reset_token(app)
    link = f"/auth/reset/confirm?token={token}"
    for scanner in (app.test_client(), app.test_client(use_cookies=False)):
        for _ in range(10):
            assert scanner.get(link).status_code == 303
            assert scanner.head(link).status_code == 303
            assert scanner.get(link, follow_redirects=True).status_code in (200, 400)
            assert scanner.head(link, follow_redirects=True).status_code in (200, 400)
    assert app.test_client().get(link, follow_redirects=True).status_code == 200
    assert set_password(app.test_client(), token).status_code == 302


def test_known_and_unknown_addresses_get_the_same_reset_page(app):
    make_user(app)
    known, unknown = app.test_client(), app.test_client()
    first, second = ask_reset(known, "alice@example.com"), ask_reset(unknown, "alicf@example.com")
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"] == "/auth/reset/sent"
    first, second = known.get("/auth/reset/sent"), unknown.get("/auth/reset/sent")
    normalise = lambda r, e: CSRF_FIELD.sub("", r.get_data(as_text=True)).replace(e, "E")  # noqa: E731
    assert first.status_code == second.status_code == 200
    assert normalise(first, "alice@example.com") == normalise(second, "alicf@example.com")
    assert [m.template for m in app.extensions["passwordless"].outbox] == [
        "reset",
        "unknown_account",
    ]


def test_reset_link_expires_after_an_hour(app, client, clock):
    make_user(app)
    ask_reset(client)
    clock.advance(minutes=61)
    assert set_password(client, reset_token(app)).status_code == 400


def test_a_new_reset_request_from_the_same_browser_kills_its_older_link(app, client):
    make_user(app)
    ask_reset(client)
    old = reset_token(app)
    ask_reset(client)
    assert set_password(client, old).status_code == 400


def test_weak_or_mismatched_password_keeps_the_link_alive(app, client):
    make_user(app)
    ask_reset(client)
    token = reset_token(app)
    assert "too easy to guess" in set_password(client, token, "password123").get_data(True)
    assert "not the same" in set_password(client, token, NEW_PASSWORD, "other").get_data(True)
    assert set_password(client, token).status_code == 302


def test_reset_ends_every_session_and_forgets_every_device(app):
    make_user(app, phone=PHONE, two_factor=True)
    laptop = app.test_client()
    password_login(laptop)
    pass_second_factor(app, laptop, remember=True)
    assert signed_in_as(laptop) == "alice@example.com"
    ask_reset(app.test_client())
    set_password(app.test_client(), reset_token(app))
    assert signed_in_as(laptop) == "nobody"
    response = password_login(laptop, password=NEW_PASSWORD)
    assert response.headers["Location"] == "/auth/two-factor"


def test_reset_never_bypasses_the_second_factor(make_app):
    app = make_app(PASSWORDLESS_RESET_SIGNS_IN=True)
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    ask_reset(client)
    texts = count(app, "sms")
    response = set_password(client, reset_token(app))
    assert response.headers["Location"] == "/auth/two-factor"
    assert signed_in_as(client) == "nobody"
    assert count(app, "sms") == texts + 1


def test_reset_signs_in_when_configured_and_no_second_factor(make_app):
    app = make_app(PASSWORDLESS_RESET_SIGNS_IN=True)
    make_user(app)
    client = app.test_client()
    ask_reset(client)
    set_password(client, reset_token(app))
    assert signed_in_as(client) == "alice@example.com"


@pytest.mark.parametrize("token", ["", "nope", "x" * 10_000, "a" * 43])
def test_bad_reset_tokens_get_the_clear_page(client, token):
    link = f"/auth/reset/confirm?token={token}"
    assert client.get(link, follow_redirects=True).status_code == 400
    data = {"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    data["csrf_token"] = csrf_token(client)
    assert client.post("/auth/reset/confirm", data=data).status_code == 400


def test_login_link_cannot_be_used_as_a_reset_link(app, client):
    make_user(app)
    client.post(
        "/auth/login", data={"email": "alice@example.com", "csrf_token": csrf_token(client)}
    )
    token = re.search(r"token=([A-Za-z0-9_-]+)", last(app, "email").text).group(1)
    link = f"/auth/reset/confirm?token={token}"
    assert client.get(link, follow_redirects=True).status_code == 400


def test_sign_in_links_and_codes_sent_before_a_reset_die_with_it(app):
    make_user(app, phone=PHONE)
    by_email, by_text = app.test_client(), app.test_client()
    request_login(by_email, "alice@example.com")
    sign_in_email = last(app, "email")
    sms = {"phone": PHONE, "csrf_token": csrf_token(by_text, "/auth/login/sms")}
    by_text.post("/auth/login/sms", data=sms)
    texted = code_in(last(app, "sms"))
    ask_reset(app.test_client())
    set_password(app.test_client(), reset_token(app))
    assert confirm_link(app.test_client(), token_in(sign_in_email)).status_code == 400
    assert "expired" in submit_code(by_email, code_in(sign_in_email)).get_data(as_text=True)
    assert "expired" in submit_code(by_text, texted).get_data(as_text=True)
    for browser in (by_email, by_text):
        assert signed_in_as(browser) == "nobody"
