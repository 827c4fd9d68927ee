"""The bench's password + authenticator-app sign-in stays a real sign-in.

Only our half: Flask-Security-Too is the bench's requirement, not the suite's.
The bench times this flow against FST's, so it must fail loudly when the code it
types is not the one the app would show, or when a time step is used twice.
"""

from __future__ import annotations

import pytest

from bench import apps, data, flows


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
