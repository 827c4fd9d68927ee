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
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import flash, g, request, session
from flask_login import current_user

from . import clock
from .config import setting
from .signals import emit, session_ended, session_started
from .state import state
from .tokens import candidate_hashes, hash_secret

#: The Flask session key holding ``[row id, secret]``.
COOKIE_KEY = "_passwordless_session"
#: Where this request's loaded row is kept (on ``g``).
_CURRENT = "_passwordless_session_row"
#: Why a session ended (the ``reason`` of ``session_ended``).
SIGN_OUT, REVOKED, IDLE, EXPIRED = "sign-out", "revoked", "idle", "expired"
MESSAGES = {
    REVOKED: "This browser was signed out from another session. Please sign in again.",
    IDLE: "You were signed out after a time without activity. Please sign in again.",
    EXPIRED: "You have been signed in for a long time: please sign in again.",
}
MAX_SECRET_LENGTH = 100  # a real one has 43 characters
MAX_ID = 2**31 - 1  # the id column's range: a bigger number must not reach the database
USER_AGENT_LENGTH, ADDRESS_LENGTH = 512, 64


@dataclass
class Current:
    """This request's session row, as loaded (``auth`` is kept up to date)."""

    id: int
    user_key: str
    auth: Any
    created_at: datetime
    last_seen_at: datetime


class Sessions:
    """The session table's service: the only code that writes it. Statements are
    Core statements built once (the loader runs on every signed-in request)."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        self.Session = model
        t = self.table = model.__table__
        this = t.c.id == sa.bindparam("session_id")
        owner = t.c.user_key == sa.bindparam("owner")
        live = t.c.revoked_at.is_(None)
        ended = {"revoked_at": sa.bindparam("now")}
        self._insert = sa.insert(t).returning(t.c.id)
        self._touch = (
            sa.update(t)
            .where(this)
            .values(last_seen_at=sa.bindparam("now"), ip=sa.bindparam("address"))
        )
        self._set_auth = sa.update(t).where(this).values(auth=sa.bindparam("record"))
        self._revoke = sa.update(t).where(this, owner, live).values(ended).returning(t.c.id)
        self._revoke_user = (
            sa.update(t)
            .where(owner, live, t.c.id != sa.bindparam("keep"))
            .values(ended)
            .returning(t.c.id)
        )
        self._of_user = (
            sa.select(t)
            .where(owner, live, *self._alive())
            .order_by(t.c.last_seen_at.desc(), t.c.id.desc())
        )

    def _alive(self) -> list[Any]:
        t = self.table
        return [t.c.expires_at > sa.bindparam("now"), t.c.last_seen_at > sa.bindparam("idle_since")]

    def _run(self, statement: Any, **params: Any) -> Any:
        return self.db.session.execute(statement, params)

    def _apart(self, statement: Any, **params: Any) -> list[Any]:
        """A write on a connection of its own, committed at once: committing the host's
        session instead would commit whatever the host had under way, and expire the
        user just loaded (its next read would cost a statement). The rows it returned."""
        with self.db.engine.begin() as connection:
            result = connection.execute(statement, params)
            return list(result) if result.returns_rows else []

    def add(self, user_key: str, secret: str, record: Any, now: datetime) -> int:
        """Insert a row (apart: sign-in reads the user again otherwise); its id."""
        return self._apart(
            self._insert,
            user_key=user_key,
            secret_hash=hash_secret(secret),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=setting("SESSION_MAX_AGE")),
            ip=client_address(),
            user_agent=user_agent(),
            auth=record,
            revoked_at=None,
        )[0].id

    def touch(self, session_id: int, now: datetime) -> None:
        self._apart(self._touch, session_id=session_id, now=now, address=client_address())

    def end_apart(self, session_id: int, user_key: str, now: datetime) -> bool:
        """Mark a timed-out row ended; True for the one request that did."""
        return bool(self._apart(self._revoke, session_id=session_id, owner=user_key, now=now))

    def set_auth(self, session_id: int, record: Any) -> None:
        self._run(self._set_auth, session_id=session_id, record=record)
        self.db.session.commit()

    def revoke(self, user_key: str, session_id: Any, now: datetime) -> bool:
        """Revoke one of the user's own rows; another user's id revokes nothing."""
        if not _is_id(session_id):
            return False
        won = self._run(self._revoke, session_id=session_id, owner=user_key, now=now).first()
        self.db.session.commit()
        return won is not None

    def revoke_user(self, user_key: str, now: datetime, keep: int | None = None) -> list[int]:
        """Revoke every live row of the user but ``keep``; the ids this call revoked."""
        ids = self._run(self._revoke_user, owner=user_key, now=now, keep=keep or 0).scalars()
        ids = list(ids)
        self.db.session.commit()
        return ids

    def of_user(self, user_key: str, now: datetime) -> list[Any]:
        """The user's live sessions, most recently active first."""
        idle_since = now - timedelta(seconds=setting("SESSION_IDLE_TIMEOUT"))
        return list(self._run(self._of_user, owner=user_key, now=now, idle_since=idle_since))

    def cleanup(self, batch_size: int = 1000) -> int:
        """Delete revoked, expired and idle rows in short keyset-paged batches (as
        ``Secrets.cleanup``): no batch rescans the rows already deleted."""
        t, db_session, total, after = self.table, self.db.session, 0, 0
        now = clock.now()
        idle_since = now - timedelta(seconds=setting("SESSION_IDLE_TIMEOUT"))
        dead = sa.or_(
            t.c.revoked_at.is_not(None), t.c.expires_at <= now, t.c.last_seen_at <= idle_since
        )
        while True:
            ids = list(
                db_session.execute(
                    sa.select(t.c.id).where(t.c.id > after, dead).order_by(t.c.id).limit(batch_size)
                ).scalars()
            )
            if not ids:
                return total
            after = ids[-1]
            db_session.execute(sa.delete(t).where(t.c.id.in_(ids)))
            db_session.commit()
            total += len(ids)


def _clean(value: str | None, limit: int) -> str:
    """Request metadata fit to store and show: no control or format characters
    (PostgreSQL refuses NUL; line breaks forge log lines), at most ``limit`` long.
    (A stand-in for the ``request_info`` helper of another branch.)"""
    if not value:
        return ""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in value[: limit * 2]
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return " ".join(kept.split())[:limit]


def user_agent() -> str:
    return _clean(request.headers.get("User-Agent"), USER_AGENT_LENGTH)


def client_address() -> str | None:
    return _clean(request.remote_addr, ADDRESS_LENGTH) or None


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


def start(user: Any, record: Any) -> Current:
    """A new row for a sign-in that just happened, pointed at by this browser's cookie."""
    now, secret = clock.now(), secrets.token_urlsafe(32)
    user_key = state().adapter.key_of(user)
    new_id = state().sessions.add(user_key, secret, record, now)
    session[COOKIE_KEY] = [new_id, secret]
    row = Current(new_id, user_key, record, now, now)
    setattr(g, _CURRENT, row)
    emit(session_started, user=user, session_id=new_id)
    return row


def load_user(auth_id: str) -> Any | None:
    """Flask-Login's user loader: the user *and* this browser's live session row, in
    one statement. No row, a wrong secret, or a row revoked, idle or too old: nobody.
    So a remember-me cookie (which brings only a user id) signs nobody in either."""
    ref = _cookie_ref()
    if ref is None or not auth_id:
        return None
    found = state().adapter.load_user_and_session(auth_id, ref[0])
    user, row = found if found is not None else (None, None)
    if row is None or not _belongs(user, row, ref[1]):
        session.pop(COOKIE_KEY, None)
        return None
    now = clock.now()
    ended = _ended(row, now)
    if ended is not None:
        session.pop(COOKIE_KEY, None)
        if ended != REVOKED and state().sessions.end_apart(row.id, row.user_key, now):
            emit(session_ended, user=user, session_id=row.id, reason=ended)
        flash(MESSAGES[ended], "info")
        return None
    if (now - row.last_seen_at).total_seconds() >= setting("SESSION_TOUCH_EVERY"):
        state().sessions.touch(row.id, now)
    setattr(g, _CURRENT, Current(row.id, row.user_key, row.auth, row.created_at, now))
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


def end_one(user: Any, session_id: Any) -> bool:
    """Revoke one other session of ``user`` (the sessions page)."""
    if state().sessions.revoke(state().adapter.key_of(user), session_id, clock.now()):
        emit(session_ended, user=user, session_id=session_id, reason=REVOKED)
        return True
    return False


def sessions_of(user: Any) -> list[Any]:
    return state().sessions.of_user(state().adapter.key_of(user), clock.now())
