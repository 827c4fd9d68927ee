"""What a browser does, driven in-process with the Flask test client.

Each flow is a list of named steps; ``Recorder`` times every step and counts
the SQL statements it ran (SQLAlchemy's ``before_cursor_execute``), so the
same code gives the timings and the statement counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from . import apps, data

CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
OUR_CODE = re.compile(r"^(\d{6,10})$", re.M)
OUR_LINK = re.compile(r"https://bench\.example(/\S+)")


class BenchError(RuntimeError):
    """A flow did not go as a browser would see it (wrong status, no code...)."""


class SqlCounter:
    """Counts statements sent to one app's engine."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        with app.app_context():
            engine = app.extensions["bench"]["db"].engine
        sa.event.listen(engine, "before_cursor_execute", self._seen)
        self.statements: list[str] | None = None

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        if self.statements is not None:
            self.statements.append(" ".join(statement.split())[:160])


@dataclass
class Recorder:
    """Per-step durations and statement counts of the flows run through it."""

    counter: SqlCounter
    times: dict[str, list[float]] = field(default_factory=dict)
    sql: dict[str, list[int]] = field(default_factory=dict)
    flows: list[float] = field(default_factory=list)
    _flow_started: float = 0.0

    def step(self, name: str, call: Callable[[], Any]) -> Any:
        before = self.counter.count
        started = time.perf_counter()
        result = call()
        self.times.setdefault(name, []).append(time.perf_counter() - started)
        self.sql.setdefault(name, []).append(self.counter.count - before)
        return result

    def begin(self) -> None:
        self._flow_started = time.perf_counter()

    def end(self) -> None:
        self.flows.append(time.perf_counter() - self._flow_started)


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        body = response.get_data(as_text=True)[:300]
        raise BenchError(f"{what}: expected {status}, got {response.status_code}: {body!r}")
    return response


def csrf_of(response: Any, what: str) -> str:
    match = CSRF.search(response.get_data(as_text=True))
    if not match:
        raise BenchError(f"{what}: no csrf_token in the page")
    return match.group(1)


def location(response: Any) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- ours --------------------------------------------------------------------


def _our_message(app: Flask, email: str) -> str:
    state = app.extensions["passwordless"]
    state.dispatcher.wait()
    if not state.outbox:
        raise BenchError("ours: no message in the outbox")
    message = state.outbox.pop()
    state.outbox.clear()
    if message.to != email:
        raise BenchError(f"ours: message to {message.to}, expected {email}")
    return message.text


def _no_message(app: Flask) -> None:
    """The app sends no notice: check it, so the same-work row does the same work."""
    state = app.extensions["passwordless"]
    state.dispatcher.wait()
    if state.outbox:
        raise BenchError(f"ours: {state.outbox[-1].template!r} sent with notices off")


def _ours_request(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> tuple[str, Any]:
    """Ask for a code and land on the code page; returns the message text."""
    page = rec.step("GET sign-in page", lambda: client.get("/auth/login"))
    csrf = csrf_of(expect(page, 200, "ours GET /auth/login"), "ours login page")

    def post() -> Any:
        response = client.post("/auth/login", data={"email": email, "csrf_token": csrf})
        text = _our_message(app, email)  # delivery runs on a thread: wait for it
        return response, text

    response, text = rec.step("POST email (send)", post)
    expect(response, 302, "ours POST /auth/login")
    code_page = rec.step("GET code page", lambda: client.get(location(response)))
    expect(code_page, 200, "ours GET code page")
    return text, code_page


def ours_email_code(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    rec.begin()
    text, code_page = _ours_request(app, client, email, rec)
    code = OUR_CODE.search(text).group(1)
    csrf = csrf_of(code_page, "ours code page")
    response = rec.step(
        "POST code",
        lambda: client.post("/auth/login/code", data={"code": code, "csrf_token": csrf}),
    )
    expect(response, 302, "ours POST code")
    _private(client, location(response), email, rec)
    rec.end()


def ours_magic_link(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    rec.begin()
    text, _code_page = _ours_request(app, client, email, rec)
    link = OUR_LINK.search(text).group(1)
    # Two requests: the link's GET moves its token into the session, then the page.
    page = rec.step("GET link page", lambda: client.get(link, follow_redirects=True))
    csrf = csrf_of(expect(page, 200, "ours GET link"), "ours link page")
    token = re.search(r"token=([A-Za-z0-9_-]+)", link).group(1)
    response = rec.step(
        "POST link (confirm)",
        lambda: client.post("/auth/login/link", data={"token": token, "csrf_token": csrf}),
    )
    expect(response, 302, "ours POST link")
    _private(client, location(response), email, rec)
    rec.end()


def _private(client: FlaskClient, path: str, email: str, rec: Recorder) -> None:
    if path != "/private":
        raise BenchError(f"signed in, but sent to {path}, not /private")
    page = rec.step("GET protected page", lambda: client.get("/private"))
    if email not in expect(page, 200, "GET /private").get_data(as_text=True):
        raise BenchError("protected page shows someone else")


# -- Flask-Security-Too ---------------------------------------------------------


def _fst_message(app: Flask, email: str) -> dict[str, Any]:
    outbox = app.extensions["bench"]["outbox"]
    if not outbox:
        raise BenchError("fst: no message captured")
    message = outbox.pop()
    outbox.clear()
    if message["to"] != email:
        raise BenchError(f"fst: message to {message['to']}, expected {email}")
    return message


def _fst_request(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> tuple[Any, Any]:
    page = rec.step("GET sign-in page", lambda: client.get("/us-signin"))
    csrf = csrf_of(expect(page, 200, "fst GET /us-signin"), "fst sign-in page")
    data = {"identity": email, "chosen_method": "email", "csrf_token": csrf}
    response = rec.step("POST email (send)", lambda: client.post("/us-signin/send-code", data=data))
    expect(response, 200, "fst POST /us-signin/send-code")
    return _fst_message(app, email), response


def fst_email_code(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    rec.begin()
    message, page = _fst_request(app, client, email, rec)
    data = {"identity": email, "passcode": message["code"], "csrf_token": csrf_of(page, "fst")}
    response = rec.step("POST code", lambda: client.post("/us-signin", data=data))
    expect(response, 302, "fst POST /us-signin")
    _private(client, location(response), email, rec)
    rec.end()


def fst_magic_link(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    rec.begin()
    message, _page = _fst_request(app, client, email, rec)
    parts = urlsplit(message["link"])
    response = rec.step("GET link (signs in)", lambda: client.get(f"{parts.path}?{parts.query}"))
    expect(response, 302, "fst GET us-verify-link")
    _private(client, location(response), email, rec)
    rec.end()


# -- password + authenticator app (TOTP) ---------------------------------------------
#
# The phone's part (reading the secret, computing the code) happens before the
# sign-in's clock starts: a person reads the code off the app, then types.


def ours_password_totp(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    app.extensions["passwordless"].clock.tick()  # a fresh time step for this sign-in
    code = apps.ours_totp_code(app, app.extensions["bench"]["totp_secrets"][email])
    rec.begin()
    page = rec.step("GET sign-in page", lambda: client.get("/auth/login/password"))
    csrf = csrf_of(expect(page, 200, "ours GET /auth/login/password"), "ours password page")
    data = {"email": email, "password": apps.TOTP_PASSWORD, "csrf_token": csrf}
    response = rec.step("POST password", lambda: client.post("/auth/login/password", data=data))
    if location(expect(response, 302, "ours POST password")) != "/auth/two-factor":
        raise BenchError(f"ours: password sent to {location(response)}, not the second step")
    page = rec.step("GET code page", lambda: client.get("/auth/two-factor"))
    csrf = csrf_of(expect(page, 200, "ours GET /auth/two-factor"), "ours two-factor page")
    if 'value="totp"' not in page.get_data(as_text=True):
        raise BenchError("ours: the second step does not offer the authenticator app")

    def post() -> Any:
        form = {"method": "totp", "code": code, "csrf_token": csrf}
        response = client.post("/auth/two-factor", data=form)
        # A sign-in from a new browser emails the owner (on a thread): wait for it.
        if app.config["PASSWORDLESS_NOTIFY_NEW_DEVICE"]:
            _our_message(app, email)
        else:
            _no_message(app)
        return response

    response = rec.step("POST code", post)
    expect(response, 302, "ours POST /auth/two-factor")
    _private(client, location(response), email, rec)
    rec.end()


def fst_password_totp(app: Flask, client: FlaskClient, email: str, rec: Recorder) -> None:
    code = apps.fst_totp_code(app, app.extensions["bench"]["totp_secrets"][email])
    rec.begin()
    page = rec.step("GET sign-in page", lambda: client.get("/login"))
    csrf = csrf_of(expect(page, 200, "fst GET /login"), "fst login page")
    data = {"email": email, "password": apps.TOTP_PASSWORD, "csrf_token": csrf}
    response = rec.step("POST password", lambda: client.post("/login", data=data))
    code_page = location(expect(response, 302, "fst POST /login"))
    if urlsplit(code_page).path != "/tf-validate":
        raise BenchError(f"fst: password sent to {code_page}, not /tf-validate")
    page = rec.step("GET code page", lambda: client.get(code_page))
    csrf = csrf_of(expect(page, 200, "fst GET /tf-validate"), "fst tf-validate page")
    form = {"code": code, "csrf_token": csrf}
    response = rec.step("POST code", lambda: client.post(code_page, data=form))
    landing = location(expect(response, 302, "fst POST /tf-validate"))
    if landing == "/login":
        # FST carries next=<the login page> through the second step (when the
        # sign-in page had no next); the signed-in browser is sent on from there.
        response = rec.step("GET /login (redirect)", lambda: client.get(landing))
        landing = location(expect(response, 302, "fst GET /login when signed in"))
    _private(client, landing, email, rec)
    rec.end()


FLOWS: dict[str, dict[str, Callable[..., None]]] = {
    "email_code": {"ours": ours_email_code, "fst": fst_email_code},
    "magic_link": {"ours": ours_magic_link, "fst": fst_magic_link},
    "password_totp": {"ours": ours_password_totp, "fst": fst_password_totp},
}


# -- subjects: one app, one database, ready to be timed ------------------------------


class Subject:
    """One app on one database, with the users that sign in to it."""

    def __init__(self, app: Flask, database: data.Database) -> None:
        self.app = app
        self.database = database
        self.kind = database.kind
        self.counter = SqlCounter(app)
        self.users = [data.email_of(i) for i in data.pool_ids(database.size, data.POOL)]
        self.user_ids = data.pool_ids(database.size, data.POOL)
        self._next = 0
        self._signed_in: FlaskClient | None = None

    def next_email(self) -> str:
        email = self.users[self._next % len(self.users)]
        self._next += 1
        return email

    def run_flow(self, flow: str, rec: Recorder) -> None:
        """One whole sign-in, in a new browser (a new client, no cookies)."""
        FLOWS[flow][self.kind](self.app, self.app.test_client(), self.next_email(), rec)

    def signed_in_client(self) -> FlaskClient:
        """A browser signed in the way each app signs people in."""
        if self._signed_in is None:
            client = self.app.test_client()
            if self.kind == "bare":
                expect(client.get(f"/_bench/sign-in/{self.user_ids[0]}"), 200, "bare sign-in")
            else:
                FLOWS["email_code"][self.kind](
                    self.app, client, self.users[0], Recorder(self.counter)
                )
            expect(client.get("/private"), 200, f"{self.kind} signed-in page")
            self._signed_in = client
        return self._signed_in

    def protected_pages(self, count: int) -> None:
        client = self.signed_in_client()
        for _ in range(count):
            if client.get("/private").status_code != 200:
                raise BenchError(f"{self.kind}: /private stopped answering 200")

    def hello_pages(self, count: int) -> None:
        client = self.signed_in_client()
        for _ in range(count):
            client.get("/hello")

    def protected_page_sql(self) -> tuple[int, list[str]]:
        """The statements of a signed-in page in the steady state: one request
        first, which takes any write that was due (ours writes the session row's
        ``last_seen_at`` once per PASSWORDLESS_SESSION_TOUCH_EVERY), then the one
        counted."""
        client = self.signed_in_client()
        expect(client.get("/private"), 200, f"{self.kind} /private")
        return self._counted(lambda: client.get("/private"))

    def touch_sql(self) -> tuple[int, list[str]]:
        """Ours: the statements of the one request a minute that also writes
        ``last_seen_at`` (the extension's clock moved past the touch interval)."""
        client = self.signed_in_client()
        state = self.app.extensions["passwordless"]
        every = timedelta(seconds=self.app.config["PASSWORDLESS_SESSION_TOUCH_EVERY"])
        clock = state.clock
        state.clock = lambda: clock() + every
        try:
            return self._counted(lambda: client.get("/private"))
        finally:
            state.clock = clock

    def _counted(self, request: Callable[[], Any]) -> tuple[int, list[str]]:
        seen: list[str] = []
        self.counter.statements = seen
        before = self.counter.count
        expect(request(), 200, f"{self.kind} /private")
        count, self.counter.statements = self.counter.count - before, None
        return count, seen

    def close(self) -> None:
        with self.app.app_context():
            db = self.app.extensions["bench"]["db"]
            db.session.remove()
            db.engine.dispose()


class TotpSubject(Subject):
    """The TOTP app of one kind on one database: its users are the TOTP users, and
    their secrets are read once from the stored rows (what each phone holds)."""

    def __init__(self, app: Flask, database: data.Database) -> None:
        super().__init__(app, database)
        self.user_ids = data.totp_ids(database.size)
        self.users = [data.email_of(i) for i in self.user_ids]
        app.extensions["bench"]["totp_secrets"] = self._secrets()

    def _secrets(self) -> dict[str, str]:
        bench = self.app.extensions["bench"]
        db, user = bench["db"], bench["user"]
        with self.app.app_context():
            if self.kind == "fst":
                rows = db.session.execute(
                    sa.select(user.email, user.tf_totp_secret).where(user.id.in_(self.user_ids))
                )
                found = {email: secret for email, secret in rows}
            else:
                table = db.metadata.tables["passwordless_authenticator"]
                keys = {str(i): data.email_of(i) for i in self.user_ids}
                rows = db.session.execute(
                    sa.select(table.c.user_key, table.c.data).where(
                        table.c.user_key.in_(keys), table.c.type == "totp"
                    )
                )
                found = {
                    keys[key]: apps.ours_totp_secret(self.app, stored, key) for key, stored in rows
                }
            db.session.remove()
        if set(found) != set(self.users):
            raise BenchError(f"{self.kind}: {len(found)} TOTP users of {len(self.users)} found")
        return found

    def run_flow(self, flow: str, rec: Recorder) -> None:
        FLOWS["password_totp"][self.kind](self.app, self.app.test_client(), self.next_email(), rec)
