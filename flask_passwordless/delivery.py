"""Rendering and sending messages: email now, SMS in the same shape.

A message is rendered during the request (so templates see the request's
context) and handed to the backend on a background thread, so neither
timing nor a slow server says anything about the account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app, url_for
from limits import parse as parse_limit

from .config import setting
from .errors import DeliveryFailed, SendQueueFull
from .limits import count_use
from .sms import send_with_twilio
from .state import state

log = logging.getLogger("flask_passwordless")


@dataclass(frozen=True)
class Message:
    """A rendered message, ready for any backend (and easy to put on a queue)."""

    channel: str  # "email" or "sms"
    template: str
    to: str
    # Kept out of repr(): they carry codes and links, and reprs end up in logs.
    subject: str = field(repr=False)
    text: str = field(repr=False)
    html: str | None = field(default=None, repr=False)


def site_name() -> str:
    return setting("SITE_NAME") or current_app.name


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL from PASSWORDLESS_BASE_URL or SERVER_NAME, never the Host header."""
    config = current_app.config
    base = setting("BASE_URL")
    if not base and config.get("SERVER_NAME"):
        base = f"{config['PREFERRED_URL_SCHEME']}://{config['SERVER_NAME']}"
    if not base:
        raise RuntimeError(
            "flask-passwordless needs PASSWORDLESS_BASE_URL (or SERVER_NAME) to build "
            "links in messages; it never trusts the request's Host header."
        )
    return base.rstrip("/") + url_for(endpoint, **values)


def render_email(template: str, to: str, **context: Any) -> Message:
    """Render ``passwordless/email/<template>.txt`` and ``.html``.

    The text template sets the subject with ``{% set subject = "..." %}``.
    """
    env = current_app.jinja_env
    context = {"site_name": site_name(), "email": to, **context}
    current_app.update_template_context(context)
    text = env.get_template(f"passwordless/email/{template}.txt").make_module(context)
    html = env.get_template(f"passwordless/email/{template}.html").render(context)
    subject = " ".join(str(getattr(text, "subject", site_name())).split())
    return Message("email", template, to, subject, str(text).strip() + "\n", html)


def origin_host() -> str:
    """The host of the site's own origin, for the SMS autofill line ``@host #code``."""
    return urlsplit(external_url("passwordless.login")).hostname or ""


def render_sms(template: str, to: str, **context: Any) -> Message:
    """Render ``passwordless/sms/<template>.txt``: short, ending ``@host #code``."""
    context = {"site_name": site_name(), "host": origin_host(), **context}
    current_app.update_template_context(context)
    text = current_app.jinja_env.get_template(f"passwordless/sms/{template}.txt").render(context)
    return Message("sms", template, to, "", text.strip())


def send(message: Message, *, background: bool | None = None) -> None:
    """Deliver in the background (the default), or now when the page must show failures."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if background is None:
        background = setting("SEND_IN_BACKGROUND")
    if message.channel == "sms" and not _within_daily_sms_cap():
        log.warning(
            "passwordless: PASSWORDLESS_SMS_DAILY_LIMIT reached; %r not sent", message.template
        )
        if background:
            return  # the page must look the same whether or not a text went out
        raise DeliveryFailed(
            "We cannot send text messages right now. Please try again later, or use email.",
            detail="daily SMS cap",
        )
    if not background:
        _deliver(app, message, deferred=False)
    elif not state().dispatcher.submit(
        partial(_deliver, app, message, deferred=True), limit=setting("SEND_QUEUE_SIZE")
    ):
        # Dropped, never raised: whether this page sends at all may depend on the
        # account. Sign-in pages ask ensure_queue_room() first, for every address.
        log.warning(
            "passwordless: send queue full (PASSWORDLESS_SEND_QUEUE_SIZE=%s); %s %r dropped",
            setting("SEND_QUEUE_SIZE"),
            message.channel,
            message.template,
        )


def ensure_queue_room() -> None:
    """Refuse (503) while the background queue is full, before the address is read.

    Sign-in and reset pages call it first: the answer then depends on how busy the
    senders are, never on whether the address has an account (an unknown one may
    get no message at all, so a refusal at send time would tell them apart).
    """
    if not state().dispatcher.has_room(setting("SEND_QUEUE_SIZE")):
        raise SendQueueFull()


def _within_daily_sms_cap() -> bool:
    """Count one text against PASSWORDLESS_SMS_DAILY_LIMIT, in the limiter's storage
    (so every process shares it); False once the day's budget is spent."""
    cap = setting("SMS_DAILY_LIMIT")
    if not cap:
        return True
    return count_use(parse_limit(f"{int(cap)}/day"), "passwordless-sms-daily")


def _deliver(app: Flask, message: Message, *, deferred: bool) -> None:
    with app.app_context():
        backend = _backend(message.channel)
        try:
            backend(message)
        except Exception as exc:  # the delivery boundary: any backend failure
            failure = (
                exc
                if isinstance(exc, DeliveryFailed)
                else DeliveryFailed(detail=type(exc).__name__)
            )
            log.error(
                "passwordless: %s delivery of %r failed: %s",
                message.channel,
                message.template,
                failure.detail,
                exc_info=not isinstance(exc, DeliveryFailed),
            )
            if not deferred:
                raise failure from exc


def _backend(channel: str) -> Callable[[Message], None]:
    name = setting("MAIL_BACKEND") if channel == "email" else setting("SMS_BACKEND")
    if callable(name):
        return name
    backends: dict[str, Callable[[Message], None]] = {
        "memory": _to_memory,
        "console": _to_console,
        "flask_mail": _to_flask_mail,
        "twilio": send_with_twilio,
    }
    if name not in backends:
        raise RuntimeError(f"Unknown passwordless {channel} backend {name!r}")
    return backends[name]


def _to_memory(message: Message) -> None:
    state().outbox.append(message)


def _to_console(message: Message) -> None:
    rule = "-" * 72
    heading = f"{message.channel.upper()} to {message.to}"
    if message.subject:
        heading += f": {message.subject}"
    click.echo(f"{rule}\n{heading}\n\n{message.text.rstrip()}\n{rule}")


def _to_flask_mail(message: Message) -> None:
    from flask_mail import Message as MailMessage

    mail = current_app.extensions["mail"]
    sender = setting("MAIL_SENDER") or current_app.config.get("MAIL_DEFAULT_SENDER")
    mail.send(
        MailMessage(
            subject=message.subject,
            sender=sender,
            recipients=[message.to],
            body=message.text,
            html=message.html,
        )
    )
