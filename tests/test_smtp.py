"""The flask_mail backend, talking real SMTP to an aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
import socket
import time
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from conftest import add_user, confirm_link, request_login, signed_in_as


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait (bounded) for mail to arrive: delivery happens in the background."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _mail_app(make_app, port, **config):
    return make_app(
        PASSWORDLESS_MAIL_BACKEND="flask_mail",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_SUPPRESS_SEND=False,
        **config,
    )


def _parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def test_sign_in_email_goes_over_smtp_with_text_and_html(make_app, smtp):
    inbox, port = smtp
    app = _mail_app(make_app, port)
    add_user(app, "alice@example.com")
    client = app.test_client()
    assert request_login(client, "alice@example.com").status_code == 302
    [received] = inbox.wait_for(1)
    assert received["To"] == "alice@example.com"
    assert received["From"] == "noreply@example.com"
    assert received["Subject"] == "Your sign-in link for Test App"
    parts = _parts(received)
    assert set(parts) == {"text/plain", "text/html"}
    token = parts["text/plain"].split("token=")[1].split()[0]
    assert token in parts["text/html"]
    assert confirm_link(client, token).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_smtp_down_after_response_is_logged_not_a_500(make_app, caplog):
    app = _mail_app(make_app, _free_port())
    add_user(app, "alice@example.com")
    response = request_login(app.test_client(), "alice@example.com")
    assert response.status_code == 302
    assert "email delivery of 'login' failed" in caplog.text


def test_sign_in_email_is_sent_in_the_background_even_when_told_inline(make_app, caplog):
    """Inline sending would tell known from unknown addresses (slow, or a 503)."""
    app = _mail_app(make_app, _free_port(), PASSWORDLESS_SEND_IN_BACKGROUND=False)
    add_user(app, "alice@example.com")
    assert request_login(app.test_client(), "alice@example.com").status_code == 302
    assert request_login(app.test_client(), "nobody@example.com").status_code == 302


def test_smtp_down_for_a_second_step_code_shows_a_clear_page(make_app):
    from factors import make_user, password_login

    app = _mail_app(make_app, _free_port(), PASSWORDLESS_EMAIL_SECOND_FACTOR=True)
    make_user(app, "bob@example.com", two_factor=True)
    response = password_login(app.test_client(), "bob@example.com")
    assert response.status_code == 503
    assert "We could not send the message" in response.get_data(as_text=True)
