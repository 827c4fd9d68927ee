"""Racer processes for tests/test_races.py (started with multiprocessing's spawn).

Each process builds its own app, engine and connection pool on the shared
PostgreSQL database, then runs jobs sent down its pipe: every job lines up
``threads`` racers, each with its own test client, and releases them all at
once, together with every other process (a barrier across processes). The
reply counts what each racer saw and what the extension signalled.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: The settings every racer app runs with, in every process and in the test itself.
RACE_CONFIG: dict[str, Any] = {
    # Rate limits would stop the racers first; here only the database decides.
    "PASSWORDLESS_LIMITER_ENABLED": False,
    # Failed guesses never wait, so every one of them is counted.
    "PASSWORDLESS_LOCKOUT_FREE_FAILURES": 10**6,
    "PASSWORDLESS_LOCKOUT_MAX_FAILURES": 10**7,
    "PASSWORDLESS_NOTIFY_NEW_DEVICE": False,
}
#: A second app whose every failure sets a wait, to check the wait is the latest one.
STRICT_LOCKOUT: dict[str, Any] = {
    "PASSWORDLESS_LOCKOUT_FREE_FAILURES": 0,
    "PASSWORDLESS_LOCKOUT_MAX_DELAY": 10**9,
}
NEW_PASSWORD = "a new and rather long passphrase"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _csrf(client: Any, path: str) -> str:
    page = client.get(path, follow_redirects=True)  # a link's GET redirects to its bare path
    return _CSRF.search(page.get_data(as_text=True)).group(1)


def _status(response: Any) -> int:
    return response.status_code


def prepare(app: Any, strict: Any, kind: str, args: dict[str, Any]) -> Callable[[], Any]:
    """Do a racer's slow part (fetch its form) now; return the racing request."""
    client = app.test_client()
    if kind == "link":
        data = {"token": args["token"], "csrf_token": _csrf(client, args["page"])}
        return lambda: _status(client.post("/auth/login/link", data=data))
    if kind == "code":
        client.set_cookie("session", args["cookie"])
        data = {"code": args["code"], "csrf_token": args["csrf"]}
        return lambda: _status(client.post("/auth/login/code", data=data))
    if kind == "reset":
        csrf = _csrf(client, args["page"])
        data = {
            "token": args["token"],
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf,
        }
        return lambda: _status(client.post("/auth/reset/confirm", data=data))
    if kind == "revoke":
        client.set_cookie("session", args["cookie"])
        path = f"/auth/account/devices/{args['device_id']}/revoke"
        return lambda: _status(client.post(path, data={"csrf_token": args["csrf"]}))
    if kind == "wrong-password":
        data = {
            "email": args["email"],
            "password": "not the password",
            "csrf_token": _csrf(client, "/auth/login/password"),
        }
        return lambda: _status(client.post("/auth/login/password", data=data))
    if kind == "record":

        def record() -> int:
            with strict.app_context():
                return strict.extensions["passwordless"].failures.record(args["identifier"])

        return record
    raise ValueError(kind)


def serve(url: str, threads: int, conn: Any, barrier: Any) -> None:
    """The body of one racer process."""
    from apps import create_app
    from flask_passwordless import device_revoked, password_changed, user_logged_in

    app = create_app(url, **RACE_CONFIG)
    strict = create_app(url, **{**RACE_CONFIG, **STRICT_LOCKOUT})
    signals: Counter[str] = Counter()
    for name, signal in (
        ("sign_ins", user_logged_in),
        ("revoked", device_revoked),
        ("passwords_changed", password_changed),
    ):
        signal.connect(lambda sender, name=name, **kw: signals.update([name]), app, weak=False)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="racer")
    conn.send("ready")
    while (job := conn.recv()) is not None:
        kind, args = job
        signals.clear()
        go = threading.Event()
        try:
            actions = [prepare(app, strict, kind, args) for _ in range(threads)]
        except Exception:
            barrier.abort()
            conn.send({"error": traceback.format_exc()})
            continue

        def race(action: Callable[[], Any], go: threading.Event = go) -> Any:
            go.wait(30)
            try:
                return action()
            except Exception:  # a 500 under TESTING, or a lost connection
                return "error: " + traceback.format_exc(limit=3)

        futures = [pool.submit(race, action) for action in actions]
        barrier.wait(60)
        go.set()
        results = [future.result(timeout=120) for future in futures]
        conn.send({"results": results, **signals})
    pool.shutdown()
    for made in (app, strict):
        with made.app_context():
            made.extensions["passwordless"].db.engine.dispose()
