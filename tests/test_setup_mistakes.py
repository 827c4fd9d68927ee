"""A database without the app's tables is a set-up mistake, not an outage.

The first thing a newcomer who skipped ``flask db upgrade`` sees: the log says
what to run (at ERROR), and in debug mode so does the page. A database that is
really down still answers 503 with Retry-After.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from apps import db
from conftest import csrf_token
from flask_passwordless.pages import missing_schema


def never_migrated(make_app, **config):
    app = make_app(**config)
    with app.app_context():
        db.drop_all()
    return app


def ask(app):
    client = app.test_client()
    return client.post(
        "/auth/login", data={"email": "alice@example.com", "csrf_token": csrf_token(client)}
    )


def test_a_missing_table_logs_run_flask_db_upgrade(make_app, caplog):
    app = never_migrated(make_app)
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        response = ask(app)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers  # waiting will not create the table
    page = response.get_data(as_text=True)
    assert "This site is not set up yet" in page
    assert "flask db upgrade" not in page  # visitors of a live site get no set-up advice
    (record,) = [r for r in caplog.records if "not set up" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "run `flask db upgrade`" in record.getMessage()
    assert "database unavailable" not in caplog.text


def test_in_debug_mode_the_page_says_to_run_flask_db_upgrade(make_app):
    page = ask(never_migrated(make_app, DEBUG=True)).get_data(as_text=True)
    assert "This site is not set up yet" in page
    assert "Run `flask db upgrade`" in page
    assert "users" in page  # the table the database said is missing


def test_an_unreachable_database_is_still_an_outage():
    refused = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert not missing_schema(refused)
    assert missing_schema(sa.exc.OperationalError("SELECT", {}, Exception("no such table: users")))
    assert not missing_schema(sa.exc.TimeoutError("QueuePool limit reached"))
