"""Parallel guesses at the second step and at confirm-it-is-you are compared one at
a time: each failure counts before the next guess is looked at."""

from __future__ import annotations

from datetime import timezone

import pyotp
import pytest
from factors import PHONE, make_user, password_login

from conftest import code_in, csrf_token, race, submit_code
from flask_passwordless.authenticators import recovery, totp
from flask_passwordless.clock import utcnow

RACERS = 20


@pytest.fixture
def app(make_app):
    """Only the lockout decides (no rate limits), and it locks at the first failure."""
    return make_app(
        PASSWORDLESS_LIMITER_ENABLED=False,
        PASSWORDLESS_LOCKOUT_FREE_FAILURES=0,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": RACERS + 4},
    )


def give_app(app, user) -> str:
    """An authenticator app for ``user``; its secret."""
    secret = totp.new_secret()
    with app.app_context():
        key = app.extensions["passwordless"].adapter.key_of(user)
        store = app.extensions["passwordless"].authenticators
        store.add(key, totp.TYPE, totp.data_for(secret, key), now=utcnow())
    return secret


def code_now(secret: str) -> str:
    return pyotp.TOTP(secret).at(utcnow().replace(tzinfo=timezone.utc).timestamp())


def browsers_sharing(app, client) -> list:
    """Copies of one browser: its session cookie in ``RACERS`` clients."""
    cookie = client.get_cookie("session").value
    copies = []
    for _ in range(RACERS):
        copy = app.test_client()
        copy.set_cookie("session", cookie)
        copies.append(copy)
    return copies


def guessed(statuses) -> int:
    """Guesses that were compared (a wrong one re-renders the form: 200)."""
    return statuses.count(200)


def test_an_app_code_that_signed_in_is_refused_at_the_next_sign_in(app):
    user = make_user(app, two_factor=True)
    code = code_now(give_app(app, user))
    for expected in (302, 200):  # signed in; then the same code again: the form again
        client = app.test_client()
        password_login(client)
        data = {
            "code": code,
            "method": "totp",
            "csrf_token": csrf_token(client, "/auth/two-factor"),
        }
        assert client.post("/auth/two-factor", data=data).status_code == expected


def give_codes(app, user) -> list[str]:
    """A set of recovery codes for ``user``."""
    with app.app_context():
        key = app.extensions["passwordless"].adapter.key_of(user)
        return recovery.replace(app.extensions["passwordless"].authenticators, key, utcnow())


@pytest.mark.parametrize("method", ["totp", "recovery"])
def test_one_code_sent_by_many_browsers_at_once_signs_in_exactly_one(app, method):
    """The hold and the code's use (the app's time step, the recovery code) commit in
    one transaction: browsers are let through one at a time, and only the first
    finds the code unused."""
    user = make_user(app, two_factor=True)
    code = code_now(give_app(app, user)) if method == "totp" else give_codes(app, user)[0]
    client = app.test_client()
    password_login(client)
    token = csrf_token(client, "/auth/two-factor")
    browsers = browsers_sharing(app, client)
    data = {"code": code, "method": method, "csrf_token": token}
    statuses = race(
        [
            lambda browser=browser: browser.post("/auth/two-factor", data=data).status_code
            for browser in browsers
        ]
    )
    assert statuses.count(302) == 1, statuses
    assert [b.get("/private").status_code for b in browsers].count(200) == 1


SECOND_STEP_GUESSES = {
    "totp": (give_app, lambda n: f"{n:06d}"),
    "recovery": (give_codes, lambda n: f"AAAA-BBBB-CCCC-{n:04d}"),
}


@pytest.mark.parametrize("method", sorted(SECOND_STEP_GUESSES))
def test_parallel_guesses_at_the_second_step_are_counted_one_by_one(app, method):
    give, guess = SECOND_STEP_GUESSES[method]
    give(app, make_user(app, two_factor=True))
    client = app.test_client()
    password_login(client)
    token = csrf_token(client, "/auth/two-factor")
    jobs = [
        lambda browser=browser, n=n: (
            browser.post(
                "/auth/two-factor", data={"code": guess(n), "method": method, "csrf_token": token}
            ).status_code
        )
        for n, browser in enumerate(browsers_sharing(app, client))
    ]
    statuses = race(jobs)
    assert guessed(statuses) == 1, statuses
    assert statuses.count(429) == RACERS - 1


GUESSES_AT_CONFIRM = {
    "totp": ("code", lambda n: f"{n:06d}"),
    "password": ("password", lambda n: f"guess {n}"),
}


@pytest.mark.parametrize("method", sorted(GUESSES_AT_CONFIRM))
def test_parallel_guesses_at_confirm_are_counted_one_by_one(app, method):
    """Confirm-it-is-you checks as the second step does (for an app's code, one
    transaction for the hold and the time step): parallel guesses are still
    compared one by one."""
    user = make_user(app, phone=PHONE, two_factor=True)
    if method == "totp":
        give_app(app, user)
    client = app.test_client()
    client.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    outbox = app.extensions["passwordless"].outbox
    submit_code(client, code_in([m for m in outbox if m.channel == "sms"][-1]))
    page = "/auth/confirm?next=/auth/account/two-factor"
    token = csrf_token(client, page)
    field, guess = GUESSES_AT_CONFIRM[method]
    jobs = [
        lambda browser=browser, n=n: (
            browser.post(
                page, data={field: guess(n), "method": method, "csrf_token": token}
            ).status_code
        )
        for n, browser in enumerate(browsers_sharing(app, client))
    ]
    statuses = race(jobs)
    assert guessed(statuses) == 1, statuses


def test_passing_one_method_never_clears_the_wrong_guesses_at_another(make_app, clock):
    """Someone holding the phone cannot pass its texted code now and then to wipe
    the count of their wrong guesses at the app's codes."""
    from factors import last, pass_second_factor, sign_out

    app = make_app(PASSWORDLESS_LOCKOUT_FREE_FAILURES=3)
    user = make_user(app, phone=PHONE, two_factor=True)
    give_app(app, user)
    client = app.test_client()

    def wrong_app_code():
        data = {"code": "000000", "method": "totp", "csrf_token": csrf_token(client)}
        return client.post("/auth/two-factor", data=data).status_code

    password_login(client)
    assert [wrong_app_code() for _ in range(3)] == [200, 200, 200]  # free failures
    client.post("/auth/two-factor/resend", data={"method": "sms", "csrf_token": csrf_token(client)})
    assert last(app, "sms") is not None
    assert pass_second_factor(app, client).status_code == 302  # the phone passes
    sign_out(client)
    password_login(client)
    assert wrong_app_code() == 200  # the fourth failure at the app: a wait begins
    assert wrong_app_code() == 429


def test_confirm_posts_without_a_step_spend_only_their_own_accounts_budget(make_app):
    app = make_app(PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="2/minute")
    make_user(app, phone=PHONE, two_factor=True)
    make_user(app, "bob@example.com", phone="+14155550123", two_factor=True)
    alice, bob = app.test_client(), app.test_client()
    for browser, phone in ((alice, PHONE), (bob, "+14155550123")):
        browser.post("/auth/login/sms", data={"phone": phone, "csrf_token": csrf_token(browser)})
        outbox = app.extensions["passwordless"].outbox
        submit_code(browser, code_in([m for m in outbox if m.to == phone][-1]))
    page = "/auth/confirm?next=/auth/account/two-factor"
    token = csrf_token(bob, page)
    for _ in range(3):
        with bob.session_transaction() as session:
            session.pop("_passwordless_partial", None)  # no step yet, each time
        bob.post(page, data={"method": "password", "password": "x", "csrf_token": token})
    token = csrf_token(alice, page)
    with alice.session_transaction() as session:
        session.pop("_passwordless_partial", None)
    data = {"method": "password", "password": "x", "csrf_token": token}
    assert alice.post(page, data=data).status_code == 200  # her own budget is whole
