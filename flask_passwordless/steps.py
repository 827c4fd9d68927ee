"""The second step: what the session holds between one proof and the next.

A sign-in whose first factor passed, or a signed-in user asked to confirm it is
them before an account change, is *on a step*: one typed record in the session
(``Step``) and nothing else. ``peek_step`` is its only reader: it checks the
shape and the age (PASSWORDLESS_TWO_FACTOR_WITHIN); ``load_step`` adds the user,
and that the account's ``auth_id`` has not changed since (a reset or "sign out
everywhere" ends a half-finished sign-in). The record holds a keyed fingerprint
of the ``auth_id``, never the value itself: the cookie is signed, not encrypted.

A sign-in's record also names the second factors its page offers, as the first
step found them, so that showing the page (``peek_step``) reads no row; what the
person then does there (type a code, ask for one) goes through ``load_step``.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass, fields
from typing import Any

from flask import session

from . import clock
from .config import setting
from .session import PARTIAL
from .state import state
from .tokens import hash_secret

SIGN_IN, CONFIRM, ENROL = "sign-in", "confirm", "enrol"


@dataclass
class Step:
    """One pending step. ``identifier`` is the key of its lockout and limits: the
    user's own, so wrong guesses at the public pages never block it."""

    key: str
    auth: str
    first: str
    purpose: str
    at: float
    next: str | None = None
    #: The method the page shows now ("sms", "totp", ...), and for a code it sent:
    channel: str | None = None
    id: int | None = None
    to: str | None = None
    identifier: str = ""
    #: The second factors the page offers (type names, the one to show first first),
    #: as found when a sign-in's step began; None for the other purposes.
    offers: list[str] | None = None


_TYPES = {f.name: f.type for f in fields(Step)}


def _auth_fingerprint(user: Any) -> str:
    return hash_secret("step-auth:" + str(user.get_id()))


def step_identifier(user: Any) -> str:
    return "2fa:" + state().adapter.key_of(user)


def begin_step(
    user: Any, first: str, purpose: str, next_url: str | None, offers: list[str] | None = None
) -> Step:
    """A new step for ``user``, saved in the session (any earlier one is replaced)."""
    step = Step(
        key=state().adapter.key_of(user),
        auth=_auth_fingerprint(user),
        first=first,
        purpose=purpose,
        at=clock.timestamp(),
        next=next_url,
        identifier=step_identifier(user),
        offers=offers,
    )
    save_step(step)
    return step


def save_step(step: Step) -> None:
    session[PARTIAL] = asdict(step)


def clear_step() -> None:
    session.pop(PARTIAL, None)


def peek_step(*purposes: str) -> Step | None:
    """This browser's step, if it is one of ``purposes`` and still fresh, read from
    the session alone: enough to show its page, never to act on it."""
    step = _parse(session.get(PARTIAL))
    if step is None or step.purpose not in purposes:
        return None
    if clock.timestamp() - step.at > setting("TWO_FACTOR_WITHIN"):
        clear_step()
        return None
    return step


def load_step(*purposes: str) -> tuple[Any, Step] | None:
    """The user and step of this browser, if it is one of ``purposes``, still
    fresh, and the account was not signed out everywhere since."""
    step = peek_step(*purposes)
    if step is None:
        return None
    user = _user_of(step.key)
    if user is None or not hmac.compare_digest(step.auth, _auth_fingerprint(user)):
        clear_step()
        return None
    return user, step


def _user_of(key: str) -> Any | None:
    """The step's user, with their authenticators read in the same statement and kept
    for this request (the step asks every type whether the user has it)."""
    found = state().adapter.get_with_authenticators(key)
    if found is None:
        return None
    user, rows = found
    if state().adapter.key_of(user) == key:
        state().authenticators.keep(key, rows)
    return user


def _parse(raw: Any) -> Step | None:
    if not isinstance(raw, dict):
        return None
    try:
        step = Step(**{name: raw[name] for name in _TYPES if name in raw})
    except TypeError:  # a field missing
        return None
    text = (step.key, step.auth, step.first, step.purpose, step.identifier)
    if not all(isinstance(value, str) for value in text):
        return None
    if not isinstance(step.at, (int, float)) or isinstance(step.at, bool):
        return None
    if step.id is not None and (not isinstance(step.id, int) or isinstance(step.id, bool)):
        return None
    for optional in (step.next, step.channel, step.to):
        if optional is not None and not isinstance(optional, str):
            return None
    if step.offers is not None and (
        not isinstance(step.offers, list) or not all(isinstance(n, str) for n in step.offers)
    ):
        return None
    return step
