"""Writes apart from the host's session: what rides with what, and what one commit
holds (``flask_passwordless.writes``)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from flask_passwordless import writes


@pytest.fixture
def app(make_app):
    return make_app()


def parts(app):
    """The database, the lockout table, and a list that grows by one per commit."""
    state = app.extensions["passwordless"]
    table = state.failures.Failure.__table__
    commits: list[int] = []
    sa.event.listen(state.db.engine, "commit", lambda _conn: commits.append(1))
    return state.db, table, commits


def row(table, name: str) -> dict:
    return {"identifier": name, "count": 1, "last_failure_at": datetime(2026, 1, 1)}


def names(db, table) -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.execute(sa.select(table.c.identifier)).scalars())


def test_a_later_write_rides_in_the_next_writes_transaction(app):
    with app.app_context():
        db, table, commits = parts(app)
        writes.apart_count(db, table.insert(), **row(table, "a"))
        commits.clear()
        writes.later(db, table.delete().where(table.c.identifier == "a"))
        assert names(db, table) == {"a"}  # not yet
        writes.apart_count(db, table.insert(), **row(table, "b"))
        assert (names(db, table), len(commits)) == ({"b"}, 1)


def test_a_later_write_with_no_write_after_it_is_committed_as_the_context_ends(app):
    with app.app_context():
        db, table, commits = parts(app)
        writes.apart_count(db, table.insert(), **row(table, "a"))
        writes.later(db, table.delete().where(table.c.identifier == "a"))
    with app.app_context():
        assert names(db, table) == set()


def test_together_commits_its_writes_once(app):
    with app.app_context():
        db, table, commits = parts(app)
        with writes.together(db):
            writes.apart_count(db, table.insert(), **row(table, "a"))
            writes.apart(db, table.insert().returning(table.c.identifier), **row(table, "b"))
        assert (names(db, table), len(commits)) == ({"a", "b"}, 1)


def test_together_keeps_none_of_its_writes_when_the_block_raises(app):
    with app.app_context():
        db, table, _commits = parts(app)
        with pytest.raises(RuntimeError), writes.together(db):
            writes.apart_count(db, table.insert(), **row(table, "a"))
            raise RuntimeError("the check broke")
        assert names(db, table) == set()


def test_a_later_write_waiting_when_a_together_block_raises_is_still_committed(app):
    """A forgiven count waiting from an earlier check (a host checking codes in one
    app context) must not go down with a later check's rolled-back block."""
    with app.app_context():
        db, table, _commits = parts(app)
        writes.apart_count(db, table.insert(), **row(table, "a"))
        writes.later(db, table.delete().where(table.c.identifier == "a"))
        with pytest.raises(RuntimeError), writes.together(db):
            writes.apart_count(db, table.insert(), **row(table, "b"))
            raise RuntimeError("locked out")
    with app.app_context():
        assert names(db, table) == set()


def test_a_later_write_queued_inside_a_together_block_that_raises_goes_down_with_it(app):
    """A count forgiven inside a check whose transaction then rolls back (its session
    row could not be written) is not forgiven at the context's end either."""
    with app.app_context():
        db, table, _commits = parts(app)
        writes.apart_count(db, table.insert(), **row(table, "a"))
        with pytest.raises(RuntimeError), writes.together(db):
            writes.later(db, table.delete().where(table.c.identifier == "a"))
            raise RuntimeError("the session row could not be written")
    with app.app_context():
        assert names(db, table) == {"a"}


def test_a_count_is_forgiven_once_a_request_until_a_new_hold_or_failure(app):
    """The second step forgives inside its check and again once it has passed: the
    delete is written once; a hold or a failure after it makes it due again."""
    from test_query_counts import statements

    deletes = []
    with statements(app) as seen, app.test_request_context():
        failures = app.extensions["passwordless"].failures
        db, table, _commits = parts(app)
        for _round in range(2):
            failures.claim("2fa:1:totp")
            failures.forgive("2fa:1:totp")
            failures.forgive("2fa:1:totp")
            writes.flush()
            deletes.append(sum(statement.startswith("DELETE") for statement in seen))
            assert names(db, table) == set()
    assert deletes == [1, 2]
