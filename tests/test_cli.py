"""The ``flask passwordless`` commands a newcomer meets first: create-user and check,
and the production warnings printed once per served process, not by every command."""

from __future__ import annotations

import logging

import pytest

from apps import User, db
from conftest import request_login
from flask_passwordless import UserAdapter

#: A configuration that passes every production check.
SAFE = {
    "TESTING": False,
    "SECRET_KEY": "a long random production secret key",
    "PASSWORDLESS_BASE_URL": "https://app.example.com",
    "PASSWORDLESS_MAIL_BACKEND": "flask_mail",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
}


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["passwordless", *args])


def emails(app):
    with app.app_context():
        return [user.email for user in db.session.scalars(db.select(User))]


def test_create_user_makes_an_account_that_can_sign_in(app):
    result = cli(app, "create-user", "  Alice@Example.COM ")
    assert result.exit_code == 0, result.output
    assert "Created an account for alice@example.com." in result.output
    assert "It signs in at https://app.example.com/auth/login" in result.output
    assert emails(app) == ["alice@example.com"]
    request_login(app.test_client(), "alice@example.com")
    assert [m.template for m in app.extensions["passwordless"].outbox] == ["login"]


def test_create_user_goes_through_the_adapter(app):
    made = []

    class Recording(UserAdapter):
        def create_user(self, email):
            made.append(email)
            return super().create_user(email)

    state = app.extensions["passwordless"]
    state.adapter = Recording(db, User)
    assert cli(app, "create-user", "bob@example.com").exit_code == 0
    assert made == ["bob@example.com"]


def test_create_user_refuses_an_address_already_taken(app, user):
    result = cli(app, "create-user", "ALICE@example.com")
    assert result.exit_code == 1
    assert "There is already an account with the address alice@example.com." in result.output
    assert emails(app) == ["alice@example.com"]


@pytest.mark.parametrize("address", ["not an address", "alice@", "a@b@example.com", ""])
def test_create_user_refuses_a_bad_address_with_a_clear_message(app, address):
    result = cli(app, "create-user", address)
    assert result.exit_code == 1
    assert f"{address!r} is not a valid email address: " in result.output
    assert "Traceback" not in result.output
    assert emails(app) == []


def test_create_user_before_the_migrations_says_to_run_them(app):
    with app.app_context():
        db.drop_all()
    result = cli(app, "create-user", "alice@example.com")
    assert result.exit_code == 1
    assert "run `flask db upgrade` first" in result.output
    with app.app_context():
        db.create_all()  # for the fixture's teardown


def test_check_lists_every_problem_and_exits_non_zero(make_app):
    app = make_app(TESTING=False, PASSWORDLESS_BASE_URL="http://app.example.com")
    result = cli(app, "check")
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("PROBLEM")]
    text = "\n".join(problems)
    for expected in ("not https", "SECRET_KEY", "SESSION_COOKIE_SECURE", "SAMESITE", "memory"):
        assert expected in text
    assert "ok       SESSION_COOKIE_HTTPONLY is on" in result.output
    assert f"{len(problems)} of 9 checks failed" in result.output


def test_check_counts_debug_and_console_mail_as_unsafe(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")  # how `flask --debug` turns debug mode on
    app = make_app(**{**SAFE, "PASSWORDLESS_MAIL_BACKEND": "console"})
    result = cli(app, "check")
    assert result.exit_code == 1
    assert "PROBLEM  debug mode is on" in result.output
    assert "PROBLEM  PASSWORDLESS_MAIL_BACKEND is 'console'" in result.output


def test_check_passes_a_production_configuration(make_app):
    result = cli(make_app(**SAFE), "check")
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    assert "All 9 checks passed." in result.output


def test_production_warnings_are_logged_once_per_served_process(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        app = make_app(TESTING=False)
        assert caplog.records == []  # building the app (every `flask` command) says nothing
        client = app.test_client()
        client.get("/auth/login")
        client.get("/")
        client.get("/auth/login")
    warned = [r.getMessage() for r in caplog.records if "SESSION_COOKIE_SECURE" in r.getMessage()]
    assert len(warned) == 1


def test_a_cleanup_from_cron_prints_no_warnings(make_app, caplog):
    app = make_app(TESTING=False)
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        result = cli(app, "cleanup")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Removed 0 used or expired secrets.",
        "Removed 0 expired or revoked devices.",
        "Removed 0 expired, idle or revoked sessions.",
    ]
    assert caplog.records == []
