"""Abuse resistance: brute force, email bombing, lockout, SMS cost, audit, warnings."""

from __future__ import annotations

import logging
import time

import pytest
from factors import PHONE, last, make_user, password_login
from flask import Flask

from apps import User, db
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
from flask_passwordless import UserAdapter, login_locked
from flask_passwordless.config import config_problems, defaults
from flask_passwordless.failures import delay_after


@pytest.fixture
def database_url(tmp_path):
    """These loops are about limits, not databases: SQLite only."""
    return f"sqlite:///{tmp_path / 'abuse.db'}"


def test_ten_thousand_code_guesses_never_get_in(app, clock):
    make_user(app)
    attacker = app.test_client()
    request_login(attacker, "alice@example.com")
    right = code_in(last(app, "email"))
    outcomes, started = [], time.monotonic()
    for n in range(10_000):
        if time.monotonic() - started > 60:
            break
        guess = right if n % 100 == 99 else f"{(int(right) + n + 1) % 1_000_000:06d}"
        response = attacker.post(
            "/auth/login/code", data={"code": guess, "csrf_token": csrf_token(attacker)}
        )
        outcomes.append(response.status_code)
        if response.status_code == 302 and response.headers["Location"] == "/auth/login":
            request_login(attacker, "alice@example.com")  # the row died: ask again
    assert signed_in_as(attacker) == "nobody"
    assert len(outcomes) >= 1000, "the loop was cut short"
    evaluated = outcomes.count(200) + outcomes.count(400)
    print(f"{len(outcomes)} guesses, {evaluated} evaluated, {outcomes.count(429)} refused (429)")
    assert evaluated <= 10
    assert outcomes[-1] == 429


def test_a_hundred_requests_for_one_address_send_three_emails(app):
    make_user(app)
    statuses = [
        request_login(app.test_client(), "alice@example.com").status_code for _ in range(100)
    ]
    emails = app.extensions["passwordless"].outbox
    assert len(emails) == 3
    assert statuses.count(302) == 3 and statuses.count(429) == 97


def test_one_ip_cannot_bomb_many_addresses(app):
    client = app.test_client()
    statuses = [request_login(client, f"victim{n}@example.com").status_code for n in range(40)]
    assert statuses.count(302) == 20


def test_lockout_survives_new_codes_and_success_resets_it(make_app, clock):
    app = make_app(PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="1000/minute")
    make_user(app)
    client = app.test_client()
    for wrong_tries in (3, 2):  # two codes, five failures in all
        request_login(client, "alice@example.com")
        code = code_in(last(app, "email"))
        for _ in range(wrong_tries):
            submit_code(client, f"{(int(code) + 1) % 1_000_000:06d}")
    request_login(client, "alice@example.com")  # a new code does not reset the count
    code = code_in(last(app, "email"))
    submit_code(client, f"{(int(code) + 1) % 1_000_000:06d}")  # sixth failure: wait 1 s
    locked = submit_code(client, code)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "2" or int(locked.headers["Retry-After"]) <= 2
    assert "too many wrong tries" in locked.get_data(as_text=True).lower()
    clock.advance(seconds=2)
    assert submit_code(client, code).status_code == 302  # right code after the wait
    with app.app_context():
        assert app.extensions["passwordless"].models.Failure.query.count() == 0


def test_sign_in_link_works_while_codes_are_locked(make_app, clock):
    app = make_app(PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="1000/minute")
    make_user(app)
    attacker = app.test_client()
    for _ in range(2):
        request_login(attacker, "alice@example.com")
        code = code_in(last(app, "email"))
        for _ in range(5):
            submit_code(attacker, f"{(int(code) + 1) % 1_000_000:06d}")
    owner = app.test_client()
    request_login(owner, "alice@example.com")
    assert submit_code(owner, code_in(last(app, "email"))).status_code == 429
    assert confirm_link(owner, token_in(last(app, "email"))).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


@pytest.mark.parametrize("lookups", ["stock", "own"])
def test_password_guessing_is_locked_for_unknown_emails_too(make_app, clock, lookups):
    """The lockout row comes with the user in one read (stock lookups) or apart (an
    adapter's own ``find_by_email``): either way a locked address refuses even the
    right password until its wait is over."""
    app = make_app(PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="1000/minute")
    if lookups == "own":

        class OwnLookup(UserAdapter):
            def find_by_email(self, email):
                return db.session.execute(db.select(User).filter_by(email=email)).scalar()

        app.extensions["passwordless"].adapter = OwnLookup(db, User)
    make_user(app)
    for email in ("alice@example.com", "nobody@example.com"):
        client = app.test_client()
        statuses = [password_login(client, email, "wrong guess!").status_code for _ in range(8)]
        assert statuses[:6] == [200] * 6 and statuses[6:] == [429, 429], email
    assert password_login(app.test_client(), "alice@example.com").status_code == 429
    clock.advance(seconds=3)
    assert password_login(app.test_client(), "alice@example.com").status_code == 302


def test_delays_double_then_cap_then_stop_at_one_hundred(app):
    with app.app_context():
        waits = [delay_after(n).total_seconds() for n in (1, 5, 6, 7, 8, 12, 20, 99, 100)]
    assert waits == [0, 0, 1, 2, 4, 64, 900, 900, 86400]


def test_hundredth_failure_signals_a_lockout_and_a_quiet_day_forgives(app, clock):
    make_user(app)
    state = app.extensions["passwordless"]
    locked = []
    with (
        app.test_request_context(),
        login_locked.connected_to(lambda s, **kw: locked.append(kw["failures"]), app),
    ):
        for _ in range(100):
            state.failures.record("alice@example.com")
        assert locked == [100]
        clock.advance(hours=23)
        with pytest.raises(Exception, match="too many wrong tries"):
            state.failures.check_allowed("alice@example.com")
        clock.advance(hours=1, seconds=1)
        state.failures.check_allowed("alice@example.com")
        assert state.failures.record("alice@example.com") == 1


def test_failed_check_limit_counts_only_failures(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="3/minute",
        PASSWORDLESS_LOCKOUT_FREE_FAILURES=1000,
    )
    make_user(app)
    client = app.test_client()
    for _ in range(3):  # successes are never counted
        request_login(client, "alice@example.com")
        assert submit_code(client, code_in(last(app, "email"))).status_code == 302
    other = app.test_client()
    password_login(other, password="wrong one!")
    password_login(other, password="wrong two!")
    password_login(other, password="wrong three!")
    assert password_login(other).status_code == 429  # even the right password, now


def _spy_on_limiter_hooks(monkeypatch):
    """Record the path of every request whose Limiter before and teardown hooks run
    (patched on the class before the app is built, so the hooks it registers are these)."""
    from flask import request
    from flask_limiter import Limiter

    seen = {"before": [], "teardown": []}
    before, teardown = Limiter._check_request_limit, Limiter._Limiter__release_context

    def spy_before(self, *args, **kwargs):
        seen["before"].append(request.path)
        return before(self, *args, **kwargs)

    def spy_teardown(self, *args, **kwargs):
        seen["teardown"].append(request.path)
        return teardown(self, *args, **kwargs)

    monkeypatch.setattr(Limiter, "_check_request_limit", spy_before)
    monkeypatch.setattr(Limiter, "_Limiter__release_context", spy_teardown)
    return seen


def test_created_limiter_runs_its_hooks_on_the_extensions_pages_only(make_app, monkeypatch):
    seen = _spy_on_limiter_hooks(monkeypatch)
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="2/minute")
    make_user(app)
    client = app.test_client()
    request_login(client, "alice@example.com")
    assert submit_code(client, code_in(last(app, "email"))).status_code == 302
    assert client.get("/private").status_code == 200
    assert client.get("/").status_code == 200
    host_pages = {"/", "/private"}
    assert seen["before"] and seen["teardown"]
    assert not host_pages & set(seen["before"]) and not host_pages & set(seen["teardown"])
    # ... and its limits still hold there.
    other = app.test_client()
    request_login(other, "bob@example.com")
    assert request_login(other, "carol@example.com").status_code == 429


def test_limits_for_the_whole_app_keep_the_limiters_hooks_app_wide(make_app, monkeypatch):
    seen = _spy_on_limiter_hooks(monkeypatch)
    app = make_app(RATELIMIT_DEFAULT="3/minute")
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "/" in seen["before"]


def test_daily_sms_cap_stops_texts_without_changing_the_page(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT=2, RATELIMIT_STORAGE_URI="memory://")
    make_user(app, phone=PHONE)
    pages = []
    for _ in range(3):
        client = app.test_client()
        data = {"phone": PHONE, "csrf_token": csrf_token(client)}
        response = client.post("/auth/login/sms", data=data)
        pages.append((response.status_code, response.headers["Location"]))
    texts = [m for m in app.extensions["passwordless"].outbox if m.channel == "sms"]
    assert len(texts) == 2
    assert len(set(pages)) == 1


def test_daily_sms_cap_is_a_clear_message_on_the_phone_page(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT=1)
    make_user(app)
    client = app.test_client()
    password_login(client)
    for number, expected in [(PHONE, 302), ("+14155550100", 200)]:
        data = {"phone": number, "csrf_token": csrf_token(client)}
        response = client.post("/auth/account/phone", data=data)
        assert response.status_code == expected
    assert "cannot send text messages right now" in response.get_data(as_text=True)


def test_audit_log_records_events_without_secrets(app, client, caplog):
    make_user(app)
    with caplog.at_level(logging.INFO, logger="flask_passwordless.audit"):
        request_login(client, "alice@example.com")
        message = last(app, "email")
        submit_code(client, "000000" if code_in(message) != "000000" else "000001")
        submit_code(client, code_in(message))
    text = caplog.text
    assert "event=login_link_sent" in text and "event=login_failed" in text
    assert "event=user_logged_in" in text and "method=email" in text and "user=1" in text
    assert "ip=127.0.0.1" in text
    assert code_in(message) not in text and token_in(message) not in text
    assert "alice@example.com" not in text


def _production_app(**config):
    app = Flask("prod")
    app.config.update(defaults(), **config)
    return app


def test_start_up_warns_about_insecure_production_settings():
    problems = " ".join(config_problems(_production_app()))
    for expected in ("PASSWORDLESS_BASE_URL", "SESSION_COOKIE_SECURE", "SAMESITE", "memory"):
        assert expected in problems
    safe = _production_app(
        SECRET_KEY="a long random production secret key",
        PASSWORDLESS_BASE_URL="https://example.com",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379",
    )
    assert config_problems(safe) == []


def test_warnings_are_logged_when_the_app_first_serves(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        app = make_app(PASSWORDLESS_BASE_URL=None)
        assert "set PASSWORDLESS_BASE_URL" not in caplog.text  # not by every `flask` command
        app.test_client().get("/auth/login")
    assert "set PASSWORDLESS_BASE_URL" in caplog.text


def test_sms_and_password_pages_do_not_enumerate(app):
    make_user(app, phone=PHONE)

    def normalised(response, needle):
        body = CSRF_FIELD.sub("", response.get_data(as_text=True)).replace(needle, "X")
        return response.status_code, response.headers.get("Location"), body

    def sms(number):
        client = app.test_client()
        data = {"phone": number, "csrf_token": csrf_token(client)}
        first = client.post("/auth/login/sms", data=data)
        return normalised(first, number), normalised(client.get("/auth/login/code"), "")

    known, unknown = sms(PHONE), sms("+14155550123")
    assert known[0] == unknown[0]
    assert known[1][0] == unknown[1][0] == 200
