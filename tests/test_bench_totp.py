"""The bench's password + authenticator-app sign-in stays a real sign-in.

Only our half: Flask-Security-Too is the bench's requirement, not the suite's.
The bench times this flow against FST's, so it must fail loudly when the code it
types is not the one the app would show, or when a time step is used twice.
"""

from __future__ import annotations

import argparse

import pytest

from bench import apps, data, flows
from flask_passwordless.delivery import Message


@pytest.fixture
def subject(tmp_path):
    database = data.sqlite_database("ours", 1000, tmp_path, cache=False, log=lambda _m: None)
    subject = flows.TotpSubject(apps.make_ours(database.url, totp=True), database)
    yield subject
    subject.close()


def sign_in(subject, email):
    recorder = flows.Recorder(subject.counter)
    flows.ours_password_totp(subject.app, subject.app.test_client(), email, recorder)
    return recorder


def test_each_bench_sign_in_types_a_fresh_code_and_reaches_the_protected_page(subject):
    email = subject.users[0]
    for _ in range(3):
        recorder = sign_in(subject, email)
    assert recorder.sql["POST code"] and recorder.times["GET protected page"]


def test_a_bench_sign_in_that_reuses_a_time_step_is_refused(subject):
    clock = subject.app.extensions["passwordless"].clock
    email = subject.users[0]
    sign_in(subject, email)
    clock.tick = lambda: clock.at  # the clock stands still: the same step again
    with pytest.raises(flows.BenchError):
        sign_in(subject, email)


def test_a_bench_sign_in_with_another_apps_code_is_refused(subject):
    secrets = subject.app.extensions["bench"]["totp_secrets"]
    email, other = subject.users[:2]
    secrets[email] = secrets[other]
    with pytest.raises(flows.BenchError):
        sign_in(subject, email)


def test_the_same_work_app_shares_ours_clock_and_sends_no_email(tmp_path):
    """The bench's third TOTP app (notices off, beside ours on the same tables) signs
    the same users in, turn about with ours, and emails nobody."""
    from bench import runner

    settings = runner.Settings.make(argparse.Namespace(quick=True, large=None))
    bench = runner.Bench(settings, None, cache=False)
    database = data.sqlite_database("ours", 1000, tmp_path, cache=False, log=lambda _m: None)
    try:
        bench._subject(database)
        ours, quiet = (
            bench.subjects[("sqlite", runner.subject_kind(kind, runner.TOTP_FLOW), 1000)]
            for kind in ("ours", runner.SAME_WORK)
        )
        email = ours.users[0]
        for subject in (ours, quiet, ours, quiet):
            recorder = sign_in(subject, email)
            assert recorder.times["GET protected page"]
        assert not quiet.app.extensions["passwordless"].outbox
    finally:
        bench.close()


def test_the_same_work_flow_fails_when_an_email_goes_out(subject):
    subject.app.config["PASSWORDLESS_NOTIFY_NEW_DEVICE"] = False
    sign_in(subject, subject.users[0])  # notices off: nothing sent, nothing waited for
    outbox = subject.app.extensions["passwordless"].outbox
    outbox.append(Message("email", "new_device", subject.users[0], "s", "t", None, ()))
    with pytest.raises(flows.BenchError, match="sent with notices off"):
        flows._no_message(subject.app)
