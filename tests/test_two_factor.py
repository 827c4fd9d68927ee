"""The second factor and remembered devices: no flow signs in without every factor."""

from __future__ import annotations

import pytest
from factors import (
    PHONE,
    count,
    last,
    make_user,
    pass_second_factor,
    password_login,
    sign_out,
)

from conftest import (
    auth_methods,
    code_in,
    confirm_link,
    csrf_token,
    request_login,
    signed_in_as,
    submit_code,
    token_in,
)
from flask_passwordless import device_remembered, device_revoked, user_logged_in
from flask_passwordless.user_agents import describe_user_agent

COOKIE = "passwordless_device"


@pytest.fixture
def app(make_app):
    """Many sign-ins in a row here: a roomy budget for second-step codes."""
    return make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute")


@pytest.fixture
def alice(app):
    return make_user(app, phone=PHONE, two_factor=True)


def device_cookie(client):
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def test_password_then_sms_code_signs_in(app, client, alice):
    response = password_login(client, next_url="/private")
    assert response.headers["Location"] == "/auth/two-factor"
    assert signed_in_as(client) == "nobody"
    assert client.get("/private").status_code == 302
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert "by text message" in page and "2671" in page and PHONE not in page
    assert last(app, "sms").to == PHONE
    assert pass_second_factor(app, client).headers["Location"] == "/private"
    assert signed_in_as(client) == "alice@example.com"
    assert auth_methods(app, client) == ["password", "sms"]


def test_email_is_a_second_factor_only_when_the_app_says_so(make_app):
    app = make_app(PASSWORDLESS_EMAIL_SECOND_FACTOR=True)
    make_user(app, two_factor=True)
    client = app.test_client()
    password_login(client)
    assert last(app, "email").template == "two_factor"
    assert pass_second_factor(app, client, "email").status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_without_email_as_a_second_factor_a_phoneless_two_step_account_is_told_why(app, client):
    make_user(app, two_factor=True)
    page = password_login(client)
    assert page.status_code == 400 and "no other way" in page.get_data(as_text=True)
    assert last(app, "email") is None
    assert signed_in_as(client) == "nobody"


def test_wrong_second_factor_code_keeps_the_user_out(app, client, alice):
    password_login(client)
    code = code_in(last(app, "sms"))
    data = {"code": f"{(int(code) + 1) % 1_000_000:06d}", "csrf_token": csrf_token(client)}
    page = client.post("/auth/two-factor", data=data)
    assert "not right" in page.get_data(as_text=True)
    assert signed_in_as(client) == "nobody"


def test_half_signed_in_state_expires(app, client, alice, clock):
    password_login(client)
    clock.advance(minutes=6)
    response = pass_second_factor(app, client)
    assert response.headers["Location"] == "/auth/login"
    assert signed_in_as(client) == "nobody"


def test_two_factor_page_without_a_first_factor_sends_to_sign_in(client):
    assert client.get("/auth/two-factor").headers["Location"] == "/auth/login"


def test_resend_gives_a_new_code_and_kills_the_old(app, client, alice):
    password_login(client)
    old = code_in(last(app, "sms"))
    client.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(client)})
    new = code_in(last(app, "sms"))
    data = {"code": old, "csrf_token": csrf_token(client)}
    if old != new:
        assert "not right" in client.post("/auth/two-factor", data=data).get_data(True)
    assert pass_second_factor(app, client).status_code == 302


def test_remembered_device_skips_the_second_factor(app, client, alice):
    remembered = []
    with device_remembered.connected_to(lambda s, **kw: remembered.append(kw["device"].id), app):
        password_login(client)
        pass_second_factor(app, client, remember=True)
    assert len(remembered) == 1
    sign_out(client)
    texts_before = count(app, "sms")
    response = password_login(client, next_url="/private")
    assert response.headers["Location"] == "/private"
    assert count(app, "sms") == texts_before
    assert auth_methods(app, client) == ["password", "device"]


def test_device_cookie_is_httponly_lax_and_long_lived(app, client, alice):
    password_login(client)
    response = pass_second_factor(app, client, remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Max-Age=2592000" in header  # 30 days
    assert "Secure" not in header  # the app does not say its cookies are secure


def test_secure_apps_get_a_host_prefixed_secure_cookie(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    # The session cookie is Secure now, so the test client must speak HTTPS.
    client.environ_base["wsgi.url_scheme"] = "https"
    password_login(client)
    response = pass_second_factor(app, client, remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if "device" in h)
    assert header.startswith(f"__Host-{COOKIE}=") and "Secure" in header


def test_device_cookie_survives_sign_out(app, client, alice):
    password_login(client)
    pass_second_factor(app, client, remember=True)
    sign_out(client)
    assert device_cookie(client)


def _remember(app, client):
    password_login(client)
    pass_second_factor(app, client, remember=True)
    sign_out(client)
    return device_cookie(client)


def _asks_second_factor(app, client) -> bool:
    return password_login(client).headers["Location"] == "/auth/two-factor"


def test_forged_or_tampered_cookies_never_skip(app, client, alice):
    value = _remember(app, client)
    for bad in [
        value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1],
        "garbage",
        "",
        "x" * 3000,
        value.split(".")[0] + ".AAAA.BBBB",
    ]:
        other = app.test_client()
        other.set_cookie(COOKIE, bad)
        assert _asks_second_factor(app, other), bad[:30]


def test_cookie_copied_to_another_browser_works_only_while_the_row_lives(app, client, alice):
    value = _remember(app, client)
    thief = app.test_client()
    thief.set_cookie(COOKIE, value)
    assert not _asks_second_factor(app, thief)  # a copied cookie is the device...
    sign_out(thief)
    assert client.get("/").status_code == 200
    password_login(client)
    revoked = []
    with device_revoked.connected_to(lambda s, **kw: revoked.append(kw["device"].id), app):
        client.post("/auth/account/devices/revoke-all", data={"csrf_token": csrf_token(client)})
    assert len(revoked) == 1
    assert _asks_second_factor(app, thief)  # ...until it is revoked


def test_expired_device_does_not_skip(app, client, alice, clock):
    _remember(app, client)
    clock.advance(days=31)
    assert _asks_second_factor(app, client)


def test_another_users_device_does_not_skip(app, alice):
    make_user(app, "bob@example.com", phone="+14155550100", two_factor=True)
    client = app.test_client()
    _remember(app, client)  # alice remembered this browser
    response = password_login(client, "bob@example.com")
    assert response.headers["Location"] == "/auth/two-factor"


def test_one_browser_remembers_several_accounts(app, alice):
    make_user(app, "bob@example.com", phone="+14155550100", two_factor=True)
    client = app.test_client()
    _remember(app, client)
    password_login(client, "bob@example.com")
    pass_second_factor(app, client, remember=True)
    sign_out(client)
    assert not _asks_second_factor(app, client)
    sign_out(client)
    assert password_login(client, "bob@example.com").headers["Location"] == "/"


def test_revoking_one_device_keeps_the_others(app, alice):
    laptop, phone = app.test_client(), app.test_client()
    _remember(app, laptop)
    _remember(app, phone)
    password_login(laptop)
    page = laptop.get("/auth/account/devices").get_data(as_text=True)
    assert page.count("Forget</button>") == 2 and "this device" in page
    state = app.extensions["passwordless"]
    with app.app_context():
        phone_row = max(state.models.Device.query.all(), key=lambda d: d.id)
    laptop.post(
        f"/auth/account/devices/{phone_row.id}/revoke", data={"csrf_token": csrf_token(laptop)}
    )
    sign_out(laptop)
    assert not _asks_second_factor(app, laptop)
    assert _asks_second_factor(app, phone)


def test_cannot_revoke_someone_elses_device(app, alice):
    make_user(app, "bob@example.com", phone="+14155550100", two_factor=True)
    alices = app.test_client()
    _remember(app, alices)
    bobs = app.test_client()
    password_login(bobs, "bob@example.com")
    pass_second_factor(app, bobs)
    with app.app_context():
        alice_device = app.extensions["passwordless"].models.Device.query.one()
    bobs.post(
        f"/auth/account/devices/{alice_device.id}/revoke", data={"csrf_token": csrf_token(bobs)}
    )
    assert not _asks_second_factor(app, alices)


def test_revoking_needs_a_recent_sign_in(app, client, alice, clock):
    password_login(client)
    pass_second_factor(app, client, remember=True)
    clock.advance(minutes=11)
    response = client.post(
        "/auth/account/devices/revoke-all", data={"csrf_token": csrf_token(client)}
    )
    assert response.headers["Location"].startswith("/auth/login?next=")
    sign_out(client)
    assert not _asks_second_factor(app, client)


def test_email_sign_in_needs_sms_second_factor_when_asked(make_app):
    app = make_app(PASSWORDLESS_TWO_FACTOR_FOR_PASSWORDLESS=True)
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    request_login(client, "alice@example.com")
    response = submit_code(client, code_in(last(app, "email")))
    assert response.headers["Location"] == "/auth/two-factor"
    assert signed_in_as(client) == "nobody"
    pass_second_factor(app, client, "sms")
    assert auth_methods(app, client) == ["email", "sms"]


def test_sms_sign_in_needs_email_second_factor_when_asked(make_app):
    app = make_app(
        PASSWORDLESS_TWO_FACTOR_FOR_PASSWORDLESS=True, PASSWORDLESS_EMAIL_SECOND_FACTOR=True
    )
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    client.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    submit_code(client, code_in(last(app, "sms")))
    assert signed_in_as(client) == "nobody"
    assert last(app, "email").template == "two_factor"
    pass_second_factor(app, client, "email")
    assert signed_in_as(client) == "alice@example.com"


def test_magic_link_also_needs_the_second_factor_when_asked(make_app):
    app = make_app(PASSWORDLESS_TWO_FACTOR_FOR_PASSWORDLESS=True)
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    request_login(app.test_client(), "alice@example.com")
    response = confirm_link(client, token_in(last(app, "email")))
    assert response.headers["Location"] == "/auth/two-factor"
    assert signed_in_as(client) == "nobody"


def test_passwordless_sign_in_skips_second_factor_by_default(app, client, alice):
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))
    assert signed_in_as(client) == "alice@example.com"


def test_new_device_email_after_password_sign_in(app, client):
    make_user(app)
    logins = []
    with user_logged_in.connected_to(lambda s, **kw: logins.append(kw["methods"]), app):
        password_login(client, next_url="/")
    notice = last(app, "email")
    assert notice.template == "new_device"
    assert logins == [["password"]]


def test_no_new_device_email_on_a_remembered_device(app, client, alice):
    _remember(app, client)
    emails_before = count(app, "email")
    password_login(client)
    assert count(app, "email") == emails_before


def test_two_factor_setting_page_turns_it_on_and_off(app, client):
    make_user(app, phone=PHONE)
    password_login(client)
    token = csrf_token(client)
    assert "is <strong>off</strong>" in client.get("/auth/account/two-factor").get_data(True)
    for _ in range(2):  # a double click turns it on, not on and off again
        client.post("/auth/account/two-factor", data={"enable": "1", "csrf_token": token})
    assert "is <strong>on</strong>" in client.get("/auth/account/two-factor").get_data(True)
    notices = [
        m for m in app.extensions["passwordless"].outbox if m.template == "two_factor_changed"
    ]
    assert len(notices) == 1 and "turned on" in notices[0].text
    sign_out(client)
    assert _asks_second_factor(app, client)
    pass_second_factor(app, client)
    client.post("/auth/account/two-factor", data={"enable": "0", "csrf_token": csrf_token(client)})
    sign_out(client)
    assert not _asks_second_factor(app, client)


def test_second_step_codes_have_a_budget_per_user(make_app):
    app = make_app()  # the default: 3 a minute
    make_user(app, phone=PHONE, two_factor=True)
    statuses = [password_login(app.test_client()).status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    assert count(app, "sms") == 3


def test_wrong_guesses_at_public_pages_never_block_the_second_step(app, alice):
    attacker = app.test_client()
    attacker.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": csrf_token(attacker)})
    for _ in range(5):
        submit_code(attacker, "000000" if code_in(last(app, "sms")) != "000000" else "111111")
    owner = app.test_client()
    password_login(owner)
    assert pass_second_factor(app, owner).status_code == 302


def test_right_password_does_not_reset_second_step_failures(app, alice):
    client = app.test_client()
    evaluated = 0
    for _ in range(4):
        password_login(client)
        code = code_in(last(app, "sms"))
        for _ in range(3):
            data = {"code": f"{(int(code) + 1) % 1_000_000:06d}", "csrf_token": csrf_token(client)}
            status = client.post("/auth/two-factor", data=data).status_code
            evaluated += status == 200
    assert evaluated <= 6  # 5 free failures (+1 that starts the wait), not 12


def test_newly_remembered_browser_still_gets_the_new_sign_in_notice(app, client, alice):
    password_login(client)
    pass_second_factor(app, client, remember=True)
    assert last(app, "email").template == "new_device"


def test_resend_does_not_extend_the_time_to_finish(app, client, alice, clock):
    password_login(client)
    clock.advance(minutes=4)
    client.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(client)})
    clock.advance(minutes=2)
    assert pass_second_factor(app, client).headers["Location"] == "/auth/login"


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("", "Unknown browser"),
        ("curl/8.5.0", "Unknown browser"),
    ],
)
def test_devices_get_readable_names(agent, name):
    assert describe_user_agent(agent) == name


def test_a_sign_in_elsewhere_does_not_void_this_browsers_code(app, alice):
    here, attacker = app.test_client(), app.test_client()
    password_login(here)
    mine = code_in(last(app, "sms"))
    password_login(attacker)
    data = {"code": mine, "csrf_token": csrf_token(here)}
    assert here.post("/auth/two-factor", data=data).status_code == 302
    assert signed_in_as(here) == "alice@example.com"


def test_a_used_up_second_factor_code_offers_a_new_one_on_the_page(app, client, alice):
    password_login(client)
    code = code_in(last(app, "sms"))
    wrong = {"code": f"{(int(code) + 1) % 1_000_000:06d}", "csrf_token": csrf_token(client)}
    for _ in range(4):
        assert "not right" in client.post("/auth/two-factor", data=wrong).get_data(True)
    page = client.post("/auth/two-factor", data=wrong)
    assert page.status_code == 200
    assert "Send yourself a new one" in page.get_data(as_text=True)
    client.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(client)})
    assert pass_second_factor(app, client).status_code == 302


def test_resend_after_the_phone_was_removed_elsewhere_offers_what_is_left(make_app):
    app = make_app(PASSWORDLESS_EMAIL_SECOND_FACTOR=True)
    alice = make_user(app, phone=PHONE, two_factor=True)
    here, elsewhere = app.test_client(), app.test_client()
    password_login(here)  # the code goes by text; then, in a signed-in browser:
    password_login(elsewhere)
    pass_second_factor(app, elsewhere)
    token = csrf_token(elsewhere)
    removed = elsewhere.post(
        "/auth/account/phone/remove", data={"csrf_token": token, "confirmed": "1"}
    )
    assert removed.status_code == 302
    with app.app_context():
        adapter = app.extensions["passwordless"].adapter
        assert adapter.find_by_email(alice.email).phone_number is None
    data = {"method": "sms", "csrf_token": csrf_token(here)}
    assert here.post("/auth/two-factor/resend", data=data).status_code == 302
    assert last(app, "email").template == "two_factor"  # the way that is left
    assert pass_second_factor(app, here, "email").status_code == 302
    assert signed_in_as(here) == "alice@example.com"


def test_resend_with_no_second_step_left_asks_to_sign_in_again(app, alice):
    password_login(client := app.test_client())
    with app.app_context():
        adapter = app.extensions["passwordless"].adapter
        adapter.set_phone(adapter.find_by_email(alice.email), None)
    data = {"method": "sms", "csrf_token": csrf_token(client)}
    response = client.post("/auth/two-factor/resend", data=data)
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/auth/two-factor").headers["Location"] == "/auth/login"
