"""Password sign-in and the password policy."""

from __future__ import annotations

import pytest
from factors import PASSWORD, make_user, password_login

from conftest import csrf_token, signed_in_as
from flask_passwordless import login_failed
from flask_passwordless.passwords import PasswordRefused, check_policy


def test_right_password_signs_in_and_follows_next(app, client):
    make_user(app)
    response = password_login(client, next_url="/private")
    assert response.headers["Location"] == "/private"
    assert signed_in_as(client) == "alice@example.com"
    with client.session_transaction() as session:
        assert session["_passwordless_auth"]["methods"] == ["password"]


def test_wrong_password_and_unknown_email_get_the_same_page(app):
    make_user(app)
    pages = []
    for email, password in [
        ("alice@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
    ]:
        client = app.test_client()
        response = password_login(client, email, password)
        body = response.get_data(as_text=True).replace(email, "EMAIL")
        pages.append((response.status_code, body.split('name="csrf_token"')[0]))
        assert "That email and password do not match an account." in body
    assert pages[0] == pages[1]


def test_account_without_a_password_cannot_sign_in_with_one(app, client):
    make_user(app, password=None)
    assert "Enter your password." in password_login(client, password="").get_data(as_text=True)
    response = password_login(client, password="anything at all")
    assert "do not match" in response.get_data(as_text=True)
    assert signed_in_as(client) == "nobody"


def test_failures_are_signalled(app, client):
    make_user(app)
    seen = []
    with login_failed.connected_to(lambda s, **kw: seen.append(kw["reason"]), app):
        password_login(client, password="wrong password!")
    assert seen == ["wrong-password"]


def test_old_hashes_are_upgraded_at_sign_in(app, client):
    from werkzeug.security import generate_password_hash

    from apps import User, db

    user = make_user(app)
    with app.app_context():
        row = db.session.get(User, user.id)
        row.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        db.session.commit()
    password_login(client)
    with app.app_context():
        assert db.session.get(User, user.id).password_hash.startswith("scrypt:")


def test_password_pages_are_absent_when_turned_off(make_app):
    app = make_app(PASSWORDLESS_PASSWORD_LOGIN=False)
    client = app.test_client()
    assert client.get("/auth/login/password").status_code == 404
    assert client.get("/auth/reset").status_code == 404


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password123", "too common"),
        ("PassWord123", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("abababababab", "too common"),
        ("alice@example.com", "must not be your email"),
        ("alice", "at least 8"),
    ],
)
def test_policy_refuses_weak_passwords_with_a_reason(app, password, why):
    with app.app_context(), pytest.raises(PasswordRefused, match=why):
        check_policy(password, "alice@example.com")


def test_policy_accepts_a_passphrase(app):
    with app.app_context():
        check_policy(PASSWORD, "alice@example.com")
        check_policy("ünïcødé pässwörd ✓", "alice@example.com")


@pytest.mark.parametrize("password", ["", "x" * 5000, "\x00" * 10, "密码" * 600])
def test_bad_password_input_is_a_message_not_a_500(app, client, password):
    make_user(app)
    response = password_login(client, password=password)
    assert response.status_code == 200
    assert signed_in_as(client) == "nobody"


def _change_password(client, password="another fine passphrase", current=PASSWORD):
    token = csrf_token(client)
    data = {"password": password, "confirm": password, "current": current, "csrf_token": token}
    return client.post("/auth/account/password", data=data)


def test_changing_the_password_signs_out_other_browsers_only(app):
    make_user(app)
    here, there = app.test_client(), app.test_client()
    password_login(here)
    password_login(there)
    response = _change_password(here)
    assert response.headers["Location"] == "/auth/account/password"
    assert signed_in_as(here) == "alice@example.com"
    assert signed_in_as(there) == "nobody"
    outbox = app.extensions["passwordless"].outbox
    assert outbox[-1].template == "password_changed"
    assert password_login(app.test_client(), password="another fine passphrase").status_code == 302


def test_passwordless_user_can_set_a_first_password(app, client):
    from conftest import code_in, request_login, submit_code

    make_user(app, password=None)
    request_login(client, "alice@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    assert "Set a password" in client.get("/auth/account/password").get_data(True)
    assert _change_password(client).status_code == 302
    assert "Change your password" in client.get("/auth/account/password").get_data(True)


def test_changing_the_password_needs_a_recent_sign_in(app, client, clock):
    make_user(app)
    password_login(client)
    clock.advance(minutes=11)
    response = _change_password(client)
    assert response.headers["Location"] == "/auth/login?next=/auth/account/password"
    assert password_login(app.test_client()).status_code == 302  # unchanged


def test_weak_new_password_is_refused_on_the_page(app, client):
    make_user(app)
    password_login(client)
    page = _change_password(client, "12345678")
    assert page.status_code == 200 and "too common" in page.get_data(as_text=True)
