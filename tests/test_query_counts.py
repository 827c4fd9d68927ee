"""SQL statements per request: the auth layer's cost that a change could quietly raise.

Counts, not timings (``bench/`` measures time). A signed-in page costs the
user loader's one query; each sign-in step costs the statements it needs and
no more; the pages that only show a form cost none.
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from apps import db
from conftest import CSRF_FIELD, code_in, csrf_token, token_in


@contextmanager
def _listening(app, event, record):
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, event, record)
    try:
        yield
    finally:
        sa.event.remove(engine, event, record)


@contextmanager
def statements(app):
    """The statements the app's engine runs inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    with _listening(app, "before_cursor_execute", record):
        yield seen


@contextmanager
def commits(app):
    """One entry per transaction the app's engine commits inside the block (not a
    connection in autocommit mode, whose commit sends nothing: ``reads``)."""
    seen: list[int] = []

    def committed(connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            seen.append(1)

    with _listening(app, "commit", committed):
        yield seen


def _code_sign_in(app, client, outbox):
    """Sign in alice by the emailed code, counting each step's statements."""
    counts = {}
    with statements(app) as seen:
        token = csrf_token(client)
    counts["sign-in page"] = len(seen)
    with statements(app) as seen:
        sent = client.post("/auth/login", data={"email": "alice@example.com", "csrf_token": token})
    counts["send"] = len(seen)
    with statements(app) as seen:
        page = client.get(sent.headers["Location"])
    counts["code page"] = len(seen)
    code = code_in(outbox[-1])
    token = CSRF_FIELD.search(page.get_data(as_text=True)).group(1)
    with statements(app) as seen:
        done = client.post("/auth/login/code", data={"code": code, "csrf_token": token})
    counts["check"] = len(seen)
    assert done.status_code == 302
    return counts


def test_signed_in_page_costs_one_query(app, client, user, outbox):
    _code_sign_in(app, client, outbox)
    with statements(app) as seen:
        assert client.get("/private").status_code == 200
    assert len(seen) == 1, seen
    assert "auth_id" in seen[0]


def test_email_code_sign_in_statements_per_step(app, client, user, outbox):
    counts = _code_sign_in(app, client, outbox)
    # Send: the account, insert the new secret (this browser asked for none before,
    # so there is nothing of its own to retire). Check: the identifier's failures,
    # claim a try, consume, the account, insert the session row.
    assert counts == {"sign-in page": 0, "send": 2, "code page": 0, "check": 5}


def test_asking_again_in_the_same_browser_adds_one_statement(app, client, user, outbox):
    token = csrf_token(client)
    data = {"email": "alice@example.com", "csrf_token": token}
    client.post("/auth/login", data=data)
    with statements(app) as seen:
        client.post("/auth/login", data=data)
    # The account, retire this browser's earlier secret (by its id), insert the new one.
    assert len(seen) == 3, seen
    assert "WHERE passwordless_secret.id = " in seen[1]


def test_magic_link_costs_one_read_then_four_statements(app, client, user, outbox):
    token = csrf_token(client)
    client.post("/auth/login", data={"email": "alice@example.com", "csrf_token": token})
    link_token = token_in(outbox[-1])
    with statements(app) as seen:
        moved = client.get(f"/auth/login/link?token={link_token}")
    assert moved.status_code == 303
    assert seen == []  # only moves the token into the session
    with statements(app) as seen:
        page = client.get(moved.headers["Location"])
    assert len(seen) == 1  # the row behind the link, read only
    csrf = CSRF_FIELD.search(page.get_data(as_text=True)).group(1)
    with statements(app) as seen:
        done = client.post("/auth/login/link", data={"token": link_token, "csrf_token": csrf})
    assert done.status_code == 302
    # Find and consume the row (one conditional UPDATE), clear the identifier's
    # failures, the account, the session row.
    assert len(seen) == 4, seen
    assert seen[0].startswith("UPDATE passwordless_secret"), seen


def test_password_and_app_sign_in_reads_the_authenticators_once_per_request(make_app, clock):
    """The second step asks every type whether the user has it: one read of the
    user's authenticators per request that reads the account, not one per type;
    showing the step's page reads nothing (the record names its offers)."""
    from factors import make_user, password_login
    from test_authenticators import add_app, app_code

    app = make_app()
    make_user(app)
    client = app.test_client()
    password_login(client)
    secret, _ = add_app(client, clock)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    token = csrf_token(client, "/auth/login/password")
    data = {"email": "alice@example.com", "password": "correct horse battery staple"}
    counts = {}
    with statements(app) as seen:
        client.post("/auth/login/password", data={**data, "csrf_token": token})
    counts["password"] = seen[:]
    with statements(app) as seen:
        page = client.get("/auth/two-factor")
    counts["step page"] = seen[:]
    clock.advance(seconds=30)
    token = CSRF_FIELD.search(page.get_data(as_text=True)).group(1)
    with statements(app) as seen, commits(app) as committed:
        done = client.post(
            "/auth/two-factor", data={"code": app_code(secret, clock), "csrf_token": token}
        )
    counts["check"] = seen[:]
    # The hold, the time step, the forgiven count and the session row: one commit.
    assert len(committed) == 1, seen
    assert done.status_code == 302
    assert "authenticator app" in page.get_data(as_text=True).lower()
    for step, seen in counts.items():
        reads = [s for s in seen if s.startswith("SELECT") and "passwordless_authenticator" in s]
        assert len(reads) == (step != "step page"), (step, seen)
    assert {step: len(seen) for step, seen in counts.items()} == {
        # the lockout row, the user and their authenticators (one join)
        "password": 1,
        "step page": 0,
        # the user with their authenticators (one join), hold the lockout key (one
        # upsert), the app's time step, forgive, the session row: those writes are
        # committed apart, so the user is never read again
        "check": 5,
    }
