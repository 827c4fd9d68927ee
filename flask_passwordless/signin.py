"""From a passed first factor to a session: the second factor and remembered devices.

Every flow that proves a first factor (email, SMS, password, reset) ends in
``first_factor_passed``; it alone decides whether the user is signed in now,
skips the second factor on a remembered device, or must pass it first. Until
then the user is only *half* signed in: a short-lived record in the session
that is not a session of the user.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import redirect, session, url_for

from . import clock, devices, request_info, signals
from .config import setting
from .delivery import render_email, render_sms, send
from .errors import PasswordlessError, TooManyMessages
from .limits import spend
from .phone import masked_phone
from .session import PARTIAL, redirect_after_login, sign_in
from .signals import emit
from .state import state
from .tokens import candidate_hashes, hash_secret

PURPOSE = "two-factor"
_FINGERPRINT_LABEL = "half-signed-in auth_id:"


class SecondFactorUnavailable(PasswordlessError):
    title = "A second step is needed"
    message = (
        "Your account asks for a code by text message after this kind of sign-in, but it "
        "has no verified phone number. Sign in with your password instead."
    )


class SecondFactorGone(SecondFactorUnavailable):
    """The channel the codes went to left the account (the number was removed in
    another browser) while this sign-in waited for its second step."""

    title = "Please sign in again"
    message = (
        "The phone number this sign-in was sending codes to is no longer on your account. "
        "Please sign in again."
    )


#: First factors that are something the user knows (or replaced it): they always
#: need the second step when it is on. A reset link counts as one, so a reset
#: never skips the second factor.
KNOWLEDGE = {"password", "reset"}


def second_factor_required(user: Any, method: str) -> bool:
    if not state().adapter.two_factor_enabled(user):
        return False
    return method in KNOWLEDGE or setting("TWO_FACTOR_FOR_PASSWORDLESS")


def second_channel(user: Any, method: str) -> str | None:
    """The channel of the second factor: never the one that proved the first."""
    has_phone = state().adapter.phone_of(user) is not None and setting("SMS_ENABLED")
    if method == "sms":
        return "email"
    if method in ("email", "reset"):  # a reset link proved the mailbox
        return "sms" if has_phone else None
    return "sms" if has_phone else "email"


def first_factor_passed(user: Any, method: str, next_url: str | None) -> Any:
    """Sign in, or skip the second factor on a remembered device, or ask for it."""
    device = devices.this_device(user)
    if not second_factor_required(user, method):
        return complete(user, [method], next_url, known_device=device is not None)
    if device is not None:
        devices.touch(device)
        return complete(user, [method, "device"], next_url, known_device=True)
    channel = second_channel(user, method)
    if channel is None:
        raise SecondFactorUnavailable()
    send_second_factor(user, method, channel, next_url)
    return redirect(url_for("passwordless.two_factor"))


def two_factor_identifier(user: Any) -> str:
    """The lockout and limit key of a user's second step: its own, so that wrong
    guesses at the public sign-in pages never block it, and a right password
    never clears it."""
    return "2fa:" + state().adapter.key_of(user)


def send_second_factor(user: Any, first: str, channel: str, next_url: str | None) -> None:
    """Issue a code for the second factor and send it; the page waits for it."""
    adapter, store = state().adapter, state().secrets
    to = adapter.phone_of(user) if channel == "sms" else adapter.email_of(user)
    if to is None:  # removed since the first step: start again, a new channel is chosen then
        session.pop(PARTIAL, None)
        raise SecondFactorGone()
    if not spend("LIMIT_SEND_PER_IDENTIFIER", two_factor_identifier(user)):
        raise TooManyMessages()
    earlier = session.get(PARTIAL)
    started = clock.timestamp()
    if isinstance(earlier, dict) and earlier.get("key") == adapter.key_of(user):
        if isinstance(earlier.get("id"), int):
            store.discard(earlier["id"])  # a resend: this browser's previous code dies
        started = earlier.get("at", started)  # and the five minutes do not restart
    # Codes of the second step live in one browser's session: a sign-in started
    # elsewhere (even by someone who knows the password) must not void this one.
    issued = store.issue(PURPOSE, to, link=False)
    minutes = setting("TOKEN_MAX_AGE") // 60
    if channel == "sms":
        message = render_sms("two_factor", to, code=issued.code, minutes=minutes)
    else:
        message = render_email("two_factor", to, code=issued.code, minutes=minutes)
    session.pop(PARTIAL, None)
    send(message, background=False)
    session[PARTIAL] = {
        "key": adapter.key_of(user),
        "auth_fp": _auth_fingerprint(user),
        "first": first,
        "channel": channel,
        "id": issued.id,
        "purpose": PURPOSE,
        "to": masked_phone(to) if channel == "sms" else to,
        "identifier": two_factor_identifier(user),
        "next": next_url,
        "at": started,
    }
    emit(signals.code_sent, channel=channel, identifier=to)


def _auth_fingerprint(user: Any) -> str:
    """A keyed fingerprint of the user's auth_id for the half-signed-in record.

    The session cookie is signed, not encrypted, and with a leaked SECRET_KEY
    anyone can forge one: the random auth_id is then all a forger lacks, so it
    is not handed out before the second step. The fingerprint still changes
    when the auth_id rotates (a reset, "sign out everywhere"), which ends the
    half-finished sign-in.
    """
    return hash_secret(_FINGERPRINT_LABEL + str(user.get_id()))


def _same_auth_id(user: Any, fingerprint: Any) -> bool:
    if not isinstance(fingerprint, str):
        return False
    value = _FINGERPRINT_LABEL + str(user.get_id())
    return any(hmac.compare_digest(fingerprint, h) for h in candidate_hashes(value))


def half_signed_in() -> tuple[Any, dict[str, Any]] | None:
    """The user and record of a pending second factor, if still fresh and valid."""
    partial = session.get(PARTIAL)
    if not isinstance(partial, dict):
        return None
    at = partial.get("at")
    if not isinstance(at, (int, float)) or clock.timestamp() - at > setting("TWO_FACTOR_WITHIN"):
        session.pop(PARTIAL, None)
        return None
    user = state().adapter.get_by_key(str(partial.get("key")))
    if user is None or not _same_auth_id(user, partial.get("auth_fp")):  # reset or signed out
        session.pop(PARTIAL, None)
        return None
    return user, partial


def complete(user: Any, methods: list[str], next_url: str | None, *, known_device: bool) -> Any:
    """Sign in; tell the owner about a sign-in from a browser we did not know."""
    sign_in(user, methods)
    if not known_device and setting("NOTIFY_NEW_DEVICE") and "email" not in methods:
        agent = request_info.user_agent()
        email = state().adapter.email_of(user)
        send(
            render_email(
                "new_device",
                email,
                device=devices.describe_user_agent(agent),
                ip=request_info.client_address(),
                when=clock.now().strftime("%Y-%m-%d %H:%M UTC"),
            )
        )
    return redirect_after_login(next_url)
