"""Known and unknown addresses and numbers cost the same work before the answer.

Timing is the symptom; the work is the cause. So these tests pin the work
itself, as tests/test_query_counts.py does for cost: for an identifier with
an account and one without, each sign-in page runs the same SQL statements (their
texts, in order), renders the same page templates, delivers no message in
band (whatever goes out goes on the background queue, after the answer), and
for passwords checks a hash of the same method and cost. Median timings on a
shared machine were flaky; one is still printed, for information only.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from factors import PHONE, make_user
from flask import has_request_context, template_rendered
from test_query_counts import statements

import flask_passwordless.passwords as passwords
from conftest import csrf_token

KNOWN_EMAIL, UNKNOWN_EMAIL = "alice@example.com", "nobody@example.com"
UNKNOWN_PHONE = "+14155550123"


@dataclass
class Work:
    """What one request did before and after its answer."""

    statements: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    in_band: list[str] = field(default_factory=list)  # delivered during the request
    queued: list[str] = field(default_factory=list)  # delivered after it, off the request
    hashes_checked: list[str] = field(default_factory=list)

    def before_the_answer(self) -> tuple:
        return self.statements, self.pages, self.in_band, self.hashes_checked


class Recorder:
    """A message backend that notes whether a message left during the request."""

    def __init__(self) -> None:
        self.work: Work | None = None

    def __call__(self, message) -> None:
        if self.work is not None:
            where = self.work.in_band if has_request_context() else self.work.queued
            where.append(message.channel)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def app(make_app, recorder):
    app = make_app(
        PASSWORDLESS_MAIL_BACKEND=recorder,
        PASSWORDLESS_SMS_BACKEND=recorder,
        PASSWORDLESS_LIMITER_ENABLED=False,
    )
    make_user(app, KNOWN_EMAIL, phone=PHONE)
    make_user(app, "warm@example.com")
    return app


@pytest.fixture
def observe(app, recorder, monkeypatch):
    """``with observe() as work:`` records the Work of the requests inside."""
    checked = passwords.check_password_hash

    @contextmanager
    def observing():
        work = Work()

        def page(_sender, template, context, **_extra):
            work.pages.append(template.name)

        def check(password_hash, password):
            work.hashes_checked.append(password_hash.split("$", 1)[0])  # method and cost
            return checked(password_hash, password)

        monkeypatch.setattr(passwords, "check_password_hash", check)
        recorder.work = work
        try:
            with statements(app) as work.statements, template_rendered.connected_to(page, app):
                yield work
        finally:
            recorder.work = None
            monkeypatch.setattr(passwords, "check_password_hash", checked)

    return observing


def compare(observe, app, attempt, known, unknown, warm):
    """The Work of ``attempt`` for ``known`` and ``unknown``, each from a new browser,
    after one unobserved ``warm`` attempt (first-use costs are not the question)."""
    attempt(app.test_client(), warm)
    results = []
    for identifier in (known, unknown):
        client = app.test_client()
        token = csrf_token(client)
        with observe() as work:
            attempt(client, identifier, token)
        results.append(work)
    return results


def email_login(client, email, token=None):
    token = token or csrf_token(client)
    sent = client.post("/auth/login", data={"email": email, "csrf_token": token})
    assert sent.headers["Location"] == "/auth/login/code"
    assert client.get("/auth/login/code").status_code == 200


def reset(client, email, token=None):
    token = token or csrf_token(client)
    sent = client.post("/auth/reset", data={"email": email, "csrf_token": token})
    assert sent.headers["Location"] == "/auth/reset/sent"
    assert client.get("/auth/reset/sent").status_code == 200


def sms_login(client, phone, token=None):
    token = token or csrf_token(client)
    sent = client.post("/auth/login/sms", data={"phone": phone, "csrf_token": token})
    assert sent.headers["Location"] == "/auth/login/code"
    assert client.get("/auth/login/code").status_code == 200


def wrong_password(client, email, token=None):
    token = token or csrf_token(client)
    data = {"email": email, "password": "not the password", "csrf_token": token}
    page = client.post("/auth/login/password", data=data)
    assert page.status_code == 200
    assert "do not match" in page.get_data(as_text=True)


def test_email_sign_in_does_the_same_work_for_unknown_addresses(observe, app):
    known, unknown = compare(
        observe, app, email_login, KNOWN_EMAIL, UNKNOWN_EMAIL, "warm@example.com"
    )
    assert known.statements and known.pages == ["passwordless/code.html"]
    assert known.before_the_answer() == unknown.before_the_answer()
    assert known.in_band == []
    # Both get an email (a link, or "no account here"), after the answer.
    assert known.queued == unknown.queued == ["email"]


def test_reset_does_the_same_work_for_unknown_addresses(observe, app):
    known, unknown = compare(observe, app, reset, KNOWN_EMAIL, UNKNOWN_EMAIL, "warm@example.com")
    assert known.statements and known.pages == ["passwordless/reset_sent.html"]
    assert known.before_the_answer() == unknown.before_the_answer()
    assert known.in_band == []
    assert known.queued == unknown.queued == ["email"]


def test_sms_sign_in_does_the_same_work_for_unknown_numbers(observe, app):
    known, unknown = compare(observe, app, sms_login, PHONE, UNKNOWN_PHONE, "+14155550199")
    assert known.statements and known.pages == ["passwordless/code.html"]
    assert known.before_the_answer() == unknown.before_the_answer()
    assert known.in_band == []
    # Only an account's number gets a text; it leaves after the answer.
    assert (known.queued, unknown.queued) == (["sms"], [])


def test_wrong_email_does_the_same_work_as_wrong_password(observe, app):
    known, unknown = compare(
        observe, app, wrong_password, KNOWN_EMAIL, UNKNOWN_EMAIL, "warm@example.com"
    )
    assert known.statements and known.pages == ["passwordless/password_login.html"]
    assert known.before_the_answer() == unknown.before_the_answer()
    # One hash checked each time, of the configured method and cost.
    assert known.hashes_checked == ["scrypt:1024:8:1"]
    assert known.queued == unknown.queued == []


def test_wrong_email_and_wrong_password_timings_are_printed(make_app):
    """Information only (a shared machine makes timings noisy): no assertion."""
    app = make_app(
        PASSWORDLESS_PASSWORD_HASH="scrypt:16384:8:1",
        PASSWORDLESS_LIMITER_ENABLED=False,
        PASSWORDLESS_LOCKOUT_FREE_FAILURES=1000,
    )
    make_user(app)
    client = app.test_client()
    timings: dict[str, list[float]] = {KNOWN_EMAIL: [], UNKNOWN_EMAIL: []}
    for _ in range(5):
        for email, taken in timings.items():
            started = time.perf_counter()
            wrong_password(client, email)
            taken.append(time.perf_counter() - started)
    ratio = statistics.median(timings[UNKNOWN_EMAIL]) / statistics.median(timings[KNOWN_EMAIL])
    print(f"median wrong-email / wrong-password time: {ratio:.2f} (information only)")
