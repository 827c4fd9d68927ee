"""``python -m bench.whatif``: what two suggested fixes would buy on the protected page.

Not part of the main table: it measures, in alternation with bare Flask-Login,
our app as it is and with each fix applied from the outside:

* ``prebuilt loader``: the user loader executes one statement built once
  (``select(User).where(User.auth_id == bindparam(...))``) instead of
  building and cache-keying a new ``select`` on every request;
* ``no limiter hooks``: Flask-Limiter created disabled (``RATELIMIT_ENABLED =
  False``) when our limits are off, so its before/after/teardown hooks do not
  run on every request of the host app.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from . import apps, data, flows, timing
from .report import Table, pct, times, us


def _prebuilt_loader(app: Flask) -> None:
    adapter = app.extensions["passwordless"].adapter
    statement = sa.select(adapter.model).where(adapter.model.auth_id == sa.bindparam("auth_id"))

    def load_user(auth_id: str) -> Any:
        if not auth_id:
            return None
        return adapter.db.session.execute(statement, {"auth_id": auth_id}).scalar_one_or_none()

    app.login_manager.user_loader(load_user)  # type: ignore[attr-defined]


def _ours(folder: Path, name: str, prebuilt: bool, limiter_off: bool) -> flows.Subject:
    path = folder / f"{name}.sqlite"
    shutil.copyfile(folder / "ours_1k.sqlite", path)
    database = data.Database("ours", 1000, "sqlite", f"sqlite:///{path}")
    make_flask = apps._flask
    if limiter_off:

        def disabled(*args: Any, **kwargs: Any) -> Flask:
            app = make_flask(*args, **kwargs)
            app.config["RATELIMIT_ENABLED"] = False
            return app

        apps._flask = disabled
    try:
        app = apps.make_ours(database.url)
    finally:
        apps._flask = make_flask
    if prebuilt:
        _prebuilt_loader(app)
    return flows.Subject(app, database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="pwl-whatif-"))
    subjects: dict[str, flows.Subject] = {}
    try:
        bare = data.sqlite_database("bare", 1000, folder, cache=False, log=lambda _m: None)
        subjects["Flask-Login (bare)"] = flows.Subject(apps.make_bare(bare.url), bare)
        data.sqlite_database("ours", 1000, folder, cache=False, log=lambda _m: None)
        variants = {
            "ours, as it is": (False, False),
            "ours + prebuilt loader": (True, False),
            "ours + no limiter hooks": (False, True),
            "ours + both": (True, True),
        }
        for number, (label, (prebuilt, limiter_off)) in enumerate(variants.items()):
            subjects[label] = _ours(folder, f"variant{number}", prebuilt, limiter_off)
        for subject in subjects.values():
            subject.protected_pages(50)
        blocks = {
            label: timing.per_op(args.requests, subject.protected_pages)
            for label, subject in subjects.items()
        }
        deadline = time.perf_counter() + 120
        results = timing.alternate(
            blocks, args.rounds, deadline, lambda m: print(m, file=sys.stderr)
        )
    finally:
        for subject in subjects.values():
            subject.close()
        shutil.rmtree(folder, ignore_errors=True)
    base = results["Flask-Login (bare)"].median
    table = Table(
        "What-if: protected page (sqlite, 1k users, Flask test client)",
        ["app", "median / request", "spread", "vs Flask-Login"],
    )
    for label, samples in results.items():
        table.add(label, us(samples.median), pct(samples.spread), times(samples.median / base))
    print(table.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
