"""Half signed in: the first factor passed, the second pending.

The record lives in the session cookie, which is signed but readable. It must
not hand out the account's auth_id before the second step, must die when the
account's sessions are ended (a reset, "sign out everywhere"), and a resend
must kill the code it replaces even for a browser that kept its old cookie.
"""

from __future__ import annotations

import json

import pytest
from factors import PHONE, count, last, make_user, pass_second_factor, password_login
from test_reset import ask_reset, reset_token, set_password

from apps import User, db
from conftest import code_in, csrf_token, request_login, signed_in_as, submit_code
from flask_passwordless.session import PARTIAL


@pytest.fixture
def app(make_app):
    """Email as a second step too, so both channels' records are looked at."""
    return make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute", PASSWORDLESS_EMAIL_SECOND_FACTOR=True
    )


@pytest.fixture
def alice(app):
    return make_user(app, phone=PHONE, two_factor=True)


def session_cookie(app, client) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def decoded(app, client) -> dict:
    """The session as anyone holding the cookie can read it (signed, not encrypted)."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(session_cookie(app, client))


def auth_id_of(app, email="alice@example.com") -> str:
    with app.app_context():
        return db.session.execute(db.select(User.auth_id).filter_by(email=email)).scalar_one()


def resend(client):
    return client.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(client)})


@pytest.mark.parametrize("phone", [PHONE, None], ids=["sms", "email"])
def test_half_signed_in_cookie_never_carries_the_auth_id(app, client, phone):
    make_user(app, phone=phone, two_factor=True)
    auth_id = auth_id_of(app)
    channel = "sms" if phone else "email"
    password_login(client)
    seen = [decoded(app, client)]
    wrong = f"{(int(code_in(last(app, channel))) + 1) % 1_000_000:06d}"
    client.post("/auth/two-factor", data={"code": wrong, "csrf_token": csrf_token(client)})
    seen.append(decoded(app, client))
    resend(client)
    seen.append(decoded(app, client))
    for session in seen:
        assert PARTIAL in session
        assert auth_id not in json.dumps(session)
    assert pass_second_factor(app, client, channel).status_code == 302
    assert decoded(app, client)["_user_id"] == auth_id  # signed in now: Flask-Login's id


def test_half_finished_sign_in_dies_with_a_password_reset(app, client, alice):
    password_login(client)  # someone with the old password, waiting for the second step
    code = code_in(last(app, "sms"))
    ask_reset(app.test_client())
    set_password(app.test_client(), reset_token(app))
    texts = count(app, "sms")
    # The page is drawn from the record alone (it reads no row), so it still shows;
    # but neither a new code, nor the page after that, nor the old code carries on.
    assert client.get("/auth/two-factor").status_code == 200
    assert resend(client).headers["Location"] == "/auth/login"
    assert count(app, "sms") == texts
    assert client.get("/auth/two-factor").headers["Location"] == "/auth/login"
    data = {"code": code, "csrf_token": csrf_token(client)}
    assert client.post("/auth/two-factor", data=data).headers["Location"] == "/auth/login"
    assert signed_in_as(client) == "nobody"


def test_half_finished_sign_in_dies_with_sign_out_everywhere(app, alice):
    laptop, stranger = app.test_client(), app.test_client()
    password_login(laptop)
    pass_second_factor(app, laptop)
    assert signed_in_as(laptop) == "alice@example.com"
    password_login(stranger)  # knows the password, waits for the second step
    laptop.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    texts = count(app, "sms")
    assert resend(stranger).headers["Location"] == "/auth/login"
    assert count(app, "sms") == texts
    assert stranger.get("/auth/two-factor").headers["Location"] == "/auth/login"
    assert signed_in_as(stranger) == "nobody"


def test_a_resend_kills_the_old_code_even_from_the_old_cookie(app, client, alice):
    password_login(client)
    before = session_cookie(app, client)
    old = code_in(last(app, "sms"))
    resend(client)
    assert code_in(last(app, "sms")) is not None
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], before)  # the cookie from before
    page = client.post("/auth/two-factor", data={"code": old, "csrf_token": csrf_token(client)})
    assert page.status_code == 200
    assert "expired or was used up" in page.get_data(as_text=True)
    assert signed_in_as(client) == "nobody"


def test_only_sign_ins_that_did_not_prove_the_mailbox_get_a_new_device_email(app):
    make_user(app)
    by_code, by_password = app.test_client(), app.test_client()
    request_login(by_code, "alice@example.com")
    submit_code(by_code, code_in(last(app, "email")))
    assert signed_in_as(by_code) == "alice@example.com"
    assert [m.template for m in app.extensions["passwordless"].outbox] == ["login"]
    password_login(by_password)
    assert signed_in_as(by_password) == "alice@example.com"
    assert last(app, "email").template == "new_device"


def test_the_old_code_typed_on_the_page_after_sign_out_everywhere_starts_over(app, alice):
    laptop, stranger = app.test_client(), app.test_client()
    password_login(laptop)
    pass_second_factor(app, laptop)
    password_login(stranger)
    code = code_in(last(app, "sms"))
    laptop.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    page = stranger.get("/auth/two-factor")  # drawn from the record: still shown
    assert page.status_code == 200
    data = {"code": code, "csrf_token": csrf_token(stranger)}
    assert stranger.post("/auth/two-factor", data=data).headers["Location"] == "/auth/login"
    assert signed_in_as(stranger) == "nobody"


@pytest.mark.parametrize("offers", ["sms", [1], {"sms": 1}, [None]])
def test_a_record_with_malformed_offers_is_no_step(app, client, alice, offers):
    password_login(client)
    with client.session_transaction() as session:
        session[PARTIAL] = {**session[PARTIAL], "offers": offers}
    assert client.get("/auth/two-factor").headers["Location"] == "/auth/login"
    assert signed_in_as(client) == "nobody"
