"""Rendering and sending messages: email now, SMS in the same shape.

A message is rendered during the request (so templates see the request's
context) and handed to the backend on a background thread, so neither
timing nor a slow server says anything about the account.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import SplitResult, urlsplit

import click
from flask import Flask, current_app, has_request_context
from limits import parse as parse_limit

from .config import setting
from .errors import DeliveryFailed, SendQueueFull
from .i18n import gettext, language_for
from .limits import client_network, count_use, limits_on
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
    #: The absolute URLs handed to the templates; ``send`` refuses any off our origin.
    links: tuple[str, ...] = field(default=(), repr=False)


def site_name() -> str:
    """PASSWORDLESS_SITE_NAME, else the host people see in every link we send
    ("example.com", without a leading "www."): "Finish signing up for app" would
    name a Python module, not a site. Without a base URL, the app's name."""
    named = setting("SITE_NAME")
    if named:
        return str(named)
    try:
        host = base_url().hostname or ""
    except RuntimeError:  # no (or no valid) base URL: start-up and `check` say so
        host = ""
    return host.removeprefix("www.") or current_app.name


def base_url() -> SplitResult:
    """PASSWORDLESS_BASE_URL (or PREFERRED_URL_SCHEME, SERVER_NAME and
    APPLICATION_ROOT), split: the one origin and path every link starts with.

    Only configuration counts. The request's Host, its script root and whatever a
    proxy says about either are the attacker's to choose.
    """
    config = current_app.config
    base = setting("BASE_URL")
    if not base and config.get("SERVER_NAME"):
        root = config.get("APPLICATION_ROOT") or ""
        base = f"{config['PREFERRED_URL_SCHEME']}://{config['SERVER_NAME']}{root}"
    if not base:
        raise RuntimeError(
            "flask-passwordless needs PASSWORDLESS_BASE_URL (or SERVER_NAME) to build "
            "links in messages; it never trusts the request's Host header."
        )
    parts = urlsplit(str(base))
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise RuntimeError(
            f"PASSWORDLESS_BASE_URL {base!r} must be http(s)://host[:port][/path], "
            "with no user, query or fragment."
        )
    return parts


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL: the base URL's scheme, host and path, then the route.

    Built on the app's URL map bound to the base URL, not with ``url_for``,
    which would put the request's ``SCRIPT_NAME`` (from a proxy's
    ``X-Forwarded-Prefix`` or gunicorn's ``SCRIPT_NAME`` header) in between.
    """
    base = base_url()
    if endpoint.startswith("."):
        endpoint = "passwordless" + endpoint
    current_app.inject_url_defaults(endpoint, values)
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def on_own_origin(url: str) -> bool:
    """Is ``url`` under the base URL: same scheme, same host and port, below its path?"""
    base, parts = base_url(), urlsplit(url)
    return (
        parts.scheme == base.scheme
        and parts.netloc.lower() == base.netloc.lower()
        and (parts.path + "/").startswith(base.path.rstrip("/") + "/")
    )


def _links(context: dict[str, Any]) -> tuple[str, ...]:
    """The links a flow gave a message: its values named ``link`` or ``*_url``.

    By name, not by look: other values (a device's description, an address)
    come from the request, and must not be able to stop a message.
    """
    return tuple(
        str(value)
        for name, value in context.items()
        if value is not None and (name == "link" or name.endswith("_url"))
    )


def render_email(template: str, to: str, **context: Any) -> Message:
    """Render ``passwordless/email/<template>.txt`` and ``.html``.

    The text template sets the subject with ``{% set subject = "..." %}``. The
    HTML part goes out only when it comes from the same folder as the text
    part: a host that rewrote only the ``.txt`` (and its subject) must not send
    our stock ``.html`` beside it, saying something else. Text alone, then.
    """
    env = current_app.jinja_env
    links = _links(context)  # what the flow passed, not the host's context processors
    with language_for(_recipient("email", to)):
        context = {"site_name": site_name(), "email": to, **context}
        current_app.update_template_context(context)
        text_template = env.get_template(f"passwordless/email/{template}.txt")
        html_template = env.get_template(f"passwordless/email/{template}.html")
        text = text_template.make_module(context)
        same = _same_folder(text_template, html_template)
        html = html_template.render(context) if same else None
        subject = " ".join(str(getattr(text, "subject", site_name())).split())
        return Message("email", template, to, subject, str(text).strip() + "\n", html, links)


def _same_folder(first: Any, second: Any) -> bool:
    """Did both templates come from one place (both ours, or both the host's)?"""
    folders = {_folder(t.filename) if t.filename else None for t in (first, second)}
    return len(folders) == 1


def _folder(filename: str) -> str:
    return os.path.dirname(os.path.abspath(filename))


def origin_host() -> str:
    """The configured origin's host, for the SMS autofill line ``@host #code``."""
    return base_url().hostname or ""


def render_sms(template: str, to: str, **context: Any) -> Message:
    """Render ``passwordless/sms/<template>.txt``: short, ending ``@host #code``."""
    links = _links(context)
    with language_for(_recipient("sms", to)):
        context = {"site_name": site_name(), "host": origin_host(), **context}
        current_app.update_template_context(context)
        sms = current_app.jinja_env.get_template(f"passwordless/sms/{template}.txt")
        text = sms.render(context)
    return Message("sms", template, to, "", text.strip(), links=links)


def _recipient(channel: str, to: str) -> Any:
    """Outside a request, the account a message goes to, for its language
    (``i18n.language_for``); in one, None: the request's language is used."""
    if has_request_context():
        return None
    adapter = state().adapter
    return adapter.find_by_email(to) if channel == "email" else adapter.find_by_phone(to)


def tell_owner(user: Any, template: str, **context: Any) -> None:
    """Send a security notice to the account's address. Its advice for "this was
    not you" differs with whether the account has a password to change, so the
    template gets ``has_password``."""
    adapter = state().adapter
    has_password = adapter.password_hash_of(user) is not None
    send(render_email(template, adapter.email_of(user), has_password=has_password, **context))


def send(message: Message, *, background: bool | None = None) -> None:
    """Deliver in the background (the default), or now when the page must show failures."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if background is None:
        background = setting("SEND_IN_BACKGROUND")
    foreign = [link for link in message.links if not on_own_origin(link)]
    if foreign:
        # Never mail a link to another host, whatever built it: one click would
        # hand that host a sign-in or reset token.
        log.error(
            "passwordless: %r not sent: it links off PASSWORDLESS_BASE_URL (%s)",
            message.template,
            ", ".join(urlsplit(link).netloc for link in foreign),
        )
        if background:
            return  # the page must look the same whether or not a message went out
        raise DeliveryFailed(detail="link off the configured origin")
    over_cap = _over_daily_sms_cap(message.to) if message.channel == "sms" else None
    if over_cap:
        log.warning(
            "passwordless: PASSWORDLESS_%s reached; %r not sent", over_cap, message.template
        )
        if background:
            return  # the page must look the same whether or not a text went out
        raise DeliveryFailed(
            gettext(
                "We cannot send text messages right now. Please try again later, or use email."
            ),
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


def _over_daily_sms_cap(to: str) -> str | None:
    """Count one text against the day's caps, in the limiter's storage (so every
    process shares them); the name of the cap that refused it, or None.

    The number's share (per client network) is spent first and a text it refuses
    touches nothing else: texts to one number, the attacker's own or one they only
    know, cannot spend the whole app's cap, nor the share of its owner's network.
    The share is one of the built-in limits (off with them); the app's cap, a
    bill's bound, always holds.
    """
    per_number = setting("SMS_DAILY_LIMIT_PER_NUMBER")
    if per_number and limits_on():
        network = client_network() if has_request_context() else "no-request"
        limit = parse_limit(f"{int(per_number)}/day")
        if not count_use(limit, "passwordless-sms-daily-number", to, network):
            return "SMS_DAILY_LIMIT_PER_NUMBER"
    cap = setting("SMS_DAILY_LIMIT")
    if cap and not count_use(parse_limit(f"{int(cap)}/day"), "passwordless-sms-daily"):
        return "SMS_DAILY_LIMIT"
    return None


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
