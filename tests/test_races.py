"""Races on PostgreSQL: several processes, each with many threads, hit one secret at once.

Every round lines up PROCESSES x THREADS racers (each process has its own app,
engine and connection pool, started with multiprocessing's spawn) and releases
them together. Exactly one racer may use a link, a code or a reset token, or
revoke a device; every failed guess is counted (no lost updates); nothing
deadlocks and nothing answers 500.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from factors import make_user
from pg_schema import isolated_schema, url_string
from race_workers import NEW_PASSWORD, RACE_CONFIG, STRICT_LOCKOUT, serve

from apps import User, create_app, db
from conftest import POSTGRES_URL, code_in, csrf_token, request_login, skip_tier, submit_code
from flask_passwordless.clock import utcnow
from flask_passwordless.passwords import verify_password

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 3
THREADS = 8
RACERS = PROCESSES * THREADS
ROUNDS = 20
#: Each race stops early (and fails) rather than run past this.
RACE_BUDGET = 120.0


@pytest.fixture(scope="module")
def url():
    if not POSTGRES_URL:
        skip_tier("PASSWORDLESS_TEST_DATABASE_URL is not set")
    with isolated_schema(POSTGRES_URL, "races") as scoped:
        yield url_string(scoped)


@pytest.fixture(scope="module")
def app(url):
    app = create_app(url, **RACE_CONFIG)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Racers:
    """PROCESSES spawned processes, each running THREADS racers per job."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(PROCESSES + 1)
        self.pipes, self.processes = [], []
        for _ in range(PROCESSES):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=serve, args=(url, THREADS, theirs, self.barrier), daemon=True
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        for pipe in self.pipes:
            assert pipe.poll(60), "a racer process did not start"
            assert pipe.recv() == "ready"

    def race(self, kind: str, **args) -> dict:
        """One round: every racer of every process fires at once; their results, merged."""
        for pipe in self.pipes:
            pipe.send((kind, args))
        self.barrier.wait(60)
        merged: dict = {"results": [], "sign_ins": 0, "revoked": 0, "passwords_changed": 0}
        for pipe in self.pipes:
            assert pipe.poll(120), f"a racer process hung on {kind!r}"
            reply = pipe.recv()
            assert "error" not in reply, reply.get("error")
            merged["results"] += reply.pop("results")
            for key, value in reply.items():
                merged[key] += value
        return merged

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(20)
            if process.is_alive():
                process.terminate()
                process.join(5)


@pytest.fixture(scope="module")
def racers(url, app):
    racers = Racers(url)
    yield racers
    racers.stop()


def rounds(name: str, capsys):
    """ROUNDS round numbers, bounded by RACE_BUDGET; prints the tally at the end."""
    tally = Counter()
    started = time.monotonic()
    for number in range(ROUNDS):
        assert time.monotonic() - started < RACE_BUDGET, f"{name}: out of time at {number}"
        yield number, tally
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nrace {name}: {ROUNDS} rounds x {RACERS} racers "
            f"({PROCESSES} processes x {THREADS} threads) in {seconds:.1f}s: "
            + ", ".join(f"{key} {value}" for key, value in sorted(tally.items()))
        )


def no_errors(results) -> None:
    errors = [r for r in results if not isinstance(r, int) or r >= 500]
    assert not errors, errors[0]


def test_one_link_is_used_exactly_once(app, racers, capsys):
    make_user(app, "link@example.com", password=None)
    outbox = app.extensions["passwordless"].outbox
    for number, tally in rounds("link", capsys):
        request_login(app.test_client(), "link@example.com")
        token = outbox[-1].text.split("token=")[1].split()[0]
        race = racers.race("link", token=token, page=f"/auth/login/link?token={token}")
        no_errors(race["results"])
        assert sorted(race["results"]) == [302] + [400] * (RACERS - 1), number
        assert race["sign_ins"] == 1
        tally.update(won_exactly_once=1)


def test_one_code_is_used_exactly_once(app, racers, capsys):
    make_user(app, "code@example.com", password=None)
    outbox = app.extensions["passwordless"].outbox
    for number, tally in rounds("code", capsys):
        client = app.test_client()
        request_login(client, "code@example.com")
        csrf = csrf_token(client, "/auth/login/code")
        cookie = client.get_cookie("session").value
        race = racers.race("code", cookie=cookie, csrf=csrf, code=code_in(outbox[-1]))
        no_errors(race["results"])
        assert sorted(race["results"]) == [302] + [400] * (RACERS - 1), number
        assert race["sign_ins"] == 1
        tally.update(won_exactly_once=1)


def test_one_reset_link_changes_the_password_exactly_once(app, racers, capsys):
    make_user(app, "reset@example.com")
    outbox = app.extensions["passwordless"].outbox
    for number, tally in rounds("reset", capsys):
        client = app.test_client()
        data = {"email": "reset@example.com", "csrf_token": csrf_token(client, "/auth/reset")}
        assert client.post("/auth/reset", data=data).status_code == 302
        token = outbox[-1].text.split("token=")[1].split()[0]
        page = f"/auth/reset/confirm?token={token}"
        race = racers.race("reset", token=token, page=page)
        no_errors(race["results"])
        assert sorted(race["results"]) == [302] + [400] * (RACERS - 1), number
        assert race["passwords_changed"] == 1
        tally.update(won_exactly_once=1)
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email="reset@example.com")).scalar()
        assert verify_password(user.password_hash, NEW_PASSWORD)


def test_one_device_is_revoked_exactly_once(app, racers, capsys):
    user = make_user(app, "devices@example.com", password=None)
    client = app.test_client()
    request_login(client, "devices@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    csrf = csrf_token(client, "/auth/account/two-factor")
    cookie = client.get_cookie("session").value
    Device = app.extensions["passwordless"].models.Device
    for number, tally in rounds("revoke-device", capsys):
        with app.app_context():
            now = utcnow()
            device = Device(
                user_key=str(user.id),
                secret_hash="0" * 64,
                name=f"Browser {number}",
                user_agent="racer",
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(days=30),
            )
            db.session.add(device)
            db.session.commit()
            device_id = device.id
        race = racers.race("revoke", cookie=cookie, csrf=csrf, device_id=device_id)
        no_errors(race["results"])
        assert race["results"] == [302] * RACERS, number
        assert race["revoked"] == 1, number
        with app.app_context():
            assert db.session.get(Device, device_id).revoked_at is not None
        tally.update(won_exactly_once=1)


def _failure(app, identifier: str):
    Failure = app.extensions["passwordless"].models.Failure
    with app.app_context():
        row = db.session.get(Failure, identifier)
        db.session.expunge_all()
        return row


def test_parallel_wrong_passwords_are_each_counted(app, racers, capsys):
    for number, tally in rounds("wrong-password", capsys):
        email = f"guess{number}@example.com"
        race = racers.race("wrong-password", email=email)
        no_errors(race["results"])
        assert race["results"] == [200] * RACERS
        assert _failure(app, email).count == RACERS, number
        tally.update(failures_counted=RACERS)


def test_parallel_failures_keep_the_latest_wait(app, racers, capsys):
    """Every failure doubles the wait: the stored wait must be the one of the last count."""
    for number, tally in rounds("record-failure", capsys):
        identifier = f"record{number}@example.com"
        race = racers.race("record", identifier=identifier)
        no_errors(race["results"])
        assert sorted(race["results"]) == list(range(1, RACERS + 1))  # each count seen once
        row = _failure(app, identifier)
        assert row.count == RACERS
        wait = min(2 ** (RACERS - 1), STRICT_LOCKOUT["PASSWORDLESS_LOCKOUT_MAX_DELAY"])
        assert row.locked_until == row.last_failure_at + timedelta(seconds=wait), number
        tally.update(failures_counted=RACERS)


def test_a_slow_first_failure_does_not_replace_a_later_wait(url, app):
    """The first failure inserts its row, commits, then sets its wait; a second failure
    lands in between. Its longer wait must survive the first one's late write."""
    strict = create_app(url, **{**RACE_CONFIG, **STRICT_LOCKOUT})
    paused, second_done = threading.Event(), threading.Event()

    def hold_the_first(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "first" and "SET locked_until" in statement:
            paused.set()
            second_done.wait(10)

    def record():
        with strict.app_context():
            return strict.extensions["passwordless"].failures.record("slow@example.com")

    with strict.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", hold_the_first)
    try:
        first = threading.Thread(target=record, name="first")
        first.start()
        assert paused.wait(10)
        assert record() == 2
        second_done.set()
        first.join(10)
        row = _failure(app, "slow@example.com")
        assert row.count == 2
        assert row.locked_until == row.last_failure_at + timedelta(seconds=2)
    finally:
        second_done.set()
        with strict.app_context():
            db.session.remove()
            db.engine.dispose()
