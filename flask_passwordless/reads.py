"""The adapter's reads of a request, run without opening a transaction of the host's.

A request's first statement opens a transaction on the host's ``db.session``,
and the request's end rolls it back. On PostgreSQL these are two round trips
(BEGIN, then ROLLBACK) around a read that needs neither, and on a signed-in page
they took longer than the read itself. When the session has nothing under way,
the read runs on a connection in autocommit mode instead. The session is then
done with that connection at once: the commit sends nothing, and the objects the
read loaded stay in the session, loaded (not expired), for the host to use and
change as usual. The host's next statement opens its own transaction.

Only where that changes nothing the host could see: PostgreSQL at READ COMMITTED
(its default: each statement sees what was committed before it, in a transaction
or not), and no listener of the session's transaction events (nor of the
engine's ``begin``), which would see the read's own transaction: an ``after_begin``
that sets ``SET LOCAL`` for row-level security, a ``before_commit`` that writes.
``PASSWORDLESS_READS_OUTSIDE_TRANSACTION`` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .config import setting

_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}

#: The session's events that a read apart would fire differently (its own
#: transaction, its connection in autocommit mode, its commit).
_SESSION_EVENTS = (
    "after_transaction_create",
    "after_begin",
    "before_commit",
    "after_commit",
    "after_transaction_end",
)

#: Each engine's isolation level, asked once (its connections all start there).
_levels: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


@contextmanager
def reading(db: Any, mapper: Any) -> Iterator[Session]:
    """The host's session, for a block that only reads rows of ``mapper``'s
    database and fetches every row before it ends."""
    session: Session = db.session()
    if not _may_read_apart(session, mapper):
        yield session
        return
    session.connection(bind_arguments={"mapper": mapper}, execution_options=_AUTOCOMMIT)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()  # nothing to send: the session lets the connection go
    finally:
        session.expire_on_commit = expire


def _may_read_apart(session: Session, mapper: Any) -> bool:
    """Only when the session holds no transaction: then it holds no change either (a
    change, even to an attribute, begins one), so our commit has nothing of the
    host's to flush. Only on an engine's own connections (a Connection as the bind:
    the host's tests joined the session to a transaction of theirs)."""
    if not setting("READS_OUTSIDE_TRANSACTION") or session.in_transaction():
        return False
    if type(session).commit is not Session.commit:
        return False  # a host's own commit might refuse, or do more
    if any(getattr(session.dispatch, event) for event in _SESSION_EVENTS):
        return False
    bind = session.get_bind(mapper)
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql" or bind.dispatch.begin:
        return False
    return _isolation_level(bind) == "READ COMMITTED"


def _isolation_level(engine: Engine) -> str:
    """Where the engine's transactions start: the server's default, the engine's
    ``isolation_level`` or its execution options' (one query, once per engine)."""
    level = _levels.get(engine)
    if level is None:
        with engine.connect() as connection:
            level = str(connection.get_isolation_level())
        _levels[engine] = level
    return level
