"""The shared PostgreSQL tables (tests/pg_tables.py): each test starts on empty
tables with ids from 1, even when a thread of the test before wrote late."""

from __future__ import annotations

import pg_tables
import pytest
import sqlalchemy as sa

from apps import User, db
from conftest import add_user

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def test_a_row_written_after_the_tables_were_emptied_is_gone_for_the_next_app(make_app):
    app = make_app()
    with app.app_context():
        pg_tables.SHARED.release(db)  # the end of a test: emptied, and marked so
    add_user(app, "late@example.com")  # that test's thread, late
    with app.app_context():
        pg_tables.SHARED.prepare(db)  # the next test's app
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 0


def test_an_id_drawn_after_the_tables_were_emptied_is_given_again(make_app):
    """A late insert that rolled back leaves no row but moves the sequence on."""
    app = make_app()
    with app.app_context():
        pg_tables.SHARED.release(db)
        db.session.add(User(email="late@example.com"))
        db.session.flush()
        db.session.rollback()
        pg_tables.SHARED.prepare(db)
    assert add_user(app, "first@example.com").id == 1
