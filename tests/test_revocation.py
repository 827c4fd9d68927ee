"""A password change and "sign out everywhere" end what was started before them."""

from __future__ import annotations

import pytest
from factors import PHONE, make_user, pass_second_factor, password_login, sign_out
from test_reset import ask_reset, reset_token, set_password
from test_sms import ask_sms, texts

from conftest import (
    code_in,
    confirm_link,
    csrf_token,
    request_login,
    signed_in_as,
    submit_code,
    token_in,
)
from flask_passwordless import device_revoked

NEW_PASSWORD = "another fine passphrase"


@pytest.fixture
def app(make_app):
    """Several messages to one address in a row: a roomy send budget."""
    return make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute")


def change_password(client, password=NEW_PASSWORD):
    data = {"password": password, "confirm": password, "csrf_token": csrf_token(client)}
    return client.post("/auth/account/password", data=data)


def sign_out_everywhere(client):
    return client.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(client)})


def email_sign_in_started_elsewhere(app):
    """Another browser asks for a sign-in email: its link's token and its code."""
    elsewhere = app.test_client()
    request_login(elsewhere, "alice@example.com")
    message = app.extensions["passwordless"].outbox[-1]
    return elsewhere, token_in(message), code_in(message)


def link_signs_in(app, token) -> bool:
    """Open the link in yet another browser and press its button."""
    browser = app.test_client()
    confirm_link(browser, token)
    return signed_in_as(browser) == "alice@example.com"


def test_a_reset_link_sent_before_a_password_change_is_dead_after_it(app, client):
    make_user(app)
    ask_reset(app.test_client())
    token = reset_token(app)
    password_login(client)
    assert change_password(client).status_code == 302
    response = set_password(app.test_client(), token, "a password from the old link")
    assert response.status_code == 400
    assert password_login(app.test_client(), password=NEW_PASSWORD).status_code == 302


def test_a_sign_in_link_and_code_sent_before_a_password_change_are_dead_after_it(app, client):
    make_user(app)
    elsewhere, link, code = email_sign_in_started_elsewhere(app)
    password_login(client)
    change_password(client)
    assert not link_signs_in(app, link)
    assert submit_code(elsewhere, code).status_code == 400
    assert signed_in_as(elsewhere) == "nobody"


def test_a_texted_code_sent_before_a_password_change_is_dead_after_it(app, client):
    make_user(app, phone=PHONE)
    elsewhere = app.test_client()
    ask_sms(elsewhere, PHONE)
    code = code_in(texts(app)[-1])
    password_login(client)
    change_password(client)
    assert submit_code(elsewhere, code).status_code == 400
    assert signed_in_as(elsewhere) == "nobody"


def test_a_password_change_forgets_remembered_devices_and_says_so(app):
    make_user(app, phone=PHONE, two_factor=True)
    laptop, desk = app.test_client(), app.test_client()
    for browser in (laptop, desk):
        password_login(browser)
        pass_second_factor(app, browser, remember=True)
    sign_out(desk)
    revoked = []
    with device_revoked.connected_to(lambda s, **kw: revoked.append(kw["device"].id), app):
        response = change_password(laptop)
    assert len(revoked) == 2
    page = laptop.get(response.headers["Location"]).get_data(as_text=True)
    assert "reset and sign-in links and codes sent before now no longer work" in page
    assert "Your 2 remembered devices were forgotten" in page
    assert signed_in_as(laptop) == "alice@example.com"  # this session carries on
    login = password_login(desk, password=NEW_PASSWORD)
    assert login.headers["Location"] == "/auth/two-factor"  # the device no longer skips


def test_a_password_change_without_remembered_devices_does_not_mention_them(app, client):
    make_user(app)
    password_login(client)
    page = client.get(change_password(client).headers["Location"]).get_data(as_text=True)
    assert "Your password was changed." in page and "remembered device" not in page


def test_sign_out_everywhere_retires_outstanding_links_and_codes(app, client):
    make_user(app, phone=PHONE)
    ask_reset(app.test_client())
    token = reset_token(app)
    elsewhere, link, code = email_sign_in_started_elsewhere(app)
    texting = app.test_client()
    ask_sms(texting, PHONE)
    text_code = code_in(texts(app)[-1])
    password_login(client)
    sign_out_everywhere(client)
    assert set_password(app.test_client(), token).status_code == 400
    assert not link_signs_in(app, link)
    assert submit_code(elsewhere, code).status_code == 400
    assert submit_code(texting, text_code).status_code == 400
    assert signed_in_as(elsewhere) == signed_in_as(texting) == "nobody"


def test_sign_out_everywhere_keeps_remembered_devices(app, client):
    """Devices are not sessions: each still needs the first factor. A password
    change, or the devices page, forgets them."""
    make_user(app, phone=PHONE, two_factor=True)
    password_login(client)
    pass_second_factor(app, client, remember=True)
    revoked = []
    with device_revoked.connected_to(lambda s, **kw: revoked.append(kw), app):
        sign_out_everywhere(client)
    assert revoked == []
    assert password_login(client).headers["Location"] == "/"
