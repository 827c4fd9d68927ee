"""The authenticator table's service: the only code that touches it.

Every type (authenticator apps, recovery codes, later passkeys) keeps its rows
here. A check that must succeed once is one conditional UPDATE, so that any
number of parallel submissions see exactly one winner, on SQLite and on
PostgreSQL: ``advance_counter`` for a TOTP time step, ``use_once`` for a
recovery code.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import g
from sqlalchemy.engine import Row

from ..writes import apart_count

#: Where ``of_user`` keeps this request's rows.
_CACHE = "_passwordless_authenticators"


def _is_id(value: Any) -> bool:
    """Ids come from URLs and forms; anything but a plain int matches no row
    (PostgreSQL would refuse to compare an int column with text), and one past the
    column's range (``/passkeys/<2**63>/remove``) is refused by the driver: a 500."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


class Authenticators:
    """Statements on the table, built once as Core statements with bind parameters
    (checks run on every second step). Each write commits, but removals: they run in
    the user's turn, which commits them (``take_users_turn``)."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        self.Authenticator = model
        t = self.table = model.__table__
        this = t.c.id == sa.bindparam("authenticator_id")
        owner = t.c.user_key == sa.bindparam("owner")
        of_type = t.c.type == sa.bindparam("of_type")
        self._insert = sa.insert(t).returning(t.c.id)
        self._of_user = sa.select(t).where(owner).order_by(t.c.id)
        self._get = sa.select(t).where(this, owner)
        self._by_lookup = sa.select(t).where(t.c.lookup == sa.bindparam("of_lookup"))
        self._rename = sa.update(t).where(this, owner).values(name=sa.bindparam("new_name"))
        self._remove = sa.delete(t).where(this, owner)
        self._remove_type = sa.delete(t).where(owner, of_type)
        self._advance = (
            sa.update(t)
            .where(this, sa.or_(t.c.counter.is_(None), t.c.counter < sa.bindparam("value")))
            .values(counter=sa.bindparam("value"), last_used_at=sa.bindparam("now"))
        )
        self._use_once = (
            sa.update(t)
            .where(this, t.c.last_used_at.is_(None))
            .values(last_used_at=sa.bindparam("now"))
        )
        self._touch = sa.update(t).where(this).values(last_used_at=sa.bindparam("now"))
        self._set_data = sa.update(t).where(this).values(data=sa.bindparam("new_data"))
        self._lock_owner = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("lock_key")))
        # SQLite takes its one write lock at a transaction's first write, even one
        # that changes no row: this is that write.
        self._claim_writer = sa.update(t).where(sa.false()).values(user_key=t.c.user_key)

    def _run(self, statement: Any, **params: Any) -> Any:
        return self.db.session.execute(statement, params)

    def _write(self, statement: Any, **params: Any) -> int:
        """Run one write and commit it apart (``writes``: the user stays loaded); the
        rows it changed."""
        g.pop(_CACHE, None)
        return apart_count(self.db, statement, **params)

    def _row(
        self,
        user_key: str,
        type: str,
        data: dict,
        name: str,
        now: datetime,
        counter: Any,
        lookup: str | None = None,
    ) -> dict[str, Any]:
        return {
            "lookup": lookup,
            "user_key": user_key,
            "type": type,
            "name": name,
            "data": data,
            "counter": counter,
            "created_at": now,
            "last_used_at": None,
        }

    def add(
        self,
        user_key: str,
        type: str,
        data: dict,
        *,
        name: str = "",
        now: datetime,
        counter: int | None = None,
        lookup: str | None = None,
    ) -> int:
        """Enrol one authenticator; returns its id. ``counter`` starts a TOTP app at
        the step that confirmed it, so that code cannot sign in afterwards;
        ``lookup`` is unique (a passkey's credential id, hashed)."""
        row = self._row(user_key, type, data, name, now, counter, lookup)
        new_id = self._run(self._insert, **row).scalar_one()
        g.pop(_CACHE, None)
        self.db.session.commit()
        return new_id

    def replace_type(
        self, user_key: str, type: str, datas: list[dict], *, now: datetime
    ) -> list[int]:
        """Remove the user's rows of one type and add new ones, in one transaction:
        nobody ever sees a moment with both sets, or with neither.

        Of parallel replacements one set wins: they take turns (``_take_turn``), and
        each DELETE then sees the rows the one before it committed.
        """
        g.pop(_CACHE, None)
        self._take_turn(user_key, type)
        self._run(self._remove_type, owner=user_key, of_type=type)
        ids = [
            self._run(self._insert, **self._row(user_key, type, data, "", now, None)).scalar_one()
            for data in datas
        ]
        self.db.session.commit()
        return ids

    def _take_turn(self, user_key: str, type: str) -> None:
        """Wait, until this transaction ends, for any other replacing this user's rows
        of ``type``. On PostgreSQL (READ COMMITTED) a DELETE started while another
        transaction inserts misses its rows, and both sets stayed live: a
        transaction-scoped advisory lock on (user, type) puts them in turn. SQLite
        already lets one writer at a time."""
        if self._dialect() == "postgresql":
            self._lock(f"authenticators\x00{type}\x00{user_key}")

    def take_users_turn(self, user_key: str) -> None:
        """Wait, until this transaction ends, for any other change of this user's second
        steps (``factor_removal``): reads after this see what the one before committed.

        PostgreSQL: a transaction-scoped advisory lock per user. SQLite: its write lock,
        taken now rather than at the first real write, since the decision is made on
        reads before it. The writes in the turn must run on this session (not apart):
        on SQLite another connection would wait for this one's lock.
        """
        g.pop(_CACHE, None)
        if self._dialect() == "postgresql":
            # Reads after the lock must see what the one before committed: a fresh
            # READ COMMITTED transaction, whatever the engine's level (at REPEATABLE
            # READ the snapshot predates the wait, and the turn decides on old rows).
            session = self.db.session
            if session.connection().get_isolation_level() != "READ COMMITTED":
                session.commit()
                session.connection(execution_options={"isolation_level": "READ COMMITTED"})
            self._lock(f"second steps\x00{user_key}")
        else:
            self._run(self._claim_writer)

    def _dialect(self) -> str:
        return str(self.db.session.get_bind().dialect.name)

    def _lock(self, name: str) -> None:
        digest = hashlib.sha256(name.encode()).digest()
        self._run(self._lock_owner, lock_key=int.from_bytes(digest[:8], "big", signed=True))

    def of_user(self, user_key: str, type: str | None = None) -> list[Row]:
        """The user's authenticators (of one type, when given), oldest first.

        Read once per request and kept on ``g`` until the next write: the second
        step asks every type whether the user has it, and which was used last.
        A check never trusts these rows to decide a use: the conditional UPDATE
        does (``advance_counter``, ``use_once``).
        """
        cache = g.setdefault(_CACHE, {})
        rows = cache.get(user_key)
        if rows is None:
            rows = cache[user_key] = list(self._run(self._of_user, owner=user_key))
        return [row for row in rows if type is None or row.type == type]

    def keep(self, user_key: str, rows: list[Row] | None) -> None:
        """Take ``rows`` as this request's read of the user's authenticators (read
        with the user: ``UserAdapter.get_with_authenticators``); None keeps nothing."""
        if rows is not None:
            g.setdefault(_CACHE, {})[user_key] = list(rows)

    def get(self, user_key: str, authenticator_id: Any) -> Row | None:
        """One of the user's own authenticators; another user's id finds nothing."""
        if not _is_id(authenticator_id):
            return None
        return self._run(self._get, authenticator_id=authenticator_id, owner=user_key).first()

    def find(self, lookup: str) -> Row | None:
        """The row with this ``lookup`` (one indexed read), whoever owns it: the
        caller checks the owner."""
        return self._run(self._by_lookup, of_lookup=lookup).first()

    def rename(self, user_key: str, authenticator_id: Any, name: str) -> bool:
        """Rename one of the user's own authenticators; False when there was none."""
        if not _is_id(authenticator_id):
            return False
        params = {"authenticator_id": authenticator_id, "owner": user_key, "new_name": name}
        return self._write(self._rename, **params) == 1

    def remove(self, user_key: str, authenticator_id: Any) -> bool:
        """Delete one of the user's own authenticators; False when there was none. On
        the session, uncommitted: it runs in the user's turn (``take_users_turn``),
        whose end commits it."""
        if not _is_id(authenticator_id):
            return False
        g.pop(_CACHE, None)
        params = {"authenticator_id": authenticator_id, "owner": user_key}
        return self._run(self._remove, **params).rowcount == 1

    def remove_type(self, user_key: str, type: str) -> int:
        """Delete every authenticator of one type the user has; returns how many. On
        the session, uncommitted, as ``remove``."""
        g.pop(_CACHE, None)
        return int(self._run(self._remove_type, owner=user_key, of_type=type).rowcount)

    def advance_counter(self, authenticator_id: int, value: int, now: datetime) -> bool:
        """Move the counter forward to ``value``: True for the one caller that did.

        Refused when the counter is already at or past it, so a TOTP time step
        is accepted at most once and never after a later one.
        """
        return (
            self._write(self._advance, authenticator_id=authenticator_id, value=value, now=now) == 1
        )

    def use_once(self, authenticator_id: int, now: datetime) -> bool:
        """Mark a single-use authenticator (a recovery code) used: True for the one
        caller that did."""
        return self._write(self._use_once, authenticator_id=authenticator_id, now=now) == 1

    def touch(self, authenticator_id: int, now: datetime) -> None:
        """Record a use of an authenticator that may be used many times."""
        self._write(self._touch, authenticator_id=authenticator_id, now=now)

    def set_data(self, authenticator_id: int, data: dict) -> None:
        """Replace a row's data (a TOTP secret sealed again under the current key)."""
        self._write(self._set_data, authenticator_id=authenticator_id, new_data=data)
