"""Shared fixtures: the host app on SQLite (always) and PostgreSQL (when configured)."""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pg_tables
import pytest
import sqlalchemy as sa
from built_wheel import build_wheel

from apps import User, create_app, db
from flask_passwordless.clock import utcnow

pytest_plugins = ["browser_fixtures"]

POSTGRES_URL = os.environ.get("PASSWORDLESS_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PASSWORDLESS_TEST_REDIS_URL")
REQUIRE_ALL_TIERS = os.environ.get("PASSWORDLESS_REQUIRE_ALL_TIERS") == "1"
CHROMIUM = "/usr/bin/chromium"


def skip_tier(reason: str) -> None:
    """Skip a tier that cannot run here; under PASSWORDLESS_REQUIRE_ALL_TIERS=1, fail."""
    if REQUIRE_ALL_TIERS:
        pytest.fail(f"required test tier cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The package's wheel, built once per run from a clean copy of the checkout."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    if not POSTGRES_URL:
        skip_tier("PASSWORDLESS_TEST_DATABASE_URL is not set")
    return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def make_app(database_url, request):
    """Build an app with extra config, on empty tables.

    On SQLite each test has a file of its own, its tables created now. On
    PostgreSQL the tables are built once per process and emptied after each
    test (tests/pg_tables.py). When the test also asks for ``clock``, every
    app made runs on that clock.
    """
    made = []
    postgres = database_url.startswith("postgresql")

    def make(**config):
        app = create_app(database_url, **config)
        if "clock" in request.fixturenames:
            app.extensions["passwordless"].clock = request.getfixturevalue("clock")
        with app.app_context():
            if postgres:
                pg_tables.SHARED.prepare(db)
            else:
                db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if postgres and made:
        with made[-1].app_context():
            try:
                pg_tables.SHARED.release(db)
            finally:
                db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def outbox(app):
    return app.extensions["passwordless"].outbox


class FakeClock:
    """The extension's clock, moved by hand: tests never sleep."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def user(app):
    return add_user(app, "alice@example.com")


def add_user(app, email: str, phone: str | None = None):
    with app.app_context():
        account = User(
            email=email, phone_number=phone, phone_verified_at=utcnow() if phone else None
        )
        db.session.add(account)
        db.session.commit()
        return db.session.get(User, account.id)


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, path: str = "/auth/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return CSRF_FIELD.search(page).group(1)


def request_login(client, email: str, next_url: str | None = None):
    """Submit the email form; returns the response."""
    data = {"email": email, "csrf_token": csrf_token(client)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/auth/login", data=data)


def link_in(message) -> str:
    """The path and query of the sign-in link in a message (base URL stripped)."""
    url = re.search(r"https://app\.example\.com(/\S+)", message.text).group(1)
    return url


def token_in(message) -> str:
    return re.search(r"token=([A-Za-z0-9_-]+)", message.text).group(1)


def code_in(message) -> str:
    """The code in an email (on a line of its own) or an SMS (its autofill line)."""
    found = re.search(r"^(\d{6,10})$", message.text, re.M) or re.search(
        r"#(\d{6,10})$", message.text
    )
    return found.group(1)


def submit_code(client, code: str):
    return client.post(
        "/auth/login/code",
        data={"code": code, "csrf_token": csrf_token(client)},
    )


def confirm_link(client, token: str):
    """Open the link (its GET redirects to the bare path), then press the button."""
    page = client.get(f"/auth/login/link?token={token}", follow_redirects=True)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    csrf = match.group(1) if match else csrf_token(client)
    return client.post("/auth/login/link", data={"token": token, "csrf_token": csrf})


def signed_in_as(client) -> str:
    return re.search(r"signed in: (\S+)</p>", client.get("/").get_data(as_text=True)).group(1)


def race(jobs, timeout: float = 60):
    """Run the callables at once, lined up on a barrier; return their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=10)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs, timeout=timeout))


@pytest.fixture
def racing_app(make_app):
    """An app for races: no rate limits (only the database decides), and a pooled
    connection for every racer, so none waits for another to give one back."""
    return make_app(PASSWORDLESS_LIMITER_ENABLED=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 24})


def client_from(app, address: str):
    """A test client whose requests come from ``address`` (REMOTE_ADDR)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def ctx(make_app):
    """An app, limits off, inside its app context: for tests that call services."""
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False)
    with app.app_context():
        yield app


@pytest.fixture
def store(ctx):
    """The authenticator store of ``ctx``."""
    return ctx.extensions["passwordless"].authenticators


def session_row(app, client):
    """This browser's server-side session row (None when its cookie points at none)."""
    with client.session_transaction() as session:
        ref = session.get("_passwordless_session")
    if ref is None:
        return None
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        return db.session.execute(sa.select(table).where(table.c.id == ref[0])).first()


def auth_methods(app, client) -> list[str]:
    """The methods this browser's session proved (its auth record, on the row)."""
    return session_row(app, client).auth["methods"]
