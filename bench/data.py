"""Databases for the bench: one per app kind and size, filled in bulk.

SQLite files live in the run's temp dir; large ones are built once and cached
under the system temp dir (keyed by the tables' DDL), then copied per run.
PostgreSQL gets one schema per kind and size, created here and dropped after.

Rows go in with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), never one
ORM object at a time. Every table is filled from its own column list: known
columns get bench values, others their scalar default or NULL, so a model
change does not break the bench (it only rebuilds the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from . import apps

SEED_VERSION = "5"
CHUNK = 20_000
DOMAIN = "bench.example"
CACHE_DIR = Path(tempfile.gettempdir()) / "flask-passwordless-bench"
SCHEMA_PREFIX = "pwl_bench_"


def email_of(user_id: int) -> str:
    return f"user{user_id:08d}@{DOMAIN}"


def pool_ids(size: int, pool: int) -> list[int]:
    """User ids that sign in during the bench, spread over the whole table."""
    pool = min(pool, size)
    return [1 + (k * size) // pool for k in range(pool)]


def totp_ids(size: int) -> list[int]:
    """The users who sign in with a password and an authenticator app: each the
    one after an email-flow user, so the email flows' users stay as they were
    (FST would ask an email sign-in of a two-factor user for the second step)."""
    return [i + 1 for i in pool_ids(size, POOL) if i + 1 <= size]


@dataclass
class Database:
    kind: str
    size: int
    backend: str  # "sqlite" or "postgresql"
    url: str
    schema: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend} {human(self.size)}"


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# -- row values -------------------------------------------------------------


def _stamp(dt: datetime) -> str:
    """How SQLAlchemy stores a DateTime in SQLite (text compares correctly)."""
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _user_values(kind: str, fst_secret: str | None) -> dict[str, Callable[[int], Any]]:
    now = apps.utcnow()
    values: dict[str, Callable[[int], Any]] = {
        "id": lambda i: i,
        "email": email_of,
    }
    if kind == "ours":
        values["auth_id"] = lambda i: secrets.token_urlsafe(24)
        values["two_factor_enabled"] = lambda i: False
    if kind == "fst":
        values["active"] = lambda i: True
        values["fs_uniquifier"] = lambda i: secrets.token_hex(16)
        values["us_totp_secrets"] = lambda i: fst_secret
        values["create_datetime"] = lambda i: now
        values["update_datetime"] = lambda i: now
    return values


def _secret_values() -> dict[str, Callable[[int], Any]]:
    """Old sign-in secrets, one per user: even rows used, odd rows expired unused."""
    created = apps.utcnow() - timedelta(days=2)

    def digest(prefix: str) -> Callable[[int], str]:
        return lambda i: hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()

    return {
        "id": lambda i: i,
        "purpose": lambda i: "login",
        "identifier": email_of,
        "token_hash": digest("token"),
        "code_hash": digest("code"),
        "created_at": lambda i: created,
        "expires_at": lambda i: created + timedelta(minutes=10),
        "consumed_at": lambda i: created + timedelta(minutes=1) if i % 2 == 0 else None,
        "attempts": lambda i: 0 if i % 2 == 0 else i % 5,
    }


def _session_values() -> dict[str, Callable[[int], Any]]:
    """Other browsers' session rows, one per user (row i is user i's): a quarter
    live, the rest signed out, idle or past their age, as a busy site's table
    holds between cleanups. The bench's own browsers get new rows after them."""
    now = apps.utcnow()
    created = now - timedelta(days=3)
    hour = timedelta(hours=1)
    auth = json.dumps({"methods": ["email"], "proofs": {"email": 0.0}, "at": 0.0})

    def digest(i: int) -> str:
        return hashlib.sha256(f"session{i}".encode()).hexdigest()

    return {
        "id": lambda i: i,
        "user_key": str,
        "secret_hash": digest,
        "created_at": lambda i: created,
        "last_seen_at": lambda i: now - hour if i % 4 == 0 else created + hour,
        "expires_at": lambda i: now + timedelta(days=27) if i % 4 else now - hour,
        "ip": lambda i: f"192.0.2.{i % 250 + 1}",
        "user_agent": lambda i: "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
        "auth": lambda i: auth,
        "revoked_at": lambda i: created + hour if i % 4 == 1 else None,
    }


def _columns(table: sa.Table, known: dict[str, Callable[[int], Any]]) -> list[tuple[str, Any]]:
    """(name, value function) for every column the insert must name."""
    chosen = []
    for column in table.columns:
        if column.name in known:
            chosen.append((column.name, known[column.name]))
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
            chosen.append((column.name, lambda i, v=value: v))
        elif column.nullable or column.server_default is not None:
            continue
        else:
            raise RuntimeError(
                f"bench: no value for {table.name}.{column.name}; update bench/data.py"
            )
    return chosen


def _rows(columns: list[tuple[str, Any]], count: int, sqlite: bool) -> Iterator[list[tuple]]:
    funcs = [f for _name, f in columns]
    for start in range(1, count + 1, CHUNK):
        chunk = []
        for i in range(start, min(start + CHUNK, count + 1)):
            row = tuple(f(i) for f in funcs)
            if sqlite:
                row = tuple(_stamp(v) if isinstance(v, datetime) else v for v in row)
            chunk.append(row)
        yield chunk


def _plan(app: Flask, kind: str, size: int) -> list[tuple[sa.Table, list[tuple[str, Any]]]]:
    """Which tables to fill, and how."""
    db = app.extensions["bench"]["db"]
    user_table = app.extensions["bench"]["user"].__table__
    fst_secret = apps.fst_email_secret(app) if kind == "fst" else None
    plan = [(user_table, _columns(user_table, _user_values(kind, fst_secret)))]
    if kind == "ours":
        secret_table = db.metadata.tables["passwordless_secret"]
        plan.append((secret_table, _columns(secret_table, _secret_values())))
        session_table = db.metadata.tables["passwordless_session"]
        plan.append((session_table, _columns(session_table, _session_values())))
    return plan


def _fill(app: Flask, kind: str, size: int, sqlite: bool) -> None:
    db = app.extensions["bench"]["db"]
    with app.app_context():
        db.create_all()
        plan = _plan(app, kind, size)
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if sqlite:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA cache_size=-400000")
            else:
                cursor.execute("SET synchronous_commit TO OFF")
                cursor.execute("SET maintenance_work_mem TO '256MB'")
            for table, columns in plan:
                names = ", ".join(f'"{name}"' for name, _f in columns)
                if sqlite:
                    marks = ", ".join("?" for _ in columns)
                    # Names come from our own table metadata, never from input.
                    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
                    for chunk in _rows(columns, size, sqlite=True):
                        cursor.executemany(sql, chunk)
                else:
                    restore = _pg_detach_indexes(cursor, table.name)
                    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                        for chunk in _rows(columns, size, sqlite=False):
                            for row in chunk:
                                copy.write_row(row)
                    for statement in restore:
                        cursor.execute(statement)
            if not sqlite:
                for table, _unused in plan:
                    if "id" in table.columns:
                        # ids run 1..size: the next insert takes size + 1.
                        cursor.execute(
                            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                            (f'"{table.name}"', size),
                        )
                    cursor.execute(f'ANALYZE "{table.name}"')
            else:
                cursor.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
        _setup_pool(app, kind, size)
        _setup_totp(app, kind, size)
        db.session.remove()
        db.engine.dispose()


def _pg_detach_indexes(cursor: Any, name: str) -> list[str]:
    """Drop a table's unique constraints and secondary indexes (COPY into a bare
    table, then index once: several times faster); returns what rebuilds them."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u'",
        (f'"{name}"',),
    )
    uniques = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (name, f'"{name}"'),
    )
    indexes = cursor.fetchall()
    restore = []
    for constraint, definition in uniques:
        cursor.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{constraint}"')
        restore.append(f'ALTER TABLE "{name}" ADD CONSTRAINT "{constraint}" {definition}')
    for index, definition in indexes:
        cursor.execute(f'DROP INDEX "{index}"')
        restore.append(definition)
    return restore


def _setup_pool(app: Flask, kind: str, size: int) -> None:
    """FST: each user who signs in gets their own email TOTP secret, as us-setup would."""
    if kind != "fst":
        return
    bench = app.extensions["bench"]
    db, user = bench["db"], bench["user"]
    for user_id in pool_ids(size, POOL):
        db.session.execute(
            sa.update(user)
            .where(user.id == user_id)
            .values(us_totp_secrets=apps.fst_email_secret(app))
        )
    db.session.commit()


def _setup_totp(app: Flask, kind: str, size: int) -> None:
    """The TOTP users: a password, two-step on and an authenticator app each, made
    with each library's own helpers. Only they get one, so the authenticator
    table holds ``POOL`` rows at every size (a lookup by its indexed user key)."""
    bench = app.extensions["bench"]
    db, user = bench["db"], bench["user"]
    ids = totp_ids(size)
    if kind == "ours":
        from werkzeug.security import generate_password_hash

        from flask_passwordless.authenticators import totp

        password = generate_password_hash(apps.TOTP_PASSWORD, method=apps.OURS_TOTP_HASH)
        db.session.execute(
            sa.update(user)
            .where(user.id.in_(ids))
            .values(password_hash=password, two_factor_enabled=True)
        )
        table = db.metadata.tables["passwordless_authenticator"]
        now = apps.utcnow()
        rows = [
            {
                "user_key": str(i),
                "type": totp.TYPE,
                "name": "Bench phone",
                "data": apps.ours_totp_data(app, totp.new_secret(), str(i)),
                "counter": None,
                "created_at": now,
                "last_used_at": None,
            }
            for i in ids
        ]
        db.session.execute(sa.insert(table), rows)
    elif kind == "fst":
        password, new_secret = apps.fst_totp_user_values(apps.make_fst("sqlite://", totp=True))
        for i in ids:
            db.session.execute(
                sa.update(user)
                .where(user.id == i)
                .values(
                    password=password,
                    tf_primary_method="authenticator",
                    tf_totp_secret=new_secret(),
                )
            )
    db.session.commit()


POOL = 200


def _ddl_key(app: Flask, kind: str, size: int) -> str:
    from sqlalchemy.dialects import sqlite

    db = app.extensions["bench"]["db"]
    dialect = sqlite.dialect()
    parts = [SEED_VERSION, kind, str(size), str(POOL)]
    for table in db.metadata.sorted_tables:
        parts.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)))
        parts.extend(
            str(sa.schema.CreateIndex(index).compile(dialect=dialect))
            for index in sorted(table.indexes, key=lambda ix: ix.name or "")
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def sqlite_database(
    kind: str, size: int, run_dir: Path, cache: bool, log: Callable[[str], None]
) -> Database:
    """A filled SQLite file for ``kind`` and ``size``, fresh for this run."""
    path = run_dir / f"{kind}_{human(size)}.sqlite"
    url = f"sqlite:///{path}"
    probe = apps.make_app(kind, url)
    if not cache:
        _timed(log, f"filling {path.name}", lambda: _fill(probe, kind, size, sqlite=True))
        return Database(kind, size, "sqlite", url)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    key = _ddl_key(probe, kind, size)
    cached = CACHE_DIR / f"{kind}_{human(size)}_{key}.sqlite"
    if not cached.exists():
        for stale in CACHE_DIR.glob(f"{kind}_{human(size)}_*.sqlite*"):
            stale.unlink()
        building = cached.with_suffix(".building")
        building.unlink(missing_ok=True)
        builder = apps.make_app(kind, f"sqlite:///{building}")
        _timed(log, f"building cache {cached.name}", lambda: _fill(builder, kind, size, True))
        os.replace(building, cached)
    shutil.copyfile(cached, path)
    return Database(kind, size, "sqlite", url)


def _timed(log: Callable[[str], None], what: str, job: Callable[[], None]) -> None:
    started = time.perf_counter()
    job()
    log(f"{what}: {time.perf_counter() - started:.1f}s")


# -- PostgreSQL ---------------------------------------------------------------


def postgres_url(raw: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", raw)


class PostgresSchemas:
    """Schemas named ``pwl_bench_<pid>_...``: created for this run, dropped after it.

    Schemas left by a bench process that no longer exists are dropped too.
    """

    def __init__(self, url: str) -> None:
        self.url = postgres_url(url)
        self.engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []
        self._drop_orphans()

    def _drop_orphans(self) -> None:
        with self.engine.connect() as conn:
            names = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                {"p": SCHEMA_PREFIX + "%"},
            ).scalars()
            for name in list(names):
                match = re.match(rf"{SCHEMA_PREFIX}(\d+)_", name)
                if match and not _alive(int(match.group(1))):
                    conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))

    def database(self, kind: str, size: int, log: Callable[[str], None]) -> Database:
        schema = f"{SCHEMA_PREFIX}{os.getpid()}_{kind}_{human(size).lower()}"
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        self.created.append(schema)
        app = apps.make_app(kind, self.url, schema)
        _timed(log, f"filling postgresql {schema}", lambda: _fill(app, kind, size, sqlite=False))
        _timed(log, f"vacuuming postgresql {schema}", lambda: self._vacuum(schema))
        return Database(kind, size, "postgresql", self.url, schema)

    def _vacuum(self, schema: str) -> None:
        """Freeze and analyze what the fill wrote: the first reads of fresh rows would
        otherwise write hint bits, during the timing (and autovacuum may be off)."""
        with self.engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalars()
            for table in list(tables):
                conn.execute(sa.text(f'VACUUM (FREEZE, ANALYZE) "{schema}"."{table}"'))

    def settle(self, log: Callable[[str], None]) -> None:
        """Write out the fill's pages before any timing (CHECKPOINT), so a checkpoint
        does not flush gigabytes in the middle of a measurement."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("CHECKPOINT"))
        except sa.exc.DBAPIError as error:  # not a superuser (or pg_checkpoint)
            log(f"bench: no CHECKPOINT before timing ({type(error.orig).__name__})")

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for schema in self.created:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.created.clear()
        self.engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
