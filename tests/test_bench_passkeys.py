"""The bench's passkey sign-in stays a real sign-in: it must reach the protected
page, and fail loudly when the passkey it answers with is not the user's."""

from __future__ import annotations

import pytest

from bench import apps, data, flows, passkeys


@pytest.fixture
def bench_app(tmp_path):
    database = data.sqlite_database("ours", 100, tmp_path, cache=False, log=lambda _m: None)
    return apps.make_ours(database.url)


def test_the_bench_passkey_sign_in_reaches_the_protected_page(bench_app):
    soft = passkeys._soft_authenticator()
    email = data.email_of(1)
    credential = passkeys.enrol(bench_app, soft, email)
    recorder = flows.Recorder(flows.SqlCounter(bench_app))
    passkeys.ours_passkey(bench_app, soft, credential, email, recorder)
    assert recorder.times["GET protected page"] and recorder.flows[0] > 0


def test_a_bench_sign_in_with_another_users_passkey_is_refused(bench_app):
    soft = passkeys._soft_authenticator()
    credential = passkeys.enrol(bench_app, soft, data.email_of(1))
    recorder = flows.Recorder(flows.SqlCounter(bench_app))
    with pytest.raises(flows.BenchError):
        passkeys.ours_passkey(bench_app, soft, credential, data.email_of(2), recorder)
