"""The twilio backend: the real twilio client talking HTTP to a local Twilio-compatible server."""

from __future__ import annotations

import logging

import pytest
from test_sms import ALICE_PHONE, add_phone, ask_sms, sign_in_by_email
from twilio_server import TwilioServer

from conftest import add_user, signed_in_as, submit_code


@pytest.fixture
def twilio():
    with TwilioServer() as server:
        yield server


def _twilio_app(make_app, server, **config):
    settings = {
        "PASSWORDLESS_SMS_BACKEND": "twilio",
        "PASSWORDLESS_TWILIO_ACCOUNT_SID": server.account_sid,
        "PASSWORDLESS_TWILIO_AUTH_TOKEN": server.auth_token,
        "PASSWORDLESS_TWILIO_FROM": "+15005550006",
        "PASSWORDLESS_TWILIO_BASE_URL": server.url,
        "PASSWORDLESS_TWILIO_TIMEOUT": 1,
    }
    settings.update(config)
    return make_app(**settings)


def test_sms_sign_in_goes_over_the_twilio_api(make_app, twilio):
    app = _twilio_app(make_app, twilio)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    client = app.test_client()
    ask_sms(client, "(415) 555-2671")
    [request] = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.user == twilio.account_sid
    assert request.form["To"] == ALICE_PHONE
    assert request.form["From"] == "+15005550006"
    body = request.form["Body"]
    code = body.rsplit("#", 1)[1]
    assert body.endswith(f"@app.example.com #{code}")
    assert submit_code(client, code).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_messaging_service_replaces_from(make_app, twilio):
    app = _twilio_app(make_app, twilio, PASSWORDLESS_TWILIO_MESSAGING_SERVICE_SID="MG" + "a" * 32)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    ask_sms(app.test_client(), ALICE_PHONE)
    form = twilio.requests[0].form
    assert form["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in form


def test_one_twilio_client_serves_every_message(make_app, twilio):
    app = _twilio_app(make_app, twilio)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    for _ in range(3):
        ask_sms(app.test_client(), ALICE_PHONE)
    assert len(twilio.messages) == 3
    first = app.extensions["passwordless"].twilio
    ask_sms(app.test_client(), ALICE_PHONE)
    assert app.extensions["passwordless"].twilio is first


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        (21211, "not valid"),
        (21614, "cannot receive text messages"),
        (21408, "that country"),
        (21610, "asked not to receive"),
        (30001, "try again in a few minutes"),
    ],
)
def test_twilio_errors_on_the_phone_page_are_clear_and_save_nothing(
    make_app, twilio, caplog, code, shown
):
    app = _twilio_app(make_app, twilio)
    add_user(app, "carol@example.com")
    client = app.test_client()
    app.config["PASSWORDLESS_MAIL_BACKEND"] = "memory"
    sign_in_by_email(app, client, "carol@example.com")
    twilio.fail_next(400, code, "refused")
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        page = add_phone(client, ALICE_PHONE)
    assert page.status_code == 200
    assert shown in page.get_data(as_text=True)
    assert f"Twilio error {code} (HTTP 400)" in caplog.text
    assert client.get("/auth/account/phone/verify").status_code == 302  # no code pending
    Secret = app.extensions["passwordless"].models.Secret
    with app.app_context():
        assert Secret.query.filter_by(purpose="phone", consumed_at=None).count() == 0


def test_wrong_credentials_are_logged_and_shown_as_our_fault(make_app, twilio, caplog):
    app = _twilio_app(make_app, twilio)
    twilio.fail_auth = True
    add_user(app, "carol@example.com")
    client = app.test_client()
    sign_in_by_email(app, client, "carol@example.com")
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        page = add_phone(client, ALICE_PHONE)
    assert "try again in a few minutes" in page.get_data(as_text=True)
    assert "Twilio error 20003 (HTTP 401)" in caplog.text
    assert twilio.auth_token not in caplog.text


def test_twilio_timeout_is_a_clear_message(make_app, twilio, caplog):
    app = _twilio_app(make_app, twilio, PASSWORDLESS_TWILIO_TIMEOUT=0.2)
    twilio.delay = 2
    add_user(app, "carol@example.com")
    client = app.test_client()
    sign_in_by_email(app, client, "carol@example.com")
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        page = add_phone(client, ALICE_PHONE)
    assert "try again in a few minutes" in page.get_data(as_text=True)
    assert "Twilio unreachable: ReadTimeout" in caplog.text


def test_twilio_failure_during_sms_sign_in_is_logged_not_a_500(make_app, twilio, caplog):
    app = _twilio_app(make_app, twilio)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    twilio.fail_next(500, 20500, "Internal Server Error")
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        response = ask_sms(app.test_client(), ALICE_PHONE)
    assert response.status_code == 302
    assert "Twilio error 20500" in caplog.text


def test_secrets_never_reach_the_log(make_app, twilio, caplog):
    app = _twilio_app(make_app, twilio)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    twilio.fail_next(400, 21211, "bad")
    with caplog.at_level(logging.DEBUG):
        ask_sms(app.test_client(), ALICE_PHONE)
    code = twilio.requests[0].form["Body"].rsplit("#", 1)[1]
    assert code not in caplog.text
