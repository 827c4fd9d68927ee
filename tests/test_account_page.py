"""The account page: every part of the account, each with its page, from the registry."""

from __future__ import annotations

import re

from factors import PHONE, make_user, password_login
from test_query_counts import statements

from conftest import csrf_token
from flask_passwordless import AuthenticatorType, Passwordless
from flask_passwordless.authenticators import recovery
from flask_passwordless.clock import utcnow


def page_of(client) -> str:
    response = client.get("/auth/account")
    assert response.status_code == 200
    return " ".join(response.get_data(as_text=True).split())


def entry(page: str, label: str) -> str:
    """What the page says beside ``label``'s link."""
    found = re.search(rf'<dt><a href="([^"]+)">{label}</a></dt> <dd>([^<]*)</dd>', page)
    assert found, f"{label} is not on the page"
    return f"{found.group(1)} {found.group(2)}"


def add_recovery_codes(app, user, used=0):
    with app.test_request_context():
        state = app.extensions["passwordless"]
        key = state.adapter.key_of(user)
        codes = recovery.replace(state.authenticators, key, utcnow())
        for code in codes[:used]:
            assert recovery.use(state.authenticators, key, code, utcnow())


def test_the_page_shows_every_part_of_the_account_with_its_link(app, client):
    user = make_user(app, phone=PHONE, two_factor=True)
    add_recovery_codes(app, user, used=3)
    password_login(client)
    client.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(client)})
    from factors import pass_second_factor

    pass_second_factor(app, client)
    page = page_of(client)
    assert entry(page, "Email") == "/auth/account/email alice@example.com"
    assert entry(page, "Text message") == "/auth/account/phone +1 415-555-2671"
    assert entry(page, "Password") == "/auth/account/password Set"
    assert entry(page, "Authenticator app") == "/auth/account/totp Not set up"
    assert entry(page, "Recovery code") == "/auth/account/recovery-codes 7 recovery codes left"
    assert "Two-step sign-in is <strong>on</strong>" in page
    assert "Your second steps: Text message." in page
    assert 'href="/auth/account/two-factor"' in page
    assert "1 browser signed in" in page and 'href="/auth/account/sessions"' in page
    assert "0 devices skip the second step" in page and 'href="/auth/account/devices"' in page


def test_a_second_browser_and_a_remembered_device_are_counted(app):
    make_user(app, phone=PHONE, two_factor=True)
    from factors import pass_second_factor

    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        password_login(browser)
        browser.post("/auth/two-factor/resend", data={"csrf_token": csrf_token(browser)})
        pass_second_factor(app, browser, remember=True)
    page = page_of(second)
    assert "2 browsers signed in" in page
    assert "2 devices skip the second step" in page


def test_what_the_app_has_switched_off_is_not_listed(make_app):
    app = make_app(PASSWORDLESS_PASSWORD_LOGIN=False, PASSWORDLESS_SMS_ENABLED=False)
    make_user(app, password=None)
    client = app.test_client()
    from conftest import code_in, request_login, submit_code

    request_login(client, "alice@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    page = page_of(client)
    assert "alice@example.com" in page
    assert ">Password</a>" not in page and ">Text message</a>" not in page
    assert "Two-step sign-in is <strong>off</strong>" in page


class BadgeType(AuthenticatorType):
    """A host's own type with its own page: listed with no change to the page."""

    name = "badge"
    label = "Office badge"
    manage_endpoint = "badges"

    def is_second(self):
        return True

    def enrolled(self, user):
        return True

    def summary(self, user):
        return "2 badges"


def test_a_hosts_own_type_is_listed_from_the_registry(app, client):
    app.add_url_rule("/badges", "badges", lambda: "badges")
    Passwordless.register_authenticator(app, BadgeType())
    make_user(app)
    password_login(client)
    assert entry(page_of(client), "Office badge") == "/badges 2 badges"


def test_the_page_costs_the_same_statements_whatever_the_account_holds(make_app):
    """No N+1: more devices, sessions and codes add rows, never statements."""
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False)
    counts = []
    for email, browsers in (("few@example.com", 1), ("many@example.com", 4)):
        user = make_user(app, email, phone=PHONE if browsers > 1 else None)
        add_recovery_codes(app, user)
        clients = [app.test_client() for _ in range(browsers)]
        for browser in clients:
            password_login(browser, email)
        page_of(clients[-1])  # warm
        with statements(app) as seen:
            page_of(clients[-1])
        counts.append(len(seen))
    assert counts[0] == counts[1]
    assert counts[0] <= 4  # user and session, authenticators, devices, sessions


def test_the_other_account_pages_link_back_to_it(app, client):
    make_user(app)
    password_login(client)
    for path in (
        "/auth/account/email",
        "/auth/account/phone",
        "/auth/account/password",
        "/auth/account/two-factor",
        "/auth/account/devices",
        "/auth/account/sessions",
        "/auth/account/totp",
        "/auth/account/recovery-codes",
    ):
        assert 'href="/auth/account"' in client.get(path).get_data(as_text=True), path
