"""The app's PostgreSQL tables, created once per pytest process and emptied after each test.

Dropping and creating every table for every PostgreSQL test cost a tenth of a
run (and grew ``pg_attribute`` without end). Instead the tables are built
once, and after each test one ``TRUNCATE ... RESTART IDENTITY CASCADE`` empties
them: the next test starts from empty tables with ids from 1, as before.

The schema is built again (everything in it dropped first) whenever the tables
the metadata declares differ from the ones built, or a test dropped them.
A test that still holds a lock on a table when it ends (a connection left in
a transaction) makes the TRUNCATE wait: ``lock_timeout`` bounds the wait, and
that test fails, naming the reason, rather than the run hanging.

Tables emptied after a test are not emptied again before the next one, unless
something wrote meanwhile: a thread the earlier test left running (a live
server's request, a background send) can still insert after the TRUNCATE. So
``prepare`` first asks, in one round trip, whether every table is still empty
and no id was drawn since (a rolled-back insert still moves its sequence on);
that costs a millisecond where a TRUNCATE costs tens.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

#: How long emptying the tables may wait for a lock a test left behind.
LOCK_TIMEOUT = "10s"


class SharedTables:
    """What this process knows of the tables in the test database's own schema."""

    def __init__(self) -> None:
        self.built: str | None = None  # the fingerprint of the tables as built
        self.empty = False

    def prepare(self, db: SQLAlchemy) -> None:
        """Empty tables for a new app: built if need be, else emptied if used."""
        wanted = fingerprint(db.metadata, db.engine.dialect)
        if wanted != self.built:
            rebuild(db)
            self.built = wanted
        elif not (self.empty and untouched(db)):
            self.empty_tables(db)
        self.empty = False

    def release(self, db: SQLAlchemy) -> None:
        """After a test: empty its tables now, so a test that left a lock fails itself."""
        if self.built != fingerprint(db.metadata, db.engine.dialect):
            self.built = None  # the test declared more tables: build afresh next time
            return
        try:
            self.empty_tables(db)
        except sa.exc.ProgrammingError:  # a test dropped tables (a schema never migrated)
            self.built = None
        except sa.exc.OperationalError as error:
            self.built = None
            end_lock_holders(db)  # so the tests after this one can run
            raise AssertionError(
                f"the test left a lock on its tables (TRUNCATE waited {LOCK_TIMEOUT}): "
                "a connection still in a transaction?"
            ) from error
        else:
            self.empty = True

    def empty_tables(self, db: SQLAlchemy) -> None:
        self.empty = False
        names = ", ".join(
            db.engine.dialect.identifier_preparer.format_table(t) for t in db.metadata.sorted_tables
        )
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def untouched(db: SQLAlchemy) -> bool:
    """No table has a row, and no sequence of the schema gave an id since its restart
    (``pg_sequences.last_value`` is NULL until one is drawn)."""
    sequences = sa.table("pg_sequences", sa.column("schemaname"), sa.column("last_value"))
    drawn = sa.exists().where(
        sequences.c.schemaname == sa.func.current_schema(), sequences.c.last_value.is_not(None)
    )
    rows = [sa.exists().select_from(table) for table in db.metadata.sorted_tables]
    with db.engine.connect() as connection:
        return not connection.execute(sa.select(sa.or_(*rows, drawn))).scalar()


def fingerprint(metadata: sa.MetaData, dialect: sa.Dialect) -> str:
    """A digest of the DDL of every table and index the metadata declares."""
    digest = hashlib.sha256()
    for table in metadata.sorted_tables:
        digest.update(str(sa.schema.CreateTable(table).compile(dialect=dialect)).encode())
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            digest.update(str(sa.schema.CreateIndex(index).compile(dialect=dialect)).encode())
    return digest.hexdigest()


def end_lock_holders(db: SQLAlchemy) -> None:
    """End the other connections that hold a lock on one of the metadata's tables."""
    names = [table.name for table in db.metadata.sorted_tables]
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE pid <> pg_backend_pid() AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND relation IN (SELECT oid FROM pg_class WHERE relname = ANY(:names)"
                " AND relnamespace = current_schema()::regnamespace)"
            ),
            {"names": names},
        )


def rebuild(db: SQLAlchemy) -> None:
    """Drop every table in the schema (the metadata's and any left over), create the metadata's."""
    with db.engine.begin() as connection:
        connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        found = sa.MetaData()
        found.reflect(connection)
        found.drop_all(connection)
        db.metadata.create_all(connection)


SHARED = SharedTables()
