"""Server-side sessions: one row per signed-in browser; the cookie only points at it.

Flask's signed cookie alone cannot be taken back: a copy of it keeps working
after sign-out for as long as its signature is valid. So the cookie holds only
a row's id and a secret, and the row decides (revoked, idle, too old). Every
signed-in request reads the row in the user loader's own statement
(``UserAdapter.load_user_and_session``) and writes ``last_seen_at`` at most
once per PASSWORDLESS_SESSION_TOUCH_EVERY, so most requests write nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import flash, g, session
from flask_login import current_user

from . import clock, request_info
from .config import setting
from .i18n import lazy_gettext
from .signals import emit, session_ended, session_started
from .state import state
from .tokens import candidate_hashes, hash_secret

log = logging.getLogger(__name__)

#: The Flask session key holding ``[row id, secret]``.
COOKIE_KEY = "_passwordless_session"
#: Where this request's loaded row is kept (on ``g``).
_CURRENT = "_passwordless_session_row"
#: Why a session ended (the ``reason`` of ``session_ended``).
SIGN_OUT, REVOKED, IDLE, EXPIRED = "sign-out", "revoked", "idle", "expired"
#: Flashed by the request that finds its session ended (a protected page then adds
#: Flask-Login's "Please sign in to see this page." on its way to sign-in).
MESSAGES = {
    REVOKED: lazy_gettext("This browser was signed out from another session."),
    IDLE: lazy_gettext("You were signed out after a time without activity."),
    EXPIRED: lazy_gettext("You were signed out: you had been signed in for a long time."),
}
MAX_SECRET_LENGTH = 100  # a real one has 43 characters
MAX_ID = 2**31 - 1  # the id column's range: a bigger number must not reach the database


@dataclass
class Current:
    """This request's session row, as loaded (``auth`` is kept up to date)."""

    id: int
    user_key: str
    #: The auth record, or the JSON text it was read as: parsed when first asked
    #: for, since most signed-in pages never ask.
    raw_auth: Any
    #: Parsed once: a record that is itself a JSON string must not be parsed again.
    parsed: bool = False

    @property
    def auth(self) -> Any:
        if not self.parsed:
            if isinstance(self.raw_auth, str):
                self.raw_auth = auth_from_text(self.raw_auth, self.id)
            self.parsed = True
        return self.raw_auth

    @auth.setter
    def auth(self, record: Any) -> None:
        self.raw_auth, self.parsed = record, True


def auth_from_text(text: str | None, session_id: int) -> Any:
    """A row's auth record from its JSON text; None when it is not JSON (SQLite keeps
    any text): no record, so a page that needs one asks to confirm again."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        log.warning("flask-passwordless: session %s: auth is not JSON", session_id)
        return None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _cookie_ref() -> tuple[int, str] | None:
    """This browser's ``(row id, secret)``; None when absent or malformed."""
    raw = session.get(COOKIE_KEY)
    if not isinstance(raw, list) or len(raw) != 2:
        return None
    row_id, secret = raw
    if not _is_id(row_id):
        return None
    if not isinstance(secret, str) or not 0 < len(secret) <= MAX_SECRET_LENGTH:
        return None
    return row_id, secret


@dataclass(frozen=True)
class Opened:
    """A new row that no browser points at yet (``start`` gives it to this one)."""

    id: int
    secret: str
    user_key: str
    record: Any


def open_row(user: Any, record: Any) -> Opened:
    """Write the row of a sign-in about to happen. Apart from ``start`` so that a
    quick check's transaction can carry it (``writes.together``): it writes only
    our own row, and sends no signal."""
    now, secret = clock.now(), secrets.token_urlsafe(32)
    user_key = state().adapter.key_of(user)
    new_id = state().sessions.add(
        user_key=user_key,
        secret_hash=hash_secret(secret),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=setting("SESSION_MAX_AGE")),
        ip=request_info.client_address(),
        user_agent=request_info.user_agent(),
        auth=record,
        revoked_at=None,
    )
    return Opened(new_id, secret, user_key, record)


def start(user: Any, opened: Opened) -> Current:
    """Point this browser's cookie at the row of the sign-in that just happened."""
    session[COOKIE_KEY] = [opened.id, opened.secret]
    row = Current(opened.id, opened.user_key, opened.record, parsed=True)
    setattr(g, _CURRENT, row)
    emit(session_started, user=user, session_id=opened.id)
    return row


def discard(opened: Opened) -> None:
    """End a row that never reached its browser (its sign-in failed after it was
    written), so that it is not listed as a signed-in browser."""
    state().sessions.end_apart(opened.id, opened.user_key, clock.now())


def load_user(auth_id: str) -> Any | None:
    """Flask-Login's user loader: the user *and* this browser's live session row, in
    one statement. No row, a wrong secret, or a row revoked, idle or too old: nobody.
    So a remember-me cookie (which brings only a user id) signs nobody in either."""
    ref = _cookie_ref()
    if ref is None or not auth_id:
        return None
    session_id, secret = ref
    found = state().adapter.load_user_and_session(auth_id, session_id)
    user, row = found if found is not None else (None, None)
    if row is None or not _belongs(user, row, secret):
        session.pop(COOKIE_KEY, None)
        return None
    now = clock.now()
    ended = _ended(row, now)
    if ended is not None:
        session.pop(COOKIE_KEY, None)
        if ended != REVOKED and state().sessions.end_apart(session_id, row.user_key, now):
            emit(session_ended, user=user, session_id=session_id, reason=ended)
        flash(str(MESSAGES[ended]), "info")  # a lazy string cannot go into the session
        return None
    if (now - row.last_seen_at).total_seconds() >= setting("SESSION_TOUCH_EVERY"):
        state().sessions.touch(session_id, now, request_info.client_address())
    # A host's own ``load_user_and_session`` may hand back the row itself (``auth``).
    raw_auth = row.auth_text if hasattr(row, "auth_text") else row.auth
    setattr(g, _CURRENT, Current(session_id, row.user_key, raw_auth))
    return user


def _belongs(user: Any, row: Any, secret: str) -> bool:
    if row.user_key != state().adapter.key_of(user):
        return False
    return any(hmac.compare_digest(h, row.secret_hash) for h in candidate_hashes(secret))


def _ended(row: Any, now: datetime) -> str | None:
    if row.revoked_at is not None:
        return REVOKED
    too_old = now - row.created_at > timedelta(seconds=setting("SESSION_MAX_AGE"))
    if too_old or now >= row.expires_at:
        return EXPIRED
    if (now - row.last_seen_at).total_seconds() > setting("SESSION_IDLE_TIMEOUT"):
        return IDLE
    return None


def current() -> Current | None:
    """This browser's live session row, if it is signed in."""
    if not current_user.is_authenticated:
        return None
    return g.get(_CURRENT)


def save_auth(record: Any) -> None:
    """Write the auth record to this browser's row (a confirm-it-is-you proof)."""
    row = current()
    if row is not None:
        row.auth = record
        state().sessions.set_auth(row.id, record)


def end_this(user: Any, reason: str = SIGN_OUT) -> None:
    """Revoke this browser's row (sign-out)."""
    row = g.get(_CURRENT)
    if row is None:
        return
    setattr(g, _CURRENT, None)
    if state().sessions.revoke(row.user_key, row.id, clock.now()):
        emit(session_ended, user=user, session_id=row.id, reason=reason)


def end_others(user: Any) -> int:
    """Revoke every other session of ``user``; this one stays. How many ended."""
    row = current()
    ended = state().sessions.revoke_user(
        state().adapter.key_of(user), clock.now(), keep=row.id if row else None
    )
    for session_id in ended:
        emit(session_ended, user=user, session_id=session_id, reason=REVOKED)
    return len(ended)


def end_all(user: Any) -> None:
    """Revoke every session of ``user``, this browser's too."""
    for session_id in state().sessions.revoke_user(state().adapter.key_of(user), clock.now()):
        emit(session_ended, user=user, session_id=session_id, reason=REVOKED)


def end_one(user: Any, session_id: Any) -> bool:
    """Revoke one session of ``user`` (the sessions page); ids come from URLs."""
    if not _is_id(session_id):
        return False
    if state().sessions.revoke(state().adapter.key_of(user), session_id, clock.now()):
        emit(session_ended, user=user, session_id=session_id, reason=REVOKED)
        return True
    return False


def _idle_since(now: datetime) -> datetime:
    return now - timedelta(seconds=setting("SESSION_IDLE_TIMEOUT"))


def sessions_of(user: Any) -> list[Any]:
    """The user's live sessions, most recently active first."""
    now = clock.now()
    return state().sessions.live_of(state().adapter.key_of(user), now, _idle_since(now))


def cleanup(batch_size: int = 1000) -> int:
    """Delete revoked, expired and idle session rows in short batches."""
    now = clock.now()
    return state().sessions.cleanup(now, _idle_since(now), batch_size)
