"""Failure lockout per identifier: growing delays, then a cap, and a way out.

Each failed check (wrong code, wrong password) for an email or phone adds one
to its count, atomically in SQL; new codes do not reset it, a success does.
The first ``LOCKOUT_FREE_FAILURES`` cost nothing; after that each failure
doubles a wait (1 s, 2 s, 4 s, ... up to ``LOCKOUT_MAX_DELAY``), as
django-otp does. At ``LOCKOUT_MAX_FAILURES`` consecutive failures (NIST SP
800-63B's cap of 100) checks stop until ``LOCKOUT_RESET_AFTER`` has passed
with no failure.

Sign-in *links* are never locked: they carry 256 random bits, so nobody can
guess one, and they let the real owner in while an attacker hammers codes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import g

from . import clock
from .config import setting
from .errors import PasswordlessError
from .i18n import gettext
from .i18n import lazy_gettext as _l
from .signals import emit, login_locked
from .state import state
from .wording import duration
from .writes import apart, apart_count, later

#: How long a check holds its identifier (a check takes milliseconds).
HOLD = timedelta(seconds=2)
#: The identifiers this request knows to have no row, or whose delete it has queued
#: (on ``g``): forgiving them writes nothing.
_CLEAN = "_passwordless_clean"


class LockedOut(PasswordlessError):
    """Too many failures for this identifier; says when to try again."""

    status = 429
    title = _l("Too many wrong tries")

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            gettext(
                "There were too many wrong tries. Try again in %(wait)s. A sign-in link "
                "from your email is never blocked.",
                wait=duration(self.retry_after, wait=True),
            )
        )


def delay_after(count: int) -> timedelta:
    """The wait imposed after ``count`` consecutive failures."""
    free = setting("LOCKOUT_FREE_FAILURES")
    if count >= setting("LOCKOUT_MAX_FAILURES"):
        return timedelta(seconds=setting("LOCKOUT_RESET_AFTER"))
    if count <= free:
        return timedelta(0)
    return timedelta(seconds=min(2 ** (count - free - 1), setting("LOCKOUT_MAX_DELAY")))


class Failures:
    """The only code that touches the Failure table (Core statements, built once:
    the check runs on every code typed)."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        self.Failure = model
        t = model.__table__
        this = t.c.identifier == sa.bindparam("of_identifier")
        self._status = sa.select(t.c.last_failure_at, t.c.locked_until).where(this)
        self._count = (
            sa.update(t)
            .where(this)
            .values(
                count=sa.case(
                    (t.c.last_failure_at <= sa.bindparam("stale"), 1), else_=t.c.count + 1
                ),
                last_failure_at=sa.bindparam("now"),
            )
            .returning(t.c.count)
        )
        self._first = sa.insert(t)
        # Only while the count is still ours: a first failure sets its wait after its
        # insert is committed, and a later failure's longer wait must not be replaced.
        self._wait = (
            sa.update(t)
            .where(this, t.c.count == sa.bindparam("counted"))
            .values(locked_until=sa.bindparam("until"))
        )
        self._forgive = sa.delete(t).where(this)
        free = sa.or_(
            t.c.locked_until.is_(None),
            t.c.locked_until <= sa.bindparam("now"),
            t.c.last_failure_at <= sa.bindparam("stale"),
        )
        self._hold = sa.update(t).where(this, free).values(locked_until=sa.bindparam("until"))
        self._free = free
        #: ``claim``'s one statement, per database dialect (see ``_claim_upsert``).
        self._claims: dict[str, Any] = {}
        self._release = (
            sa.update(t)
            .where(this, t.c.locked_until == sa.bindparam("held_until"))
            .values(locked_until=None)
        )

    def check_allowed(
        self, identifier: str | None, status: tuple[datetime | None, datetime | None] | None = None
    ) -> None:
        """Raise LockedOut while this identifier must wait. ``status``: its row's
        ``(last_failure_at, locked_until)`` when a joined read brought it (NULLs: no
        row), else it is read here."""
        if not identifier:
            return
        if status is None:
            row = self.db.session.execute(self._status, {"of_identifier": identifier}).first()
            status = (None, None) if row is None else tuple(row)
        last_failure_at, locked_until = status
        if last_failure_at is None:
            g.setdefault(_CLEAN, set()).add(identifier)  # forgive() need not write
            return
        now = clock.now()
        if last_failure_at + timedelta(seconds=setting("LOCKOUT_RESET_AFTER")) <= now:
            return  # a quiet day forgives everything
        if locked_until is not None and locked_until > now:
            raise LockedOut(int((locked_until - now).total_seconds()) + 1)

    def record(self, identifier: str | None) -> int:
        """Count one failure (one statement, no lost updates) and set the wait."""
        if not identifier:
            return 0
        _not_clean(identifier)
        session, now = self.db.session, clock.now()
        stale = now - timedelta(seconds=setting("LOCKOUT_RESET_AFTER"))
        count = session.execute(
            self._count, {"of_identifier": identifier, "stale": stale, "now": now}
        ).scalar()
        if count is None:
            first = {"identifier": identifier, "count": 1, "last_failure_at": now}
            try:
                session.execute(self._first, first)
                session.commit()
            except sa.exc.IntegrityError:  # a parallel first failure inserted it
                session.rollback()
                return self.record(identifier)
            count = 1
        wait = delay_after(count)
        until = now + wait if wait else None
        session.execute(self._wait, {"of_identifier": identifier, "counted": count, "until": until})
        session.commit()
        if count == setting("LOCKOUT_MAX_FAILURES"):
            emit(login_locked, identifier=identifier, failures=count)
        return count

    def claim(self, identifier: str) -> datetime:
        """Hold ``identifier`` for one check, or raise LockedOut.

        For checks whose value has no try count of its own (an app's code, a
        recovery code, a password at the second step): parallel checks of one
        identifier then run one at a time, so none of them is compared before the
        failure of another is counted. The hold is a short ``locked_until``, set by
        one conditional UPDATE (or the row's first INSERT); ``record`` replaces it
        with the real wait, ``forgive`` deletes the row, ``release`` lifts it, and a
        crashed request's hold ends by itself. Returns the hold, for ``release``.
        """
        _not_clean(identifier)
        session, now = self.db.session, clock.now()
        until = now + HOLD
        stale = now - timedelta(seconds=setting("LOCKOUT_RESET_AFTER"))
        params = {"of_identifier": identifier, "now": now, "stale": stale, "until": until}
        dialect = session.get_bind(self.Failure).dialect.name
        if dialect not in self._claims:
            self._claims[dialect] = _claim_upsert(dialect, self.Failure.__table__, self._free)
        upsert = self._claims[dialect]
        if upsert is not None:
            # One statement, committed apart (``writes``): the row's first INSERT, or
            # the hold when it is free; no row back when it is held or locked.
            row = {"identifier": identifier, "count": 0, "last_failure_at": now}
            if apart(self.db, upsert, **params, **row):
                return until
        elif session.execute(self._hold, params).rowcount == 1:
            session.commit()
            return until
        else:
            try:
                first = {"identifier": identifier, "count": 0, "last_failure_at": now}
                session.execute(self._first, {**first, "locked_until": until})
                session.commit()
                return until
            except sa.exc.IntegrityError:  # the row exists, and is held or locked
                session.rollback()
        row = session.execute(self._status, {"of_identifier": identifier}).first()
        wait = (row.locked_until - now).total_seconds() if row and row.locked_until else 0
        raise LockedOut(int(wait) + 1)

    def release(self, identifier: str, held_until: datetime) -> None:
        """Lift this request's hold when its check counted neither way."""
        apart_count(self.db, self._release, of_identifier=identifier, held_until=held_until)

    def forgive(self, identifier: str | None) -> None:
        """A success clears the count (no statement when this request saw none). The
        delete rides with the request's next write, the new session row (``later``):
        until then the row holds only what this request already passed."""
        if identifier and identifier not in g.get(_CLEAN, ()):
            later(self.db, self._forgive, of_identifier=identifier)
            g.setdefault(_CLEAN, set()).add(identifier)  # forgiven once is enough


def _not_clean(identifier: str) -> None:
    """A row for ``identifier`` may exist now (a hold, a failure): ``forgive`` must
    delete it."""
    g.get(_CLEAN, set()).discard(identifier)


def _claim_upsert(dialect: str, t: sa.Table, free: Any) -> Any:
    """``claim`` as one INSERT ... ON CONFLICT DO UPDATE ... WHERE free, on SQLite and
    PostgreSQL (both run it atomically): it returns the row when this request holds
    the identifier, nothing when another check holds it or it is locked. None on
    other databases, which take the UPDATE, then INSERT, path."""
    insert: Any
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    until: sa.BindParameter[Any] = sa.bindparam("until")
    upsert = insert(t).values(
        identifier=sa.bindparam("identifier"),
        count=sa.bindparam("count"),
        last_failure_at=sa.bindparam("last_failure_at"),
        locked_until=until,
    )
    return upsert.on_conflict_do_update(
        index_elements=[t.c.identifier], set_={"locked_until": until}, where=free
    ).returning(t.c.identifier)


def failures() -> Failures:
    return state().failures
