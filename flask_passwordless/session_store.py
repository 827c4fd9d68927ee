"""The only code that writes the session table (``server_sessions`` is its logic).

Core statements on the table, built once with bind parameters, as in
``tokens.Secrets``: the row is touched by signed-in requests. The row is read
in the user loader's own statement (``UserAdapter.load_user_and_session``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from .batches import delete_in_batches
from .writes import apart


def auth_text(t: sa.Table) -> Any:
    """The auth record as its JSON text (``auth_text``), parsed only where a page asks
    (``server_sessions.auth_from_text``): SQLite keeps any text in the column, and a
    row that is not JSON must not fail the page that reads it."""
    return sa.cast(t.c.auth, sa.Text).label("auth_text")


class Sessions:
    """The session rows of one app: added, touched, revoked, listed, cleaned up."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        t = self.table = model.__table__
        this = t.c.id == sa.bindparam("session_id")
        owner = t.c.user_key == sa.bindparam("owner")
        live = t.c.revoked_at.is_(None)
        ended: dict[str, Any] = {"revoked_at": sa.bindparam("now")}
        self._insert = sa.insert(t).returning(t.c.id)
        self._touch = (
            sa.update(t)
            .where(this)
            .values(last_seen_at=sa.bindparam("now"), ip=sa.bindparam("from_ip"))
        )
        self._set_auth = sa.update(t).where(this).values(auth=sa.bindparam("record"))
        self._revoke = sa.update(t).where(this, owner, live).values(ended).returning(t.c.id)
        self._revoke_user = (
            sa.update(t)
            .where(owner, live, t.c.id != sa.bindparam("keep"))
            .values(ended)
            .returning(t.c.id)
        )
        alive = (
            t.c.expires_at > sa.bindparam("now"),
            t.c.last_seen_at > sa.bindparam("idle_since"),
        )
        listed = [*(c for c in t.c if c.name != "auth"), auth_text(t)]
        self._live_of = (
            sa.select(*listed)
            .where(owner, live, *alive)
            .order_by(t.c.last_seen_at.desc(), t.c.id.desc())
        )
        self.table = t
        self._dead = sa.or_(
            t.c.revoked_at.is_not(None),
            t.c.expires_at <= sa.bindparam("now"),
            t.c.last_seen_at <= sa.bindparam("idle_since"),
        )

    def _run(self, statement: Any, **params: Any) -> Any:
        return self.db.session.execute(statement, params)

    def _apart(self, statement: Any, **params: Any) -> list[Row]:
        """The writes of sign-in and of the user loader: committed apart (``writes``)."""
        return apart(self.db, statement, **params)

    def add(self, **values: Any) -> int:
        """A new row; its id."""
        return self._apart(self._insert, **values)[0].id

    def touch(self, session_id: int, now: datetime, ip: str | None) -> None:
        self._apart(self._touch, session_id=session_id, now=now, from_ip=ip)

    def end_apart(self, session_id: int, user_key: str, now: datetime) -> bool:
        """Mark a timed-out row ended, from the loader; True for the one request that did."""
        return bool(self._apart(self._revoke, session_id=session_id, owner=user_key, now=now))

    def set_auth(self, session_id: int, record: Any) -> None:
        self._run(self._set_auth, session_id=session_id, record=record)
        self.db.session.commit()

    def revoke(self, user_key: str, session_id: int, now: datetime) -> bool:
        """Revoke one of the user's own rows (another user's id matches nothing);
        True for the one caller that did."""
        won = self._run(self._revoke, session_id=session_id, owner=user_key, now=now).first()
        self.db.session.commit()
        return won is not None

    def revoke_user(self, user_key: str, now: datetime, keep: int | None = None) -> list[int]:
        """Revoke every live row of the user but ``keep``; the ids this call revoked."""
        ids = list(self._run(self._revoke_user, owner=user_key, now=now, keep=keep or 0).scalars())
        self.db.session.commit()
        return ids

    def live_of(self, user_key: str, now: datetime, idle_since: datetime) -> list[Row]:
        """The user's live sessions, most recently active first."""
        return list(self._run(self._live_of, owner=user_key, now=now, idle_since=idle_since))

    def cleanup(self, now: datetime, idle_since: datetime, batch_size: int = 1000) -> int:
        """Delete revoked, expired and idle rows in short batches (``batches``)."""
        params = {"now": now, "idle_since": idle_since}
        return delete_in_batches(self.db, self.table, self._dead, params, batch_size)
