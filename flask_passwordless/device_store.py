"""The only code that touches the remembered-device table.

Core statements on the table, built once with bind parameters, as in
``tokens.Secrets``: a remembered device is looked up on every sign-in that
would otherwise ask for the second step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from .batches import delete_in_batches


class Devices:
    """The device rows of one app: looked up, added, touched, revoked, cleaned up."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        t = model.__table__
        this = t.c.id == sa.bindparam("device_id")
        live = sa.and_(t.c.revoked_at.is_(None), t.c.expires_at > sa.bindparam("now"))
        self._get = sa.select(t).where(this)
        self._insert = sa.insert(t).returning(*t.c)
        self._live_of = (
            sa.select(t)
            .where(t.c.user_key == sa.bindparam("owner"), live)
            .order_by(t.c.last_used_at.desc())
        )
        self._touch = (
            sa.update(t)
            .where(this)
            .values(last_used_at=sa.bindparam("now"), ip=sa.bindparam("from_ip"))
        )
        self._revoke = (
            sa.update(t)
            .where(t.c.id.in_(sa.bindparam("ids", expanding=True)), t.c.revoked_at.is_(None))
            .values(revoked_at=sa.bindparam("now"))
            .returning(t.c.id)
        )
        self.table = t
        self._dead = sa.or_(t.c.revoked_at.is_not(None), t.c.expires_at <= sa.bindparam("now"))

    def _run(self, statement: Any, **params: Any) -> Any:
        return self.db.session.execute(statement, params)

    def get(self, device_id: int) -> Row | None:
        return self._run(self._get, device_id=device_id).first()

    def add(self, **values: Any) -> Row:
        row = self._run(self._insert, **values).one()
        self.db.session.commit()
        return row

    def live_of(self, user_key: str, now: datetime) -> list[Row]:
        """The user's devices that still skip the second step, most recent first."""
        return list(self._run(self._live_of, owner=user_key, now=now))

    def touch(self, device_id: int, now: datetime, ip: str | None) -> None:
        self._run(self._touch, device_id=device_id, now=now, from_ip=ip)
        self.db.session.commit()

    def revoke(self, ids: list[int], now: datetime) -> set[int]:
        """Revoke these rows; the ids this call revoked (a parallel call gets the rest)."""
        won = set(self._run(self._revoke, ids=ids, now=now).scalars())
        self.db.session.commit()
        return won

    def cleanup(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete expired and revoked rows in short batches (``batches``)."""
        return delete_in_batches(self.db, self.table, self._dead, {"now": now}, batch_size)
