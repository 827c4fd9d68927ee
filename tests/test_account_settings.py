"""Each account page says what will really happen with the app's settings.

For every combination of password sign-in, two-step after email/SMS sign-in and
SMS, the two-step page promises a second step after exactly the sign-ins that
ask for one, and the next sign-in does what the page said. The password page
exists only where a password can be used.
"""

from __future__ import annotations

import re

import pytest
from factors import last, make_user, password_login
from test_wording import words

from conftest import code_in, csrf_token, request_login, submit_code

PHONE = "+14155552671"
SETTINGS = [
    pytest.param(password, passwordless, sms, id=f"password={password}-fp={passwordless}-sms={sms}")
    for password in (False, True)
    for passwordless in (False, True)
    for sms in (False, True)
]


def app_with(make_app, password, passwordless, sms):
    return make_app(
        PASSWORDLESS_PASSWORD_LOGIN=password,
        PASSWORDLESS_TWO_FACTOR_FOR_PASSWORDLESS=passwordless,
        PASSWORDLESS_SMS_ENABLED=sms,
    )


def email_sign_in(app, client):
    request_login(client, "alice@example.com")
    return submit_code(client, code_in(last(app, "email")))


def promised(page: str) -> set[str]:
    """The sign-ins the page says ask for a second step."""
    found = re.search(r"sign in with (.+?), (?:we also ask|and before)", page)
    if not found:
        return set()
    return set(re.split(r",? or |, ", found.group(1)))  # CLDR English: "A, B, or C"


@pytest.mark.parametrize(("password", "passwordless", "sms"), SETTINGS)
def test_the_two_step_page_promises_only_what_the_next_sign_in_does(
    make_app, password, passwordless, sms
):
    app = app_with(make_app, password, passwordless, sms)
    make_user(app, phone=PHONE, two_factor=False)
    client = app.test_client()
    email_sign_in(app, client)
    off = words(client.get("/auth/account/two-factor").get_data(as_text=True))
    expected = set()
    if password:
        expected |= {"your password", "a password reset link"}
    if passwordless:
        expected |= {"an email"} | ({"a text message"} if sms else set())
    assert promised(off) == expected
    assert "changes to your account's security" in off.lower()
    if not sms:  # no second step to turn on with (the phone is the test's one)
        return
    token = csrf_token(client, "/auth/account/two-factor")
    client.post("/auth/account/two-factor", data={"enable": "1", "csrf_token": token})
    on = words(client.get("/auth/account/two-factor").get_data(as_text=True))
    assert "Two-step sign-in is on" in on
    assert "after your password, a code sent by email" not in on
    assert promised(on) == expected
    if not expected:
        assert "asks for nothing more on this site" in on
    assert "changes to your account's security" in on.lower()

    # What the next sign-in really does, in a fresh browser:
    by_email = app.test_client()
    asked = email_sign_in(app, by_email).headers["Location"]
    assert (asked == "/auth/two-factor") is ("an email" in expected)
    if password:
        by_password = app.test_client()
        assert password_login(by_password).headers["Location"] == "/auth/two-factor"


@pytest.mark.parametrize(("password", "passwordless", "sms"), SETTINGS)
def test_the_password_page_exists_only_where_a_password_signs_in(
    make_app, password, passwordless, sms
):
    app = app_with(make_app, password, passwordless, sms)
    make_user(app, password=None)
    client = app.test_client()
    email_sign_in(app, client)
    page = client.get("/auth/account/password")
    if password:
        assert page.status_code == 200
        assert "Set a password" in page.get_data(as_text=True)
    else:
        assert page.status_code == 404
        assert "Page not found" in page.get_data(as_text=True)
        token = csrf_token(client)
        data = {"password": "a horse, a staple", "confirm": "a horse, a staple"}
        saved = client.post("/auth/account/password", data={**data, "csrf_token": token})
        assert saved.status_code == 404
        with app.app_context():
            adapter = app.extensions["passwordless"].adapter
            assert adapter.password_hash_of(adapter.find_by_email("alice@example.com")) is None


@pytest.mark.parametrize(("password", "passwordless", "sms"), SETTINGS)
def test_the_phone_page_is_there_only_with_sms(make_app, password, passwordless, sms):
    app = app_with(make_app, password, passwordless, sms)
    make_user(app)
    client = app.test_client()
    email_sign_in(app, client)
    assert client.get("/auth/account/phone").status_code == (200 if sms else 404)
    two_step = client.get("/auth/account/two-factor").get_data(as_text=True)
    assert ("verified phone number" in two_step) is sms
