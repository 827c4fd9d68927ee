"""A PostgreSQL schema of its own for one test, so runs sharing a database never meet.

``isolated_schema(url)`` creates a schema with a random name and yields a
SQLAlchemy URL whose connections put it first on ``search_path``: tables,
migrations and alembic's version table all land there. The schema is dropped
(with everything in it) afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.pool import NullPool


def sqlalchemy_url(url: str) -> sa.URL:
    """``postgresql://`` as given in the environment, with the psycopg 3 driver."""
    return sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))


def url_string(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


def in_schema(url: sa.URL, schema: str) -> sa.URL:
    return url.update_query_dict({"options": f"-csearch_path={schema}"})


@contextmanager
def isolated_schema(base_url: str, prefix: str = "pl") -> Iterator[sa.URL]:
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sqlalchemy_url(base_url), poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    try:
        yield in_schema(sqlalchemy_url(base_url), schema)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()
