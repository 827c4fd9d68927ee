"""A passkey sign-in beside an email-code sign-in, in one run, on one app.

``python -m bench.passkeys [--quick] [--users N] [--rounds N]``: our app on a
filled SQLite file; each round signs one user in by email code and one by
passkey (usernameless options, then the answer), alternating, in new browsers.
The authenticator is the test suite's software one (P-256 keys from
``cryptography``); its signing is the phone's part and is left out of the
timing, as typing the code is. It prints each flow's median and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import apps, data
from .flows import (
    Recorder,
    SqlCounter,
    _private,
    csrf_of,
    expect,
    location,
    ours_email_code,
)

LOGIN = "/auth/login"
PASSKEYS = "/auth/account/passkeys"
ORIGIN = apps.BASE_URL


def _soft_authenticator() -> Any:
    """The suite's software authenticator (tests/ is not a package)."""
    path = Path(__file__).resolve().parent.parent / "tests" / "soft_authenticator.py"
    spec = importlib.util.spec_from_file_location("soft_authenticator", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  (its dataclass looks there)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.SoftAuthenticator()


def enrol(app: Any, soft: Any, email: str) -> bytes:
    """Sign ``email`` in by code and create a passkey on its page; its credential id."""
    client = app.test_client()
    ours_email_code(app, client, email, Recorder(SqlCounter(app)))
    csrf = csrf_of(expect(client.get(PASSKEYS), 200, "passkeys page"), "passkeys page")
    options = client.post(f"{PASSKEYS}/options", data={"csrf_token": csrf}).get_json()
    answer = soft.create(options, origin=ORIGIN)
    saved = client.post(PASSKEYS, data={"csrf_token": csrf, "credential": answer})
    expect(saved, 302, "passkey saved")
    app.extensions["passwordless"].outbox.clear()
    return list(soft.credentials)[-1]


def ours_passkey(app: Any, soft: Any, credential_id: bytes, email: str, rec: Recorder) -> None:
    client = app.test_client()
    rec.begin()
    page = rec.step("GET sign-in page", lambda: client.get(LOGIN))
    csrf = csrf_of(expect(page, 200, "ours GET /auth/login"), "ours login page")
    options = rec.step(
        "POST passkey options",
        lambda: client.post(f"{LOGIN}/passkey/options", data={"csrf_token": csrf}),
    )
    signing = time.perf_counter()  # the authenticator's part: a person at the sensor
    answer = soft.get(expect(options, 200, "options").get_json(), credential_id, origin=ORIGIN)
    signing = time.perf_counter() - signing
    response = rec.step(
        "POST passkey",
        lambda: client.post(f"{LOGIN}/passkey", data={"csrf_token": csrf, "credential": answer}),
    )
    expect(response, 302, "ours POST /auth/login/passkey")
    _private(client, location(response), email, rec)
    rec.end()
    rec.flows[-1] -= signing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 rounds, 10 users")
    parser.add_argument("--users", type=int, default=20, help="users with a passkey")
    parser.add_argument("--rounds", type=int, default=200, help="sign-ins of each kind")
    parser.add_argument("--size", type=int, default=1000, help="rows in the users table")
    args = parser.parse_args(argv)
    users, rounds = (10, 30) if args.quick else (args.users, args.rounds)
    with tempfile.TemporaryDirectory() as run_dir:
        database = data.sqlite_database("ours", args.size, Path(run_dir), False, print)
        app = apps.make_ours(database.url)
        soft = _soft_authenticator()
        emails = [data.email_of(i) for i in data.pool_ids(args.size, users)]
        credentials = {email: enrol(app, soft, email) for email in emails}
        counter = SqlCounter(app)
        by_code, by_passkey = Recorder(counter), Recorder(counter)
        for round_ in range(rounds + 5):  # the first rounds warm up
            email = emails[round_ % len(emails)]
            ours_email_code(app, app.test_client(), email, by_code)
            ours_passkey(app, soft, credentials[email], email, by_passkey)
        code_ms = statistics.median(by_code.flows[5:]) * 1000
        passkey_ms = statistics.median(by_passkey.flows[5:]) * 1000
    print(f"email-code sign-in: median {code_ms:.2f} ms ({rounds} rounds, SQLite, {args.size})")
    print(f"passkey sign-in:    median {passkey_ms:.2f} ms (options + answer + protected page)")
    print(f"passkey / email code: {passkey_ms / code_ms:.2f}x")
    for name in ("POST passkey options", "POST passkey"):
        print(f"  {name}: {statistics.median(by_passkey.sql[name])} SQL statements")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
