"""The background send queue is bounded: a hung mail server cannot fill the memory.

The backend here blocks on a threading.Event, as a mail server that accepts
connections and never answers would; the queue then fills for real.
"""

from __future__ import annotations

import logging
import threading

import pytest
from factors import PHONE, make_user, password_login
from flask.testing import FlaskClient

from conftest import csrf_token

QUEUE_SIZE = 3  # two workers hold the first two; the third waits


class BlockedBackend:
    """Takes messages and holds them until released (each wait is bounded)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.delivered: list[str] = []

    def __call__(self, message) -> None:
        self.release.wait(timeout=30)
        self.delivered.append(message.template)


@pytest.fixture
def backend():
    blocked = BlockedBackend()
    yield blocked
    blocked.release.set()


@pytest.fixture
def app(make_app, backend):
    app = make_app(
        PASSWORDLESS_LIMITER_ENABLED=False,
        PASSWORDLESS_SEND_QUEUE_SIZE=QUEUE_SIZE,
        PASSWORDLESS_MAIL_BACKEND=backend,
        PASSWORDLESS_SMS_BACKEND=backend,
        PASSWORDLESS_EMAIL_UNKNOWN_ACCOUNTS=False,  # unknown addresses get nothing at all
    )
    # The tests' usual client waits for deliveries after each request; this one must not.
    app.test_client_class = FlaskClient
    make_user(app, "alice@example.com", phone=PHONE)
    yield app
    backend.release.set()  # let the workers finish before the tables are dropped
    app.extensions["passwordless"].dispatcher.wait()


def _ask(app, client, path, **fields):
    return client.post(path, data={**fields, "csrf_token": csrf_token(client, path)})


def _fill(app):
    client = app.test_client()
    for _ in range(QUEUE_SIZE):
        assert _ask(app, client, "/auth/login", email="alice@example.com").status_code == 302


def test_a_full_queue_refuses_sign_in_alike_for_known_and_unknown_addresses(app, backend):
    _fill(app)
    answers = []
    for email in ("alice@example.com", "nobody@example.com"):
        page = _ask(app, app.test_client(), "/auth/login", email=email)
        answers.append((page.status_code, page.headers.get("Retry-After"), page.get_data()))
    assert answers[0] == answers[1]
    status, retry_after, body = answers[0]
    assert status == 503 and retry_after == "60"
    assert b"nothing was sent" in body


def test_a_full_queue_refuses_sms_sign_in_and_reset_for_every_identifier(app, backend):
    _fill(app)
    client = app.test_client()
    for path, fields in [
        ("/auth/login/sms", {"phone": PHONE}),
        ("/auth/login/sms", {"phone": "+14155550100"}),  # no account: no text either way
        ("/auth/reset", {"email": "alice@example.com"}),
        ("/auth/reset", {"email": "nobody@example.com"}),
    ]:
        assert _ask(app, client, path, **fields).status_code == 503, (path, fields)


def test_sending_resumes_once_the_queue_drains(app, backend):
    _fill(app)
    client = app.test_client()
    assert _ask(app, client, "/auth/login", email="alice@example.com").status_code == 503
    backend.release.set()
    app.extensions["passwordless"].dispatcher.wait()
    assert backend.delivered == ["login"] * QUEUE_SIZE
    assert _ask(app, client, "/auth/login", email="alice@example.com").status_code == 302
    app.extensions["passwordless"].dispatcher.wait()
    assert len(backend.delivered) == QUEUE_SIZE + 1


def test_a_notice_that_finds_the_queue_full_is_dropped_and_logged_without_the_address(
    app, backend, caplog
):
    """Past the first step the action stands (here: a sign-in); only its notice is lost."""
    make_user(app, "bob@example.com")
    client = app.test_client()
    _fill(app)
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        response = password_login(client, "bob@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    dropped = [r.getMessage() for r in caplog.records if "send queue full" in r.getMessage()]
    assert dropped == [
        f"passwordless: send queue full (PASSWORDLESS_SEND_QUEUE_SIZE={QUEUE_SIZE}); "
        "email 'new_device' dropped"
    ]
    assert "bob" not in caplog.text
    backend.release.set()
    app.extensions["passwordless"].dispatcher.wait()
    assert "new_device" not in backend.delivered
