"""Two instances of the sample app, as separate gunicorn servers, behind one "load balancer".

Both share one PostgreSQL schema (built by the sample's own migrations), one
Redis (for rate limits), one SMTP server and one Twilio-compatible server, and
the same SECRET_KEY. A browser (a ``requests`` session with its cookie jar)
talks to either instance, as a load balancer would send it: whatever one
instance did, the other must honour.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from pg_schema import isolated_schema, url_string
from test_smtp import Inbox
from twilio_server import TwilioServer
from werkzeug.security import generate_password_hash

from conftest import POSTGRES_URL, REDIS_URL, skip_tier

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_quiet_control() -> list[str]:
    """Newer gunicorns open a control socket at one path under $HOME; two instances
    (or someone else's gunicorn) would fight over it."""
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in known else []


def listening_socket() -> socket.socket:
    """A socket already listening on a free port of 127.0.0.1, for gunicorn to inherit:
    no other process can take the port between choosing it and serving on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


@dataclass
class Instance:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()}"
            try:  # the socket listens from the start: a slow boot is a read timeout
                if requests.get(self.url + "/auth/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Stack:
    a: Instance
    b: Instance
    inbox: Inbox
    twilio: TwilioServer
    database: sa.Engine
    redis: object
    key_prefix: str

    def emails_to(self, address: str, count: int) -> list[Message]:
        """The messages to ``address``, once ``count`` have arrived (bounded wait)."""
        deadline = time.monotonic() + 10
        while True:
            mine = [m for m in self.inbox.messages if m["To"] == address]
            if len(mine) >= count or time.monotonic() > deadline:
                assert len(mine) >= count, f"{len(mine)} of {count} emails to {address}"
                return mine
            time.sleep(0.02)


def sample_env(**settings: object) -> dict[str, str]:
    """The environment for the sample app: FLASK_* values are parsed as JSON."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({f"FLASK_{key}": json.dumps(value) for key, value in settings.items()})
    return env


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory):
    """The two instances and what they share, started once for the module (the
    gunicorn boots, migrations and servers took most of each test's time)."""
    tmp_path = tmp_path_factory.mktemp("processes")
    if not (POSTGRES_URL and REDIS_URL):
        skip_tier("PASSWORDLESS_TEST_DATABASE_URL and PASSWORDLESS_TEST_REDIS_URL must be set")
    if importlib.util.find_spec("gunicorn") is None:
        skip_tier("gunicorn is not installed (pip install -e '.[test]')")
    import redis

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    twilio = TwilioServer().start()
    prefix = f"processes-{uuid.uuid4().hex}"
    store = redis.Redis.from_url(REDIS_URL)
    sockets = {"a": listening_socket(), "b": listening_socket()}
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    instances: list[Instance] = []
    try:
        with isolated_schema(POSTGRES_URL, "processes") as schema_url:
            settings = {
                "SECRET_KEY": secrets.token_hex(32),
                "SQLALCHEMY_DATABASE_URI": url_string(schema_url),
                "RATELIMIT_STORAGE_URI": REDIS_URL,
                "RATELIMIT_KEY_PREFIX": prefix,
                "PASSWORDLESS_BASE_URL": f"http://127.0.0.1:{ports['a']}",
                "PASSWORDLESS_MAIL_BACKEND": "flask_mail",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": smtp.port,
                "MAIL_USE_TLS": False,
                "PASSWORDLESS_TWILIO_ACCOUNT_SID": twilio.account_sid,
                "PASSWORDLESS_TWILIO_AUTH_TOKEN": twilio.auth_token,
                "PASSWORDLESS_TWILIO_FROM": "+15005550006",
                "PASSWORDLESS_TWILIO_BASE_URL": twilio.url,
                "PASSWORDLESS_PASSWORD_HASH": "scrypt:1024:8:1",  # cheap, for tests
            }
            env = sample_env(**settings)
            upgrade = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "sample_app", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert upgrade.returncode == 0, upgrade.stderr
            for name, sock in sockets.items():
                log = tmp_path / f"gunicorn-{name}.log"
                command = [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers=1",
                    "--worker-class=sync",
                    f"--bind=fd://{sock.fileno()}",
                    "--timeout=30",
                    "--graceful-timeout=5",
                    *gunicorn_quiet_control(),
                    "sample_app:create_app()",
                ]
                with log.open("w") as output:
                    process = subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        pass_fds=[sock.fileno()],
                    )
                sock.close()  # gunicorn has its own copy
                url = f"http://127.0.0.1:{ports[name]}"
                instances.append(Instance(name, url, process, log))
            for instance in instances:
                instance.wait_until_up()
            database = sa.create_engine(schema_url, poolclass=sa.pool.NullPool)
            yield Stack(*instances, inbox, twilio, database, store, prefix)
            for instance in instances:
                instance.stop()
                assert "Traceback" not in instance.log.read_text(), instance.log.read_text()
            database.dispose()
    finally:
        for sock in sockets.values():
            sock.close()
        for instance in instances:
            instance.stop()
        keys = store.keys(f"*/{prefix}/*")
        if keys:
            store.delete(*keys)
        store.close()
        twilio.stop()
        smtp.stop()


@pytest.fixture
def stack(running_stack):
    """The module's instances with nothing left of an earlier test: empty tables
    (the migrations' version kept), no rate-limit keys, no mail, no SMS. A
    Traceback either instance logs during the test fails this test."""
    forget_everything(running_stack)
    instances = (running_stack.a, running_stack.b)
    for instance in instances:
        assert instance.process.poll() is None, (
            f"{instance.name} exited:\n{instance.log.read_text()}"
        )
    logged = {instance.name: instance.log.stat().st_size for instance in instances}
    yield running_stack
    for instance in instances:
        with instance.log.open() as log:
            log.seek(logged[instance.name])
            assert "Traceback" not in (text := log.read()), text


def forget_everything(stack: Stack) -> None:
    tables = sa.inspect(stack.database).get_table_names()
    tables.remove("alembic_version")
    with stack.database.begin() as connection:
        connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
        names = ", ".join(f'"{name}"' for name in tables)
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    keys = stack.redis.keys(f"*/{stack.key_prefix}/*")
    if keys:
        stack.redis.delete(*keys)
    stack.inbox.messages.clear()
    stack.twilio.forget()


class Browser:
    """One browser: a cookie jar, sending each request to the instance it is given."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["User-Agent"] = BROWSER

    def get(self, instance: Instance, path: str) -> requests.Response:
        return self.session.get(instance.url + path, allow_redirects=False, timeout=15)

    def submit(
        self, instance: Instance, path: str, fields: dict, page: str | None = None
    ) -> requests.Response:
        """Fetch the form's page from ``instance``, then post the form to it."""
        form = self.get(instance, page or path)
        assert form.status_code == 200, (page or path, form.status_code)
        data = {**fields, "csrf_token": CSRF.search(form.text).group(1)}
        return self.session.post(instance.url + path, data=data, allow_redirects=False, timeout=15)

    def signed_in_as(self, instance: Instance) -> str | None:
        found = re.search(r"signed in as <strong>([^<]+)</strong>", self.get(instance, "/").text)
        return found.group(1) if found else None

    def has_device_cookie(self) -> bool:
        return "passwordless_device" in self.session.cookies


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def email_code(message: Message) -> str:
    return re.search(r"^(\d{6})\s*$", _text(message), re.M).group(1)


def sign_in_by_email(stack: Stack, browser: Browser, email: str, ask: Instance, use: Instance):
    before = len([m for m in stack.inbox.messages if m["To"] == email])
    asked = browser.submit(ask, "/auth/login", {"email": email})
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/auth/login/code"
    message = stack.emails_to(email, before + 1)[-1]
    used = browser.submit(use, "/auth/login/code", {"code": email_code(message)})
    assert used.status_code == 302, used.text
    return message


def test_a_code_asked_for_on_a_is_used_on_b(stack):
    browser = Browser()
    message = sign_in_by_email(stack, browser, "newcomer@example.com", stack.a, stack.b)
    assert f"{stack.a.url}/auth/login/link?token=" in _text(message)  # links name A
    assert browser.signed_in_as(stack.b) == "newcomer@example.com"
    assert browser.signed_in_as(stack.a) == "newcomer@example.com"
    with stack.database.connect() as connection:
        used = connection.execute(
            sa.text("SELECT consumed_at IS NOT NULL FROM passwordless_secret")
        ).scalars()
        assert list(used) == [True]


def _add_two_factor_user(stack: Stack, email: str) -> None:
    """A user with a password, two-step sign-in on and a verified phone (as in factors.py)."""
    users = sa.table(
        "users",
        *(
            sa.column(name)
            for name in (
                "email",
                "password_hash",
                "phone_number",
                "phone_verified_at",
                "two_factor_enabled",
                "auth_id",
                "created_at",
            )
        ),
    )
    with stack.database.begin() as connection:
        connection.execute(
            users.insert().values(
                email=email,
                password_hash=generate_password_hash(PASSWORD, method="scrypt:1024:8:1"),
                phone_number=PHONE,
                phone_verified_at=sa.func.now(),
                two_factor_enabled=True,
                auth_id=secrets.token_urlsafe(24),
                created_at=sa.func.now(),
            )
        )


def _password(browser: Browser, instance: Instance, email: str) -> requests.Response:
    return browser.submit(instance, "/auth/login/password", {"email": email, "password": PASSWORD})


def _sign_out(browser: Browser, instance: Instance) -> None:
    assert browser.submit(instance, "/auth/logout", {}, page="/").status_code == 302


def test_a_device_remembered_on_a_is_honoured_and_revoked_through_b(stack):
    _add_two_factor_user(stack, "alice@example.com")
    browser = Browser()

    assert _password(browser, stack.a, "alice@example.com").headers["Location"] == (
        "/auth/two-factor"
    )
    [text] = stack.twilio.wait_for_requests(1)
    code = text.form["Body"].rsplit("#", 1)[1]
    remembered = browser.submit(stack.a, "/auth/two-factor", {"code": code, "remember": "y"})
    assert remembered.status_code == 302
    assert browser.has_device_cookie()
    _sign_out(browser, stack.a)

    # B knows the device A remembered: the password alone signs in.
    assert _password(browser, stack.b, "alice@example.com").headers["Location"] == "/"
    assert browser.signed_in_as(stack.b) == "alice@example.com"
    assert len(stack.twilio.requests) == 1

    # Forget it through B ...
    page = browser.get(stack.b, "/auth/account/devices").text
    [device_id] = re.findall(r'action="/auth/account/devices/(\d+)/revoke"', page)
    revoke = f"/auth/account/devices/{device_id}/revoke"
    forgot = browser.submit(stack.b, revoke, {}, page="/auth/account/devices")
    assert forgot.status_code == 302
    _sign_out(browser, stack.b)

    # ... and A asks for the second step again, though the cookie is still there.
    assert browser.has_device_cookie()
    assert _password(browser, stack.a, "alice@example.com").headers["Location"] == (
        "/auth/two-factor"
    )
    assert len(stack.twilio.wait_for_requests(2)) == 2
    assert browser.signed_in_as(stack.a) is None


def test_rate_limits_are_shared_by_both_instances(stack):
    browser = Browser()
    statuses = [
        browser.submit(instance, "/auth/login", {"email": "limited@example.com"}).status_code
        for instance in (stack.a, stack.b, stack.a, stack.b)
    ]
    assert statuses == [302, 302, 302, 429]  # 3 per minute per address, counted across both
    refused = browser.submit(stack.a, "/auth/login", {"email": "limited@example.com"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert len(stack.emails_to("limited@example.com", 3)) == 3
    keys = stack.redis.keys(
        f"*/{stack.key_prefix}/passwordless/send/login/email:limited@example.com/*"
    )
    assert keys  # the counters live in Redis, under this test's prefix


def test_signing_out_everywhere_on_a_ends_the_session_on_b(stack):
    laptop, phone = Browser(), Browser()
    sign_in_by_email(stack, laptop, "carol@example.com", stack.a, stack.a)
    sign_in_by_email(stack, phone, "carol@example.com", stack.b, stack.b)
    assert phone.get(stack.b, "/private").status_code == 200
    assert laptop.get(stack.b, "/private").status_code == 200

    everywhere = laptop.submit(stack.a, "/auth/logout/everywhere", {}, page="/")
    assert everywhere.status_code == 302

    for browser in (phone, laptop):
        for instance in (stack.b, stack.a):
            response = browser.get(instance, "/private")
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/auth/login")


def test_a_session_signed_out_on_a_is_refused_on_b_even_with_a_copied_cookie(stack):
    browser = Browser()
    sign_in_by_email(stack, browser, "dave@example.com", stack.a, stack.a)
    thief = Browser()
    thief.session.cookies.update(browser.session.cookies)
    assert thief.get(stack.b, "/private").status_code == 200
    _sign_out(browser, stack.a)
    response = thief.get(stack.b, "/private")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_a_session_revoked_from_the_sessions_page_on_a_is_refused_on_b(stack):
    laptop, phone = Browser(), Browser()
    sign_in_by_email(stack, laptop, "erin@example.com", stack.a, stack.a)
    sign_in_by_email(stack, phone, "erin@example.com", stack.b, stack.b)
    assert phone.get(stack.b, "/private").status_code == 200
    page = laptop.get(stack.a, "/auth/account/sessions").text
    [other] = re.findall(r'action="/auth/account/sessions/(\d+)/revoke"', page)
    revoke = f"/auth/account/sessions/{other}/revoke"
    assert laptop.submit(stack.a, revoke, {}, page="/auth/account/sessions").status_code == 302
    response = phone.get(stack.b, "/private")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert laptop.get(stack.b, "/private").status_code == 200
    with stack.database.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, revoked_at IS NOT NULL FROM passwordless_session ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [(int(other) - 1, False), (int(other), True)]
