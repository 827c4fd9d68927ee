"""Writes committed on a connection of their own, apart from the host's session.

Committing the host's ``db.session`` from inside a sign-in would commit whatever
the host had under way, and expire every object it holds: the user just loaded
would be read again (one more statement) at its next attribute. The short
writes of sign-in (the session row, the lockout hold, a time step, a forgiven
count) go here instead: one transaction each, committed at once.

Each commit is a disk flush, and on a sign-in the flushes, not Python, were
most of the time. So a write that nothing waits for (a forgiven count) rides
along with the next one (``later``), and the writes of one short check (a
lockout hold and the time step it let through) share one transaction
(``together``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

_LATER = "_passwordless_later_writes"
_SHARED = "_passwordless_shared_write"


def apart(db: Any, statement: Any, **params: Any) -> list[Row]:
    """Run one write in its own transaction and commit it; the rows it returned."""
    with _transaction(db) as connection:
        result = connection.execute(statement, params)
        return list(result) if result.returns_rows else []


def apart_count(db: Any, statement: Any, **params: Any) -> int:
    """``apart`` for a write without RETURNING: the rows it changed."""
    with _transaction(db) as connection:
        count: int = connection.execute(statement, params).rowcount
        return count


@contextmanager
def together(db: Any) -> Iterator[None]:
    """The block's ``apart`` writes share one transaction, committed when it ends
    (rolled back if it raises: writes waiting from before it, ``later``, are
    committed first, so they never go down with it, and ``later`` writes queued
    inside it go down with it). Only around code that writes nothing through the
    host's session: on SQLite such a write would wait for this block's lock."""
    if g.get(_SHARED) is not None:
        yield  # already inside one: its transaction holds these writes too
        return
    if any(entry[0] is db for entry in g.get(_LATER, ())):
        with db.engine.begin() as connection:  # kept, whatever the block does
            _run_waiting(db, connection)
    before = len(g.get(_LATER, ()))
    with db.engine.begin() as connection:
        setattr(g, _SHARED, (db, connection))
        try:
            yield
        except BaseException:
            if _LATER in g:  # what the block queued belongs to it
                del g.get(_LATER)[before:]
            raise
        finally:
            g.pop(_SHARED, None)


def later(db: Any, statement: Any, **params: Any) -> None:
    """Commit this write with the next ``apart`` one of this app context (before it,
    in its transaction), or when the context ends (``flush``). For writes whose
    result nobody reads and that may wait the rest of a request."""
    g.setdefault(_LATER, []).append((db, statement, params))


def flush(_exc: BaseException | None = None) -> None:
    """The app context is ending: commit the writes still waiting (teardown hook).
    One that fails is logged, not raised: the answer has gone, and each of these
    writes only forgets something (a count that then lasts until its own expiry)."""
    for db in {id(entry[0]): entry[0] for entry in g.get(_LATER, ())}.values():
        try:
            with db.engine.begin() as connection:
                _run_waiting(db, connection)
        except SQLAlchemyError:
            log.exception("flask-passwordless: a deferred write failed")


@contextmanager
def _transaction(db: Any) -> Iterator[Connection]:
    """The block ``together`` holds open for ``db``, else a new one committed at the
    end; either way with the writes waiting for ``db`` run first."""
    shared = g.get(_SHARED)
    if shared is not None and shared[0] is db:
        _run_waiting(db, shared[1])
        yield shared[1]
        return
    with db.engine.begin() as connection:
        _run_waiting(db, connection)
        yield connection


def _run_waiting(db: Any, connection: Connection) -> None:
    """Run on ``connection`` the waiting writes to ``db``, in the order they came."""
    waiting = g.pop(_LATER, None)
    if not waiting:
        return
    others = [entry for entry in waiting if entry[0] is not db]
    if others:
        g.setdefault(_LATER, []).extend(others)
    for entry in waiting:
        if entry[0] is db:
            connection.execute(entry[1], entry[2])
