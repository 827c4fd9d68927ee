"""Writes committed on a connection of their own, apart from the host's session.

Committing the host's ``db.session`` from inside a sign-in would commit whatever
the host had under way, and expire every object it holds: the user just loaded
would be read again (one more statement) at its next attribute. The short
writes of sign-in (the session row, the lockout hold, a time step, a forgiven
count) go here instead: one transaction each, committed at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row


def apart(db: Any, statement: Any, **params: Any) -> list[Row]:
    """Run one write in its own transaction and commit it; the rows it returned."""
    with db.engine.begin() as connection:
        result = connection.execute(statement, params)
        return list(result) if result.returns_rows else []


def apart_count(db: Any, statement: Any, **params: Any) -> int:
    """``apart`` for a write without RETURNING: the rows it changed."""
    with db.engine.begin() as connection:
        return connection.execute(statement, params).rowcount
