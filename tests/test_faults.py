"""Faults: the database, Redis, SMTP or Twilio going away.

The database going away is a rendered 503 page with Retry-After and nothing
half-written; Redis going away keeps the limits in memory with a warning in
the log; SMTP and Twilio going away are a clear message and a way to try
again that works once they are back.
"""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from factors import make_user, password_login
from limits.storage import MemoryStorage
from pg_schema import isolated_schema
from tcp_proxy import TcpProxy
from test_sms import ALICE_PHONE, add_phone, ask_sms
from test_smtp import Inbox, _mail_app
from twilio_server import TwilioServer

from apps import create_app, db
from conftest import (
    POSTGRES_URL,
    REDIS_URL,
    add_user,
    code_in,
    csrf_token,
    request_login,
    signed_in_as,
    skip_tier,
    submit_code,
)
from flask_passwordless import login_failed
from flask_passwordless.pages import database_unreachable

SAMPLE_TEMPLATES = str(Path(__file__).resolve().parent.parent / "sample_app" / "templates")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_unavailable_page(response) -> None:
    """A rendered 503 that says what happened, with no trace of the failure itself."""
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/html"
    assert "Temporarily unavailable" in page
    assert "nothing was changed" in page
    assert "<main" in page
    for leak in ("Traceback", "OperationalError", "sqlalchemy", "psycopg", "SELECT", "INSERT"):
        assert leak not in page


@pytest.fixture
def pg_url():
    if not POSTGRES_URL:
        skip_tier("PASSWORDLESS_TEST_DATABASE_URL is not set")
    return POSTGRES_URL


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        skip_tier("PASSWORDLESS_TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture
def dispose():
    """Apps made by a test, their engines disposed of afterwards."""
    made = []
    yield made.append
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- the database goes away ----------------------------------------------------------


def test_only_lost_or_refused_connections_count_as_an_outage():
    lost = sa.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert database_unreachable(sa.exc.OperationalError("SELECT 1", {}, Exception("refused")))
    assert database_unreachable(lost)
    assert database_unreachable(sa.exc.TimeoutError("QueuePool limit reached"))
    assert not database_unreachable(sa.exc.IntegrityError("INSERT", {}, Exception("dup")))
    assert not database_unreachable(sa.exc.ProgrammingError("SELEKT", {}, Exception("syntax")))


def test_database_that_cannot_be_opened_gives_a_503_page(tmp_path, dispose, caplog):
    database = tmp_path / "missing" / "app.db"  # the directory does not exist
    app = create_app(f"sqlite:///{database}")
    dispose(app)
    client = app.test_client()
    data = {"email": "alice@example.com", "csrf_token": csrf_token(client)}
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        response = client.post("/auth/login", data=data)
    assert_unavailable_page(response)
    assert "database unavailable during passwordless.login (OperationalError" in caplog.text
    assert not database.exists()


def test_outage_for_a_signed_in_user_renders_in_the_host_layout(tmp_path, dispose, caplog):
    """The host's layout asks for current_user; the page must not query again."""
    folder = tmp_path / "db"
    folder.mkdir()
    app = create_app(
        f"sqlite:///{folder / 'app.db'}",
        template_folder=SAMPLE_TEMPLATES,
        PASSWORDLESS_BASE_TEMPLATE="layout.html",
    )
    dispose(app)
    with app.app_context():
        db.create_all()
    add_user(app, "alice@example.com")
    client = app.test_client()
    request_login(client, "alice@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    assert client.get("/auth/account/devices").status_code == 200

    folder.rename(tmp_path / "moved")  # the database disappears
    with app.app_context():
        db.engine.dispose()
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        response = client.get("/auth/account/devices")
    assert_unavailable_page(response)
    assert "Sign in</a>" in response.get_data(as_text=True)  # rendered for nobody
    assert "passwordless.account_devices (OperationalError" in caplog.text

    (tmp_path / "moved").rename(folder)  # and comes back: the session survived
    with app.app_context():
        db.engine.dispose()
    assert client.get("/auth/account/devices").status_code == 200
    assert signed_in_as(client) == "alice@example.com"


@pytest.fixture
def pg_behind_proxy(pg_url, dispose):
    """An app on PostgreSQL through a TCP proxy the test can cut; also a direct engine."""
    with isolated_schema(pg_url, "faults") as direct_url:
        proxy = TcpProxy(direct_url.host or "127.0.0.1", direct_url.port or 5432).start()
        url = direct_url.set(host="127.0.0.1", port=proxy.port)
        app = create_app(url.render_as_string(hide_password=False))
        dispose(app)
        with app.app_context():
            db.create_all()
        direct = sa.create_engine(direct_url, poolclass=sa.pool.NullPool)
        yield app, proxy, direct
        direct.dispose()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        proxy.cut()


def _secrets(direct) -> list[tuple[int, bool]]:
    with direct.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, consumed_at IS NULL FROM passwordless_secret ORDER BY id")
        )
        return [tuple(row) for row in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["connection-cut", "pg_terminate_backend"])
def test_database_lost_mid_request_rolls_back_and_gives_a_503(pg_behind_proxy, how, caplog):
    """Asking again retires the old secret and adds a new one, in one transaction: the
    connection dies between the two, and neither is saved."""
    app, proxy, direct = pg_behind_proxy
    add_user(app, "alice@example.com")
    client = app.test_client()
    assert request_login(client, "alice@example.com").status_code == 302
    [(first, live)] = _secrets(direct)
    assert live

    armed = []

    def kill_connection(conn, cursor, statement, parameters, context, executemany):
        if armed and statement.startswith("INSERT INTO passwordless_secret"):
            armed.clear()
            if how == "connection-cut":
                proxy.cut()
            else:
                with direct.connect() as admin:
                    pid = cursor.connection.info.backend_pid
                    admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", kill_connection)
    armed.append(True)
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        response = request_login(client, "alice@example.com")
    assert_unavailable_page(response)
    assert "database unavailable during passwordless.login" in caplog.text
    assert _secrets(direct) == [(first, True)]  # the retirement was rolled back too

    if how == "connection-cut":
        proxy.restore()
    assert request_login(client, "alice@example.com").status_code == 302
    second = [row for row in _secrets(direct) if row[0] != first]
    assert _secrets(direct)[0] == (first, False)
    assert len(second) == 1 and second[0][1]


# -- Redis goes away -----------------------------------------------------------------


def _send_statuses(app, email: str, times: int) -> list[int]:
    return [request_login(app.test_client(), email).status_code for _ in range(times)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_redis_refusing_connections_keeps_limits_in_memory_with_a_warning(make_app, caplog):
    pytest.importorskip("redis")
    app = make_app(
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="3/minute",
    )
    with caplog.at_level(logging.WARNING):
        statuses = _send_statuses(app, "alice@example.com", 4)
    assert statuses == [302, 302, 302, 429]  # limited in memory: not an open door
    warnings = [r for r in caplog.records if r.name == "flask-limiter"]
    assert [r.getMessage() for r in warnings] == [
        "Rate limit storage unreachable - falling back to in-memory storage"
    ]
    assert warnings[0].levelno == logging.WARNING


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_daily_sms_cap_holds_with_our_limits_off(make_app):
    """Flask-Limiter is off with our limits; the cap must still be counted somewhere."""
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False, PASSWORDLESS_SMS_DAILY_LIMIT=1)
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    statuses = [ask_sms(app.test_client(), ALICE_PHONE).status_code for _ in range(2)]
    assert statuses == [302, 302]
    assert sum(m.channel == "sms" for m in app.extensions["passwordless"].outbox) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_redis_down_for_the_daily_sms_cap_counts_in_memory(make_app, caplog):
    """With the extension's limits off, only the SMS cap touches the storage."""
    pytest.importorskip("redis")
    app = make_app(
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
        PASSWORDLESS_LIMITER_ENABLED=False,
        PASSWORDLESS_SMS_DAILY_LIMIT=1,
    )
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        statuses = [ask_sms(app.test_client(), ALICE_PHONE).status_code for _ in range(2)]
    assert statuses == [302, 302]
    texts = [m for m in app.extensions["passwordless"].outbox if m.channel == "sms"]
    assert len(texts) == 1  # the cap still held
    assert "rate limit storage unreachable; counting in memory meanwhile" in caplog.text
    assert "PASSWORDLESS_SMS_DAILY_LIMIT reached" in caplog.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_budgets_counted_outside_views_keep_to_the_apps_key_prefix(make_app, redis_url):
    """The daily SMS cap (and the second step's send budget) live beside the limiter's
    own counters: apps with their own RATELIMIT_KEY_PREFIX on one Redis never share them."""
    import redis

    prefixes = [f"faults-{uuid.uuid4().hex}" for _ in range(2)]
    apps = [
        make_app(
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,
            PASSWORDLESS_LIMITER_ENABLED=False,
            PASSWORDLESS_SMS_DAILY_LIMIT=1,
        )
        for prefix in (prefixes[0], prefixes[1], prefixes[0])
    ]
    store = redis.Redis.from_url(redis_url)
    try:
        add_user(apps[0], "alice@example.com", phone=ALICE_PHONE)
        for app in apps:
            ask_sms(app.test_client(), ALICE_PHONE)
        sent = [
            sum(m.channel == "sms" for m in app.extensions["passwordless"].outbox) for app in apps
        ]
        assert sent == [1, 1, 0]  # the third app shares the first one's prefix, and cap
        for prefix in prefixes:
            assert store.keys(f"*/{prefix}/passwordless-sms-daily/*")
    finally:
        for prefix in prefixes:
            keys = store.keys(f"*/{prefix}/*")
            if keys:
                store.delete(*keys)
        store.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_redis_lost_mid_request_then_back(make_app, redis_url, caplog):
    """Redis dies between the limit check and the deduction of a failed check, stays
    down a while, then comes back: no 500 at any point, a log line for each step."""
    import redis

    host, port, number = re.fullmatch(r"redis://([^:/]+):(\d+)/?(\d*)", redis_url).groups()
    proxy = TcpProxy(host, int(port)).start()
    prefix = f"faults-{time.time_ns()}"
    app = make_app(
        RATELIMIT_STORAGE_URI=f"redis://{proxy.address}/{number or 0}",
        RATELIMIT_KEY_PREFIX=prefix,
    )
    direct = redis.Redis.from_url(redis_url)
    try:
        add_user(app, "alice@example.com")
        client = app.test_client()
        assert request_login(client, "alice@example.com").status_code == 302
        assert direct.keys(f"*/{prefix}/*")  # the limits live in Redis
        right = code_in(app.extensions["passwordless"].outbox[-1])
        wrong = f"{(int(right) + 1) % 10**6:06d}"

        with (
            caplog.at_level(logging.INFO),
            login_failed.connected_to(lambda sender, **kw: proxy.cut(), app),
        ):
            statuses = [submit_code(client, wrong).status_code]  # Redis dies mid-request
        statuses += [submit_code(client, wrong).status_code]
        statuses += [submit_code(client, right).status_code]
        assert statuses == [200, 200, 302]
        messages = [r.getMessage() for r in caplog.records if r.name == "flask-limiter"]
        assert "Failed to deduct rate limit. Swallowing error" in messages
        assert "Rate limit storage unreachable - falling back to in-memory storage" in messages
        assert signed_in_as(client) == "alice@example.com"

        proxy.restore()
        caplog.clear()
        deadline = time.monotonic() + 20
        with caplog.at_level(logging.INFO, logger="flask-limiter"):
            while "Rate limit storage recovered" not in caplog.text:
                assert time.monotonic() < deadline, "Flask-Limiter never went back to Redis"
                # A page of the extension's: the Limiter it created runs there only.
                assert client.get("/auth/login").status_code == 200
                time.sleep(0.2)
        before = len(direct.keys(f"*/{prefix}/*"))
        assert request_login(app.test_client(), "bob@example.com").status_code == 302
        assert len(direct.keys(f"*/{prefix}/*")) > before  # counting in Redis again
    finally:
        proxy.cut()
        keys = direct.keys(f"*/{prefix}/*")
        if keys:
            direct.delete(*keys)
        direct.close()


# -- SMTP and Twilio go away ---------------------------------------------------------


def _text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def _smtp_on(port: int) -> tuple[Inbox, Controller]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return inbox, controller


def test_smtp_down_then_back_asking_again_signs_in(make_app, caplog):
    port = free_port()
    app = _mail_app(make_app, port)
    add_user(app, "alice@example.com")
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        assert request_login(client, "alice@example.com").status_code == 302
    assert "email delivery of 'login' failed" in caplog.text
    page = client.get("/auth/login/code").get_data(as_text=True)
    assert 'href="/auth/login">ask for a new code</a>' in page  # the way to try again

    inbox, controller = _smtp_on(port)
    try:
        assert request_login(client, "alice@example.com").status_code == 302
        [message] = inbox.wait_for(1)
        code = re.search(r"^(\d{6})\s*$", _text(message), re.M).group(1)
        assert submit_code(client, code).status_code == 302
        assert signed_in_as(client) == "alice@example.com"
    finally:
        controller.stop()


def test_smtp_down_for_the_second_factor_is_a_503_then_signing_in_again_works(make_app):
    """Without a phone the second code goes by email, sent inside the request."""
    port = free_port()
    app = _mail_app(
        make_app, port, PASSWORDLESS_NOTIFY_NEW_DEVICE=False, PASSWORDLESS_EMAIL_SECOND_FACTOR=True
    )
    make_user(app, two_factor=True)
    client = app.test_client()
    response = password_login(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "We could not send the message" in page
    assert "Traceback" not in page
    assert 'href="/auth/login"' in page

    inbox, controller = _smtp_on(port)
    try:
        assert password_login(client).headers["Location"] == "/auth/two-factor"
        [message] = inbox.wait_for(1)
        code = re.search(r"^(\d{6})\s*$", _text(message), re.M).group(1)
        data = {"code": code, "csrf_token": csrf_token(client, "/auth/two-factor")}
        assert client.post("/auth/two-factor", data=data).status_code == 302
        assert signed_in_as(client) == "alice@example.com"
    finally:
        controller.stop()


@pytest.fixture
def twilio_behind_proxy():
    with TwilioServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
        proxy = TcpProxy(host, int(port)).start()
        yield server, proxy
        proxy.cut()


def _twilio_app(make_app, server, proxy, **config):
    return make_app(
        PASSWORDLESS_SMS_BACKEND="twilio",
        PASSWORDLESS_TWILIO_ACCOUNT_SID=server.account_sid,
        PASSWORDLESS_TWILIO_AUTH_TOKEN=server.auth_token,
        PASSWORDLESS_TWILIO_FROM="+15005550006",
        PASSWORDLESS_TWILIO_BASE_URL=f"http://{proxy.address}",
        PASSWORDLESS_TWILIO_TIMEOUT=2,
        **config,
    )


def test_twilio_down_on_the_phone_page_then_back(make_app, twilio_behind_proxy, caplog):
    server, proxy = twilio_behind_proxy
    app = _twilio_app(make_app, server, proxy)
    add_user(app, "carol@example.com")
    client = app.test_client()
    request_login(client, "carol@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))

    proxy.cut()
    with caplog.at_level(logging.ERROR, logger="flask_passwordless"):
        page = add_phone(client, ALICE_PHONE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Sending failed on our side. Please try again in a few minutes." in text
    assert 'action="/auth/account/phone"' in text  # the same form, to try again
    assert "Twilio unreachable: ConnectionError" in caplog.text

    proxy.restore()
    assert add_phone(client, ALICE_PHONE).headers["Location"] == "/auth/account/phone/verify"
    [message] = server.messages
    assert message["to"] == ALICE_PHONE


def test_twilio_down_for_the_second_factor_is_a_503_then_signing_in_again_works(
    make_app, twilio_behind_proxy
):
    server, proxy = twilio_behind_proxy
    app = _twilio_app(make_app, server, proxy, PASSWORDLESS_NOTIFY_NEW_DEVICE=False)
    make_user(app, phone=ALICE_PHONE, two_factor=True)
    client = app.test_client()
    proxy.cut()
    response = password_login(client)
    assert response.status_code == 503
    assert "We could not send the message" in response.get_data(as_text=True)

    proxy.restore()
    assert password_login(client).headers["Location"] == "/auth/two-factor"
    code = server.messages[-1]["body"].rsplit("#", 1)[1]
    data = {"code": code, "csrf_token": csrf_token(client, "/auth/two-factor")}
    assert client.post("/auth/two-factor", data=data).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


class _Unreachable(Exception):
    """What a storage's client raises when its server is gone."""


class _TupleErrorsStorage(MemoryStorage):
    """A storage (registered as ``tuple-errors://``) that is down, and names its
    errors as a tuple: limits types ``base_exceptions`` as a class *or a tuple*."""

    STORAGE_SCHEME = ["tuple-errors"]

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (_Unreachable, TimeoutError)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise _Unreachable("connection refused")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_storage_naming_its_errors_as_a_tuple_still_counts_in_memory(make_app, caplog):
    """An except clause given (StorageError, (A, B)) raises TypeError: this was a 500
    on every SMS while such a storage was down (mypy's 'must be derived from
    BaseException' at limits.py)."""
    app = make_app(
        RATELIMIT_STORAGE_URI="tuple-errors://",
        PASSWORDLESS_LIMITER_ENABLED=False,
        PASSWORDLESS_SMS_DAILY_LIMIT=1,
    )
    add_user(app, "alice@example.com", phone=ALICE_PHONE)
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"):
        statuses = [ask_sms(app.test_client(), ALICE_PHONE).status_code for _ in range(2)]
    assert statuses == [302, 302]
    assert sum(m.channel == "sms" for m in app.extensions["passwordless"].outbox) == 1
    assert "rate limit storage unreachable; counting in memory meanwhile" in caplog.text
