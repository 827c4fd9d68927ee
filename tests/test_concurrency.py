"""Exactly one winner when many redeemers race for one secret (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CSRF_FIELD, code_in, csrf_token, request_login, token_in
from flask_passwordless import user_logged_in

RACERS = 20


def _race(jobs):
    """Run the callables at once (a barrier lines them up); return their results."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=10)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs, timeout=60))


@pytest.fixture
def app(make_app):
    """Rate limits would stop the racers first; here only the database decides."""
    return make_app(PASSWORDLESS_LIMITER_ENABLED=False)


@pytest.fixture
def sign_ins(app):
    seen = []
    with user_logged_in.connected_to(lambda s, **kw: seen.append(kw["user"].email), app):
        yield seen


def test_many_browsers_posting_one_link_sign_in_exactly_once(app, user, outbox, sign_ins):
    request_login(app.test_client(), "alice@example.com")
    token = token_in(outbox[0])
    jobs = []
    for _ in range(RACERS):
        browser = app.test_client()
        page = browser.get(f"/auth/login/link?token={token}", follow_redirects=True)
        page = page.get_data(as_text=True)
        data = {"token": token, "csrf_token": CSRF_FIELD.search(page).group(1)}
        jobs.append(lambda b=browser, d=data: b.post("/auth/login/link", data=d).status_code)
    statuses = _race(jobs)
    assert sorted(statuses) == [302] + [400] * (RACERS - 1)
    assert sign_ins == ["alice@example.com"]


def test_many_posts_of_the_right_code_sign_in_exactly_once(app, user, outbox, sign_ins):
    client = app.test_client()
    request_login(client, "alice@example.com")
    data = {"code": code_in(outbox[0]), "csrf_token": csrf_token(client)}
    with client.session_transaction() as session:
        cookie_session = dict(session)
    jobs = []
    for _ in range(RACERS):
        browser = app.test_client()
        with browser.session_transaction() as session:
            session.update(cookie_session)
        jobs.append(lambda b=browser: b.post("/auth/login/code", data=data).status_code)
    statuses = _race(jobs)
    assert statuses.count(302) == 1
    assert sign_ins == ["alice@example.com"]


def test_parallel_wrong_guesses_never_exceed_the_try_limit(app, user, outbox):
    client = app.test_client()
    request_login(client, "alice@example.com")
    right = code_in(outbox[0])
    token = csrf_token(client)
    with client.session_transaction() as session:
        cookie_session = dict(session)
    guesses = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, RACERS + 1)]
    jobs = []
    for guess in guesses:
        browser = app.test_client()
        with browser.session_transaction() as session:
            session.update(cookie_session)
        data = {"code": guess, "csrf_token": token}
        jobs.append(lambda b=browser, d=data: b.post("/auth/login/code", data=d).status_code)
    statuses = _race(jobs)
    assert 302 not in statuses
    assert statuses.count(200) == 4  # "wrong, N tries left" four times, then the row is dead
    with app.app_context():
        assert app.extensions["passwordless"].models.Secret.query.one().attempts == 5
