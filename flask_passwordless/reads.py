"""The adapter's reads of a request, run without opening a transaction of the host's.

A request's first statement opens a transaction on the host's ``db.session``,
and the request's end rolls it back. On PostgreSQL these are two round trips
(BEGIN, then ROLLBACK) around a read that needs neither, and on a signed-in page
they took longer than the read itself. When the session has nothing under way,
the read runs on a connection in autocommit mode instead. The session is then
done with that connection at once: the commit sends nothing, and the objects the
read loaded stay in the session, loaded (not expired), for the host to use and
change as usual. The host's next statement opens its own transaction.

SQLite is left as it is: its driver begins a transaction only before a write, so
a read there has no round trip to save. ``PASSWORDLESS_READS_OUTSIDE_TRANSACTION``
turns this off, for a host whose session events must see every read (a
``SET LOCAL`` in ``after_begin``, say).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .config import setting

_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


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
    host's to flush. And only on an engine's own connections (not SQLite's)."""
    if not setting("READS_OUTSIDE_TRANSACTION") or session.in_transaction():
        return False
    bind = session.get_bind(mapper)
    # A Connection as the bind: the host's tests joined the session to a transaction
    # of their own, which the read must stay inside.
    return isinstance(bind, Engine) and bind.dialect.name != "sqlite"
