"""``flask passwordless cleanup`` on a million dead rows in PostgreSQL.

The rows go in with one ``INSERT ... SELECT generate_series`` (seconds, not
minutes); the command must delete every dead row, keep every live one, and do
it in short statements, so no lock is held for long. "Short" is checked by what
makes it so, not by a clock: every DELETE removes at most one batch, the number
of statements follows the number of batches, and PostgreSQL's plan for the
batch query walks the primary key instead of scanning the table. The test
prints the total time, the number of statements and the longest one.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from pg_schema import isolated_schema, url_string

from apps import create_app, db
from conftest import POSTGRES_URL, skip_tier
from flask_passwordless.clock import utcnow

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DEAD = 1_000_000
EVERY = 1001  # one live row in every 1001: 1,000 live rows among the dead
TOTAL = DEAD + DEAD // (EVERY - 1)
#: The command's default batch (``flask passwordless cleanup --batch-size``).
BATCH = 1000

FILL = sa.text(
    """
    INSERT INTO passwordless_secret
        (purpose, identifier, token_hash, code_hash, next_url,
         created_at, expires_at, consumed_at, attempts)
    SELECT
        CASE WHEN i % 2 = 0 THEN 'login' ELSE 'sms' END,
        'user' || (i % 5000) || '@example.com',
        CASE WHEN i % 2 = 0 THEN md5(i::text) || md5('t' || i) END,
        md5('c' || i) || md5('d' || i),
        NULL,
        :now - interval '2 days',
        CASE
            WHEN i % :every = 0 THEN :now + interval '1 hour'   -- live
            WHEN i % 3 = 0 THEN :now + interval '1 hour'        -- used, not yet expired
            ELSE :now - interval '1 day'                        -- expired, never used
        END,
        CASE WHEN i % :every <> 0 AND i % 3 = 0 THEN :now - interval '1 day' END,
        0
    FROM generate_series(1, :total) AS i
    """
)


@pytest.fixture
def app():
    if not POSTGRES_URL:
        skip_tier("PASSWORDLESS_TEST_DATABASE_URL is not set")
    with isolated_schema(POSTGRES_URL, "cleanup") as url:
        app = create_app(url_string(url))
        with app.app_context():
            db.create_all()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


class StatementTimer:
    """Times every statement on an engine (SQLAlchemy's cursor-execute events)."""

    def __init__(self) -> None:
        self.timings: list[tuple[float, str]] = []
        self.deleted: list[int] = []

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def after(self, conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - conn.info["started"].pop()
        self.timings.append((elapsed, " ".join(statement.split())[:90]))
        if statement.lstrip().upper().startswith("DELETE"):
            self.deleted.append(cursor.rowcount)

    def attach(self, engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    def detach(self, engine) -> None:
        sa.event.remove(engine, "before_cursor_execute", self.before)
        sa.event.remove(engine, "after_cursor_execute", self.after)


def test_cleanup_of_a_million_dead_rows_in_short_statements(app, capsys):
    now = utcnow()
    started = time.perf_counter()
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(FILL, {"now": now, "every": EVERY, "total": TOTAL})
            connection.execute(sa.text("ANALYZE passwordless_secret"))
            live = connection.execute(
                sa.text(
                    "SELECT id FROM passwordless_secret "
                    "WHERE consumed_at IS NULL AND expires_at > :now ORDER BY id"
                ),
                {"now": now},
            ).scalars()
            live = list(live)
        engine = db.engine
    filled = time.perf_counter() - started
    assert len(live) == TOTAL - DEAD == 1000

    timer = StatementTimer()
    timer.attach(engine)
    try:
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=["passwordless", "cleanup"])
        took = time.perf_counter() - started
    finally:
        timer.detach(engine)
    assert result.exit_code == 0, result.output
    assert f"Removed {DEAD} used or expired secrets." in result.output

    with app.app_context(), db.engine.connect() as connection:
        left = connection.execute(sa.text("SELECT id FROM passwordless_secret ORDER BY id"))
        assert list(left.scalars()) == live  # every live row stayed, every dead one went

    longest, statement = max(timer.timings)
    with capsys.disabled():
        print(
            f"\ncleanup: {DEAD:,} dead rows (+{len(live):,} live) inserted in {filled:.1f}s; "
            f"`flask passwordless cleanup` took {took:.1f}s in {len(timer.timings):,} "
            f"statements, longest {longest * 1000:.0f} ms: {statement}"
        )
    assert max(timer.deleted) <= BATCH  # no statement deletes more than one batch
    assert sum(timer.deleted) == DEAD
    batches = -(-DEAD // BATCH)
    assert len(timer.deleted) <= batches + 3  # secrets, devices, sessions: one last page each
    assert len(timer.timings) <= 2 * batches + 20

    with app.app_context(), db.engine.connect() as connection:
        plan = connection.execute(
            sa.text(
                "EXPLAIN SELECT id FROM passwordless_secret WHERE id > :after "
                "AND (consumed_at IS NOT NULL OR expires_at <= :now) ORDER BY id LIMIT :batch"
            ),
            {"after": live[len(live) // 2], "now": now, "batch": BATCH},
        )
        plan = "\n".join(plan.scalars())
    assert "Index" in plan and "Seq Scan" not in plan, plan
