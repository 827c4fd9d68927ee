"""``python -m bench``: build the apps and databases, measure in alternation, print the tables."""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import data, flows, profiling, server, timing
from .report import Table, ms, pct, times, us

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NAMES = {"bare": "Flask-Login (bare)", "ours": "flask-passwordless", "fst": "Flask-Security-Too"}
#: ours as deployed by default, rate limits on (the other subjects of ours have them off).
DEFAULTS = "flask-passwordless, rate limits on"
#: The password + authenticator-app flow runs on a second app of each kind (see apps.py).
TOTP_FLOW = "password_totp"
TITLES = {
    "email_code": "Email-code sign-in",
    "magic_link": "Magic-link sign-in",
    TOTP_FLOW: "Password + authenticator-app (TOTP) sign-in",
}
NUMBERS = {"email_code": "2", "magic_link": "3", TOTP_FLOW: "6"}
TARGETS = {"email_code": 3, "magic_link": 3, TOTP_FLOW: 2}


#: ours in the TOTP flow with PASSWORDLESS_NOTIFY_NEW_DEVICE off: the same work as FST,
#: which emails nobody at sign-in (small tables only; it shares ours' schema and clock).
SAME_WORK = "ours, same work"


def subject_kind(kind: str, flow: str) -> str:
    """The subjects' key for ``kind`` in ``flow``: the TOTP flow has its own apps."""
    if kind == SAME_WORK:
        return "ours+totp, no notice"
    return f"{kind}+totp" if flow == TOTP_FLOW else kind


MISSING_HELP = (
    "bench: {what} is not installed; the bench needs it for the comparison.\n"
    "Install the bench requirements into this environment:\n\n"
    "    pip install -r requirements-bench.txt\n"
)


@dataclass
class Settings:
    quick: bool
    small: int
    large: int
    page_rounds: int
    page_count: int
    flow_rounds: int
    flow_count: int
    pg_page_rounds: int
    pg_flow_rounds: int
    server_levels: tuple[int, ...]
    page_server_levels: tuple[int, ...]
    server_seconds: float
    server_reps: int
    server_max_flows: int
    profile_pages: int
    profile_flows: int
    phase_seconds: float

    @classmethod
    def make(cls, args: argparse.Namespace) -> Settings:
        if args.quick:
            settings = cls(
                quick=True,
                small=1000,
                large=args.large or 20_000,
                page_rounds=5,
                page_count=150,
                flow_rounds=4,
                flow_count=5,
                pg_page_rounds=3,
                pg_flow_rounds=3,
                server_levels=(1, 4),
                page_server_levels=(1, 4),
                server_seconds=2.0,
                server_reps=1,
                server_max_flows=2000,
                profile_pages=300,
                profile_flows=20,
                phase_seconds=12.0,
            )
        else:
            settings = cls(
                quick=False,
                small=1000,
                large=args.large or 1_000_000,
                page_rounds=30,
                page_count=200,
                flow_rounds=16,
                flow_count=8,
                pg_page_rounds=16,
                pg_flow_rounds=24,
                server_levels=(1, 4, 16),
                page_server_levels=(1, 4, 16),
                server_seconds=6.0,
                server_reps=2,
                server_max_flows=20_000,
                profile_pages=2000,
                profile_flows=100,
                phase_seconds=45.0,
            )
        return settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="flask-passwordless vs bare Flask-Login vs Flask-Security-Too: "
        "medians and ratios, measured in alternation in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--large", type=int, help="rows in the large tables (default 1000000)")
    parser.add_argument("--no-server", action="store_true", help="skip the gunicorn part")
    parser.add_argument("--no-profile", action="store_true", help="skip profiling")
    parser.add_argument("--no-postgres", action="store_true", help="ignore PostgreSQL")
    parser.add_argument(
        "--no-cache", action="store_true", help="rebuild the large SQLite files, do not cache"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="where to write the RST results (default: bench/RESULTS.rst on a full run, "
        "nowhere with --quick)",
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def missing_requirements(need_server: bool) -> str | None:
    wanted = {
        "flask_security": "Flask-Security-Too",
        "cryptography": "cryptography",
        "qrcode": "qrcode",
    }
    if need_server:
        wanted["gunicorn"] = "gunicorn"
    for module, name in wanted.items():
        if importlib.util.find_spec(module) is None:
            return name
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_requirements(need_server=not args.no_server)
    if missing:
        print(MISSING_HELP.format(what=missing), file=sys.stderr)
        return 2
    settings = Settings.make(args)
    results_path = args.results or (None if settings.quick else HERE / "RESULTS.rst")
    pg_raw = None if args.no_postgres else os.environ.get("PASSWORDLESS_TEST_DATABASE_URL")
    bench = Bench(settings, pg_raw, cache=not args.no_cache)
    started = time.perf_counter()
    try:
        tables = bench.run(server_part=not args.no_server, profile_part=not args.no_profile)
    finally:
        bench.close()
    elapsed = time.perf_counter() - started
    command = "python -m bench" + (" --quick" if settings.quick else "")
    text = render_text(tables, bench, settings, elapsed, command)
    print(text)
    if results_path:
        results_path.write_text(render_rst(tables, bench, settings, elapsed, command))
        log(f"bench: wrote {results_path}")
    return 0


# -- the bench ------------------------------------------------------------------


class Bench:
    def __init__(self, settings: Settings, pg_raw: str | None, cache: bool) -> None:
        self.settings = settings
        self.cache = cache
        self.run_dir = Path(tempfile.mkdtemp(prefix="pwl-bench-"))
        self.pg = data.PostgresSchemas(pg_raw) if pg_raw else None
        self.subjects: dict[tuple[str, str, int], flows.Subject] = {}
        self.summary = Table("Summary: ratios and targets", ["measure", "ratio", "target"])
        self.load_at_start = _load()

    def close(self) -> None:
        for subject in self.subjects.values():
            subject.close()
        if self.pg is not None:
            self.pg.drop_all()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- set-up --------------------------------------------------------------

    def _databases(self) -> None:
        s = self.settings
        log(f"bench: databases in {self.run_dir}")
        for size in (s.small, s.large):
            for kind in ("bare", "ours", "fst"):
                cached = self.cache and size >= 100_000
                database = data.sqlite_database(kind, size, self.run_dir, cached, log)
                self._subject(database)
        # The server runs on its own copies of the small files, untouched so far.
        (self.run_dir / "server").mkdir()
        for kind in ("bare", "ours", "fst"):
            name = f"{kind}_{data.human(s.small)}.sqlite"
            shutil.copyfile(self.run_dir / name, self.run_dir / "server" / name)
        if self.pg is not None:
            for size in (s.small, s.large):
                for kind in ("bare", "ours", "fst"):
                    self._subject(self.pg.database(kind, size, log))
            self.pg.settle(log)

    def _subject(self, database: data.Database) -> None:
        from .apps import make_app

        app = make_app(database.kind, database.url, database.schema)
        subject = flows.Subject(app, database)
        self.subjects[(database.backend, database.kind, database.size)] = subject
        if database.kind in ("ours", "fst"):
            app = make_app(database.kind, database.url, database.schema, totp=True)
            key = (database.backend, subject_kind(database.kind, TOTP_FLOW), database.size)
            self.subjects[key] = flows.TotpSubject(app, database)
        if database.kind == "ours" and database.size == self.settings.small:
            quiet = make_app("ours", database.url, database.schema, totp=True, notify=False)
            # One clock for both TOTP apps of the schema: each sign-in types a step
            # neither used.
            quiet.extensions["passwordless"].clock = app.extensions["passwordless"].clock
            key = (database.backend, subject_kind(SAME_WORK, TOTP_FLOW), database.size)
            self.subjects[key] = flows.TotpSubject(quiet, database)
            app = make_app("ours", database.url, database.schema, limits=True)
            self.subjects[(database.backend, DEFAULTS, database.size)] = flows.Subject(
                app, database
            )

    def _warm_up(self) -> None:
        """Compile templates, open connections, fill SQLAlchemy's statement caches."""
        for (_backend, kind, _size), subject in self.subjects.items():
            if isinstance(subject, flows.TotpSubject):
                rec = flows.Recorder(subject.counter)
                for _ in range(3):
                    subject.run_flow(TOTP_FLOW, rec)
                continue
            subject.protected_pages(20)
            if kind in ("ours", "fst"):  # DEFAULTS serves only the protected page
                rec = flows.Recorder(subject.counter)
                for flow in ("email_code", "magic_link"):
                    for _ in range(3):
                        subject.run_flow(flow, rec)

    def run(self, server_part: bool, profile_part: bool) -> list[Table]:
        self._databases()
        log("bench: warming up")
        self._warm_up()
        tables: list[Table] = []
        backends = ["sqlite"] + (["postgresql"] if self.pg is not None else [])
        growth = Table(
            "4. Growth: small vs large tables (users; for ours as many used/expired secrets "
            "and other browsers' session rows)",
            ["database", "app", "measure", "small", "large", "large / small", "target"],
        )
        totp_tables: list[Table] = []
        for backend in backends:
            pages = self._pages(backend)
            codes = self._sign_ins(backend, "email_code")
            if backend == "sqlite":
                tables.append(self._page_table(backend, pages))
                tables.append(self._flow_table(backend, "email_code", codes))
                links = self._sign_ins(backend, "magic_link", sizes=(self.settings.small,))
                tables.append(self._flow_table(backend, "magic_link", links))
            else:
                tables.append(self._page_table(backend, pages))
                tables.append(self._flow_table(backend, "email_code", codes))
            self._growth_rows(growth, backend, pages, codes)
            totps = self._sign_ins(backend, TOTP_FLOW)
            totp_table = self._flow_table(backend, TOTP_FLOW, totps)
            if backend == "sqlite":
                self._hash_note(totp_table, totps)
            totp_tables.append(totp_table)
            self._flow_growth_rows(growth, backend, TOTP_FLOW, totps)
        growth.notes.append(
            "Flask-Security-Too finds the signing-in user with lower(email) = lower(?) "
            "(case-insensitive identity); its stock model indexes email, not lower(email), so "
            "each sign-in step scans the user table. An expression index on lower(email) "
            "would be the fix on its side; the bench keeps FST's stock model."
        )
        growth.notes.append(
            f"The password + TOTP rows: the {data.POOL} users who sign in that way have an "
            f"authenticator app each, nobody else, so the authenticator table holds {data.POOL} "
            "rows at both sizes (its lookups are by an indexed user key); only the user "
            "table grows."
        )
        tables.append(growth)
        if server_part:
            tables.append(self._server())
            tables.append(self._server_pages())
        tables.extend(totp_tables)
        if profile_part:
            tables.extend(self._profile())
        return [self.summary, *tables]

    # -- 1. protected page -------------------------------------------------------

    def _pages(self, backend: str) -> dict[Any, timing.Samples]:
        s = self.settings
        rounds = s.page_rounds if backend == "sqlite" else s.pg_page_rounds
        log(f"bench: protected page on {backend}, {rounds} rounds of {s.page_count} requests")
        blocks: dict[Any, Callable[[], list[float]]] = {}
        for size in (s.small, s.large):
            bare = self.subjects[(backend, "bare", size)]
            blocks[("hello", size)] = timing.per_op(s.page_count, bare.hello_pages)
            for kind in ("bare", "ours", "fst", DEFAULTS):
                subject = self.subjects.get((backend, kind, size))
                if subject is not None:
                    blocks[(kind, size)] = timing.per_op(s.page_count, subject.protected_pages)
        deadline = time.perf_counter() + s.phase_seconds
        return timing.alternate(blocks, rounds, deadline, log)

    def _page_table(self, backend: str, samples: dict[Any, timing.Samples]) -> Table:
        size = self.settings.small
        table = Table(
            f"1{_tier(backend)}. Protected page: signed-in GET /private ({backend}, "
            f"{data.human(size)} users, "
            "Flask test client)",
            ["app", "median / request", "spread", "SQL / request", "vs Flask-Login", "target"],
        )
        base = samples[("bare", size)].median
        hello = samples[("hello", size)]
        table.add(
            "Flask alone (GET /hello)", us(hello.median), pct(hello.spread), 0,
            times(hello.median / base), "floor: test client + Flask",
        )  # fmt: skip
        statements = {}
        for kind in ("bare", "ours", "fst"):
            subject = self.subjects[(backend, kind, size)]
            count, sql = subject.protected_page_sql()
            statements[kind] = (count, sql)
            got = samples[(kind, size)]
            target = {"bare": "baseline", "ours": "rate limits off", "fst": "reference"}[kind]
            table.add(
                NAMES[kind], us(got.median), pct(got.spread), count,
                times(got.median / base), target,
            )  # fmt: skip
        default = samples[(DEFAULTS, size)]
        table.add(
            DEFAULTS, us(default.median), pct(default.spread), statements["ours"][0],
            times(default.median / base), "target: within 10%",
        )  # fmt: skip
        table.notes.append(
            "flask-passwordless runs with its rate limits off (PASSWORDLESS_LIMITER_ENABLED "
            "= False), as in the sign-in tables; the Limiter it creates is then off. The last "
            "row is the default deployment, limits on: the Limiter the extension creates runs "
            "its before, after and teardown hooks on the extension's own pages only, so the "
            "host's protected page does not pay for them."
        )
        if backend == "postgresql":
            table.notes.append(
                "On PostgreSQL ours reads the user and session outside a transaction "
                "(PASSWORDLESS_READS_OUTSIDE_TRANSACTION, on by default): one round trip. "
                "Flask-Login's and Flask-Security-Too's reads open one on the request's "
                "db.session, which its end rolls back: BEGIN, the read, ROLLBACK."
            )
        ours_ratio = default.median / base
        fst_ratio = samples[("fst", size)].median / base
        self.summary.add(
            f"Protected page ({backend}): ours (default, rate limits on) / Flask-Login",
            times(ours_ratio), "target: within 10% (<= 1.10x)",
        )  # fmt: skip
        self.summary.add(
            f"Protected page ({backend}): ours, rate limits off / Flask-Login",
            times(samples[("ours", size)].median / base), "reference",
        )  # fmt: skip
        self.summary.add(
            f"Protected page ({backend}): Flask-Security-Too / Flask-Login", times(fst_ratio),
            "reference",
        )  # fmt: skip
        touch_count, touch_sql = self.subjects[(backend, "ours", size)].touch_sql()
        self.summary.add(
            f"SQL statements for a signed-in page ({backend}): ours",
            f"{statements['ours'][0]} ({touch_count} once a minute)", "target: at most 1",
        )  # fmt: skip
        for kind, (_count, sql) in statements.items():
            for statement in sql:
                table.notes.append(f"{NAMES[kind]}: {statement}")
        table.notes.append(
            "SQL / request is the steady state (a request that had a write due goes first). "
            "Once per PASSWORDLESS_SESSION_TOUCH_EVERY (60 s) a browser's request of ours also "
            f"writes its row's last_seen_at, on a connection of its own: {touch_count} "
            "statements then; the write: "
            + "; ".join(sql for sql in touch_sql if not sql.startswith("SELECT"))
        )
        table.notes.append(
            "spread = interquartile range / median over the rounds; "
            f"{len(hello.values)} rounds of {self.settings.page_count} requests each."
        )
        return table

    # -- 2./3. sign-in flows ----------------------------------------------------------

    def _sign_ins(
        self, backend: str, flow: str, sizes: tuple[int, ...] | None = None
    ) -> dict[Any, flows.Recorder]:
        s = self.settings
        sizes = sizes or (s.small, s.large)
        rounds = s.flow_rounds if backend == "sqlite" else s.pg_flow_rounds
        log(f"bench: {flow} sign-in on {backend}, {rounds} rounds of {s.flow_count} flows")
        recorders: dict[Any, flows.Recorder] = {}
        blocks: dict[Any, Callable[[], list[float]]] = {}
        for size in sizes:
            kinds = ["ours", "fst"]
            if flow == TOTP_FLOW and size == s.small:
                kinds.append(SAME_WORK)
            for kind in kinds:
                subject = self.subjects[(backend, subject_kind(kind, flow), size)]
                recorder = flows.Recorder(subject.counter)
                recorders[(kind, size)] = recorder
                count = s.flow_count
                if kind == "fst" and size == s.large:
                    # Its large-table sign-ins take ~0.5 s each (see the growth note).
                    count = max(2, count // 4)
                blocks[(kind, size)] = self._flow_block(subject, flow, recorder, count)
        deadline = time.perf_counter() + s.phase_seconds
        timing.alternate(blocks, rounds, deadline, log)
        return recorders

    def _flow_block(
        self, subject: flows.Subject, flow: str, recorder: flows.Recorder, count: int
    ) -> Callable[[], list[float]]:
        def block() -> list[float]:
            for _ in range(count):
                subject.run_flow(flow, recorder)
            return recorder.flows[-count:]

        return block

    def _flow_table(self, backend: str, flow: str, recorders: dict[Any, flows.Recorder]) -> Table:
        size = self.settings.small
        ours, fst = recorders[("ours", size)], recorders[("fst", size)]
        number = NUMBERS[flow] + _tier(backend)
        title, target = TITLES[flow], TARGETS[flow]
        table = Table(
            f"{number}. {title} ({backend}, {data.human(size)} users): every request a browser "
            "makes, from the sign-in page to the protected page",
            ["step", "ours: median", "ours: SQL", "FST: median", "FST: SQL"],
        )
        if flow == TOTP_FLOW:
            steps = _merged_steps(list(ours.times), list(fst.times))
        else:
            steps = list(dict.fromkeys([*ours.times, *fst.times]))
        for step in steps:
            table.add(step, *_step_cells(ours, step), *_step_cells(fst, step))
        ours_flow, fst_flow = timing.Samples(ours.flows), timing.Samples(fst.flows)
        table.add(
            "whole sign-in", ms(ours_flow.median), _sql_total(ours),
            ms(fst_flow.median), _sql_total(fst),
        )  # fmt: skip
        speedup = fst_flow.median / ours_flow.median
        low, high = timing.ratio_interval(fst.flows, ours.flows, self.settings.flow_count)
        table.notes.append(
            f"Flask-Security-Too / ours: {times(speedup)} (target: >= {target}x); "
            f"{times(low)} to {times(high)} over other draws of this run's rounds (90%). "
            f"Spread (IQR/median): ours {pct(ours_flow.spread)}, FST {pct(fst_flow.spread)}; "
            f"{len(ours.flows)} and {len(fst.flows)} flows."
        )
        if flow == "email_code":
            table.notes.append(
                "Ours: POST /auth/login redirects to the code page (GET code page); "
                "FST answers the send-code POST with the code form itself. "
                "Our message is delivered on a background thread; the POST step includes "
                "waiting for it."
            )
        elif flow == "magic_link":
            table.notes.append(
                "Ours: the link opens a confirmation page and its button (POST) signs in, so "
                "mail scanners cannot use it; FST's us-verify-link signs in on the GET."
            )
        else:
            table.notes.extend(TOTP_NOTES)
        self.summary.add(
            f"{title} ({backend}): Flask-Security-Too / ours",
            f"{times(speedup)} ({times(low)}-{times(high)})", f"target: >= {target}x",
        )  # fmt: skip
        if (SAME_WORK, size) in recorders:
            self._same_work_rows(table, backend, recorders[(SAME_WORK, size)], ours, fst)
        return table

    def _same_work_rows(
        self,
        table: Table,
        backend: str,
        quiet: flows.Recorder,
        ours: flows.Recorder,
        fst: flows.Recorder,
    ) -> None:
        """Ours without the new-browser email, in the same rounds: the sign-in FST does
        (it emails nobody), and what our notice costs beside it."""
        quiet_flow = timing.Samples(quiet.flows)
        fst_median = timing.Samples(fst.flows).median
        table.add(
            "whole sign-in, ours without the new-browser email", ms(quiet_flow.median),
            _sql_total(quiet), "", "",
        )  # fmt: skip
        speedup = fst_median / quiet_flow.median
        low, high = timing.ratio_interval(fst.flows, quiet.flows, self.settings.flow_count)
        notice = timing.Samples(ours.flows).median - quiet_flow.median
        table.notes.append(
            f"The same work (ours with PASSWORDLESS_NOTIFY_NEW_DEVICE off, as FST sends no "
            f"email; a third app on ours' tables, measured in the same rounds): Flask-Security-"
            f"Too / ours {times(speedup)} ({times(low)} to {times(high)}). The new-browser "
            f"email costs ours about {ms(notice)} per sign-in (rendered in the request, "
            "delivered on a thread); it is on by default and stays on in the row above."
        )
        self.summary.add(
            f"{TITLES[TOTP_FLOW]} ({backend}), the same work (no new-browser email, as FST "
            "sends none): Flask-Security-Too / ours",
            f"{times(speedup)} ({times(low)}-{times(high)})", f"target: >= {TARGETS[TOTP_FLOW]}x",
        )  # fmt: skip

    def _hash_note(self, table: Table, recorders: dict[Any, flows.Recorder]) -> None:
        """Each library's default password hash, timed apart: the flow uses one cheap
        hash for both, and this says what the defaults would add to its POST password."""
        from . import apps

        size = self.settings.small
        reps = 3 if self.settings.quick else 7
        cost = {}
        for kind in ("ours", "fst"):
            for key in (kind, subject_kind(kind, TOTP_FLOW)):
                cost[key] = _password_check_cost(self.subjects[("sqlite", key, size)].app, reps)
        flow = {
            kind: timing.Samples(recorders[(kind, size)].flows).median for kind in ("ours", "fst")
        }
        ours_default = flow["ours"] - cost["ours+totp"] + cost["ours"]
        fst_default = flow["fst"] - cost["fst+totp"] + cost["fst"]
        table.notes.append(
            f"Both hash passwords the same way here ({apps.OURS_TOTP_HASH}; FST: pbkdf2_sha256 "
            f"at 1000 rounds after its HMAC): one check costs ours {ms(cost['ours+totp'])}, "
            f"FST {ms(cost['fst+totp'])}. Each library's default is slow on purpose: ours "
            f"(Werkzeug scrypt) {ms(cost['ours'])}, FST (argon2) {ms(cost['fst'])} per check "
            f"(median of {reps}). With the defaults, a whole sign-in would be about ours "
            f"{ms(ours_default)}, FST {ms(fst_default)} ({times(fst_default / ours_default)}): "
            "the hashes' cost, not the libraries'."
        )

    # -- 4. growth -------------------------------------------------------------------

    def _growth_rows(
        self,
        table: Table,
        backend: str,
        pages: dict[Any, timing.Samples],
        codes: dict[Any, flows.Recorder],
    ) -> None:
        s = self.settings
        small, large = data.human(s.small), data.human(s.large)
        table.headers[3:5] = [small, large]
        table.headers[5] = f"{large} / {small}"
        for kind in ("bare", "ours", "fst"):
            a, b = pages[(kind, s.small)].median, pages[(kind, s.large)].median
            target = "target: <= 1.2x" if kind == "ours" else "reference"
            table.add(backend, NAMES[kind], "protected page", us(a), us(b), times(b / a), target)
            if kind == "ours":
                self.summary.add(
                    f"Growth ({backend}), protected page: ours {large} / {small}", times(b / a),
                    "target: <= 1.2x",
                )  # fmt: skip
        self._flow_growth_rows(table, backend, "email_code", codes)

    def _flow_growth_rows(
        self, table: Table, backend: str, flow: str, codes: dict[Any, flows.Recorder]
    ) -> None:
        s = self.settings
        small, large = data.human(s.small), data.human(s.large)
        measure = {"email_code": "email-code sign-in", TOTP_FLOW: "password + TOTP sign-in"}[flow]
        for kind in ("ours", "fst"):
            a = timing.Samples(codes[(kind, s.small)].flows).median
            b = timing.Samples(codes[(kind, s.large)].flows).median
            target = "target: <= 1.2x" if kind == "ours" else "reference"
            table.add(backend, NAMES[kind], measure, ms(a), ms(b), times(b / a), target)
            if kind == "ours":
                self.summary.add(
                    f"Growth ({backend}), {measure}: ours {large} / {small}",
                    times(b / a), "target: <= 1.2x",
                )  # fmt: skip
            small_sql, large_sql = (
                _sql_total(codes[(kind, s.small)]),
                _sql_total(codes[(kind, s.large)]),
            )
            if small_sql != large_sql:
                table.notes.append(
                    f"{backend} {NAMES[kind]}, {measure}: SQL per sign-in {small_sql} ({small}) vs "
                    f"{large_sql} ({large})"
                )

    # -- 5. real server --------------------------------------------------------------------

    def _server(self) -> Table:
        s = self.settings
        log(
            f"bench: gunicorn, 2 workers each, concurrency {s.server_levels}, "
            f"{s.server_reps} x {s.server_seconds:g}s per app and level"
        )
        emails = server.check_emails([data.email_of(i) for i in data.pool_ids(s.small, data.POOL)])
        folder = self.run_dir / "server"
        servers = {}
        try:
            for kind in ("ours", "fst"):
                url = f"sqlite:///{folder / f'{kind}_{data.human(s.small)}.sqlite'}"
                servers[kind] = server.Gunicorn(kind, url, folder)
            for gunicorn in servers.values():
                gunicorn.wait_ready()
                server.warm_up(gunicorn, emails)
            results: dict[tuple[str, int], list[server.LoadResult]] = {}
            for level in s.server_levels:
                for _rep in range(s.server_reps):
                    for kind, gunicorn in servers.items():
                        got = server.drive(
                            gunicorn, emails, level, s.server_seconds, s.server_max_flows
                        )
                        results.setdefault((kind, level), []).append(got)
        except Exception:
            for gunicorn in servers.values():
                log(f"bench: {gunicorn.log_path.name}:\n{gunicorn.log_tail()}")
            raise
        finally:
            for gunicorn in servers.values():
                gunicorn.stop()
        table = Table(
            f"5. Real server: gunicorn, 2 sync workers, SQLite ({data.human(s.small)} users), "
            "whole email-code sign-ins from a local threaded driver",
            ["concurrency", "app", "sign-ins / s", "p50", "p99", "sign-ins", "errors"],
        )
        for level in s.server_levels:
            rates = {}
            for kind in ("ours", "fst"):
                runs = results[(kind, level)]
                merged = server.LoadResult(kind, level)
                for run in runs:
                    merged.flows += run.flows
                    merged.seconds += run.seconds
                    merged.latencies += run.latencies
                    merged.errors += run.errors
                rates[kind] = merged.rate
                table.add(
                    level, NAMES[kind], f"{merged.rate:.1f}", ms(merged.percentile(50)),
                    ms(merged.percentile(99)), merged.flows, len(merged.errors),
                )  # fmt: skip
                for error in merged.errors[:3]:
                    table.notes.append(f"{NAMES[kind]} at {level}: {error}")
            ratio = rates["ours"] / rates["fst"] if rates["fst"] else float("nan")
            self.summary.add(
                f"Server, concurrency {level}: ours / FST sign-ins per second", times(ratio),
                "reference (same driver)",
            )  # fmt: skip
        table.notes.append(
            "Rate limits off for the bench (PASSWORDLESS_LIMITER_ENABLED=False); FST has none. "
            "The driver runs on the same 2 cores as the 4 workers (2 per app, one app loaded at "
            "a time); one TCP connection per request (sync workers close it)."
        )
        table.notes.append(
            f"Each level: {s.server_reps} runs of {s.server_seconds:g}s per app, alternating "
            "ours, FST; flows are bounded by count and time."
        )
        return table

    def _server_pages(self) -> Table:
        """The protected page under gunicorn: requests per second of ours as deployed
        (rate limits on) against bare Flask-Login, one signed-in cookie each."""
        s = self.settings
        levels = s.page_server_levels
        log(
            f"bench: gunicorn protected page, bare vs ours, connections {levels}, "
            f"{s.server_reps} x {s.server_seconds:g}s per app and level"
        )
        if shutil.which("wrk") is None:
            log(
                "bench: wrk is not installed (Debian: apt-get install wrk): the load comes "
                "from threads of this process, which take the workers' cores and the GIL, "
                "and the ratios are noisier"
            )
        folder = self.run_dir / "server"
        user_id = data.pool_ids(s.small, data.POOL)[-1]
        servers: dict[str, server.Gunicorn] = {}
        results: dict[tuple[str, int], list[server.PageLoad]] = {}
        try:
            for kind in ("bare", "ours"):
                url = f"sqlite:///{folder / f'{kind}_{data.human(s.small)}.sqlite'}"
                servers[kind] = server.Gunicorn(kind, url, folder, limits=kind == "ours")
            cookies = {}
            for kind, gunicorn in servers.items():
                gunicorn.wait_ready()
                cookies[kind] = server.signed_in_cookie(gunicorn, data.email_of(user_id), user_id)
                server.load_pages(gunicorn, cookies[kind], 2, 1.0)  # both workers warm
            for level in levels:
                for _rep in range(s.server_reps):
                    for kind, gunicorn in servers.items():
                        got = server.load_pages(gunicorn, cookies[kind], level, s.server_seconds)
                        results.setdefault((kind, level), []).append(got)
        except Exception:
            for gunicorn in servers.values():
                log(f"bench: {gunicorn.log_path.name}:\n{gunicorn.log_tail()}")
            raise
        finally:
            for gunicorn in servers.values():
                gunicorn.stop()
        table = Table(
            f"5b. Real server: gunicorn, 2 sync workers, SQLite ({data.human(s.small)} users), "
            "signed-in GET /private under load",
            ["connections", "app", "requests / s", "p50", "p99", "requests", "errors",
             "vs Flask-Login"],
        )  # fmt: skip
        for level in levels:
            rates = {}
            for kind in ("bare", "ours"):
                runs = results[(kind, level)]
                requests = sum(run.requests - run.errors for run in runs)
                seconds = sum(run.seconds for run in runs)
                rates[kind] = requests / seconds if seconds else float("nan")
                p50 = statistics.median(run.p50 for run in runs)
                p99 = max(run.p99 for run in runs)
                table.add(
                    level, NAMES[kind] if kind == "bare" else DEFAULTS, f"{rates[kind]:.0f}",
                    ms(p50), ms(p99), requests, sum(run.errors for run in runs),
                    times(rates[kind] / rates["bare"]),
                )  # fmt: skip
            self.summary.add(
                f"Server, protected page at {level} connections: ours (rate limits on) / "
                "Flask-Login requests per second",
                times(rates["ours"] / rates["bare"]), "target: within 10% (>= 0.90x)",
            )  # fmt: skip
        tool = results[("bare", levels[0])][0].tool
        table.notes.append(
            f"Load from {'wrk (one thread)' if tool == 'wrk' else 'threads of this process'} "
            "on the same 2 cores as the 2 workers of the app under load (one app at a time, "
            "alternating); one signed-in cookie per app; gunicorn's sync workers close every "
            "connection, so each request is a new TCP connection. Ours runs as deployed, "
            "rate limits on (memory storage). requests / s counts 200s only."
        )
        table.notes.append(
            f"Each level: {s.server_reps} runs of {s.server_seconds:g}s per app; p50 the "
            "median of the runs', p99 the worst run's."
        )
        return table

    # -- profile ----------------------------------------------------------------

    def _profile(self) -> list[Table]:
        s = self.settings
        log("bench: profiling ours")
        subject = self.subjects[("sqlite", "ours", s.small)]
        page = profiling.run(
            "protected page", s.profile_pages, lambda: subject.protected_pages(s.profile_pages)
        )
        recorder = flows.Recorder(subject.counter)

        def sign_ins() -> None:
            for _ in range(s.profile_flows):
                subject.run_flow("email_code", recorder)

        flow = profiling.run("email-code sign-in", s.profile_flows, sign_ins)
        return [
            profiling.by_package(page),
            profiling.ours_functions(page, top=8),
            profiling.by_package(flow),
            profiling.ours_functions(flow),
            profiling.hottest(flow),
        ]


def _merged_steps(ours: list[str], fst: list[str]) -> list[str]:
    """Ours' steps in order, each step only FST makes placed before the next step
    both make (FST's extra redirect comes before the protected page)."""
    merged = list(ours)
    for position, step in enumerate(fst):
        if step in merged:
            continue
        later = [s for s in fst[position + 1 :] if s in merged]
        merged.insert(merged.index(later[0]) if later else len(merged), step)
    return merged


def _password_check_cost(app: Any, reps: int) -> float:
    """Median seconds of one successful password check in ``app``, with its own
    hashing settings (ours: flask_passwordless.passwords; FST: its utils)."""
    import statistics

    from . import apps

    if "passwordless" in app.extensions:
        from flask_passwordless.passwords import hash_password, verify_password

        def check(stored: str) -> bool:
            return verify_password(stored, apps.TOTP_PASSWORD)
    else:
        from flask_security.utils import hash_password, verify_password

        def check(stored: str) -> bool:
            return verify_password(apps.TOTP_PASSWORD, stored)

    with app.app_context():
        stored = hash_password(apps.TOTP_PASSWORD)
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            if not check(stored):
                raise flows.BenchError("a password check failed")
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _tier(backend: str) -> str:
    """Section numbers: 1, 2, 3 on SQLite; 1b, 2b for the PostgreSQL tier."""
    return "" if backend == "sqlite" else "b"


def _step_cells(recorder: flows.Recorder, step: str) -> list[str]:
    if step not in recorder.times:
        return ["—", "—"]
    return [ms(timing.Samples(recorder.times[step]).median), _sql_cell(recorder.sql[step])]


def _sql_cell(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def _sql_total(recorder: flows.Recorder) -> str:
    low = sum(min(counts) for counts in recorder.sql.values())
    high = sum(max(counts) for counts in recorder.sql.values())
    return str(low) if low == high else f"{low}-{high}"


# -- output ------------------------------------------------------------------------


def machine_facts(bench: Bench) -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    facts = [
        ("date (UTC)", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        ("cpu count", str(os.cpu_count())),
        ("load average at start", bench.load_at_start),
        ("load average at end", _load()),
        ("sqlite", sqlite3.sqlite_version),
        ("flask-passwordless", f"{_our_version()} (git {_git_head()})"),
        ("Flask-Security-Too", v("flask-security-too")),
        (
            "Flask / Flask-Login / SQLAlchemy",
            f"{v('flask')} / {v('flask-login')} / {v('sqlalchemy')}",
        ),
        ("gunicorn", v("gunicorn")),
    ]
    if bench.pg is not None:
        with bench.pg.engine.connect() as conn:
            import sqlalchemy as sa

            facts.append(("postgresql", conn.execute(sa.text("SHOW server_version")).scalar()))
    return facts


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _our_version() -> str:
    import flask_passwordless

    return flask_passwordless.__version__


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


NOTES = [
    "Medians and ratios, never pass/fail: targets from issue 7 are shown beside the ratios.",
    "A sign-in ratio's range in brackets: the middle 90% of that ratio over 2000 draws of "
    "the run's rounds with replacement (ours and FST from the same rounds): how much of it "
    "is this run's noise. Runs on this 2-core VM have differed by more: run it again.",
    "All apps on the same kind of database: SQLite files (WAL journal, default synchronous), "
    "one per app and size; PostgreSQL schemas when PASSWORDLESS_TEST_DATABASE_URL is set, "
    "each vacuumed (FREEZE, ANALYZE) once filled, then one CHECKPOINT before any timing, so "
    "the fill's writes are not flushed during it.",
    "Measured in alternation in one process (A B C A B C ...); sign-ins use a new browser "
    "(test client) each, cycling over 200 users spread over the table.",
    "CSRF is on for both sign-in flows (ours: CSRFProtect; FST: its FlaskForms).",
    "Ours runs with its rate limits off (every sign-in comes from one IP; FST has none), "
    "except in the protected page's last row, which is the default deployment.",
    "The user loaders: bare Flask-Login by primary key; ours by auth_id (a unique string "
    "that is rotated to sign a user out everywhere); FST by fs_uniquifier (likewise). "
    "The bare app's user table has the same columns as ours.",
    "Logging is left unconfigured, as in a fresh app (our audit lines at INFO go nowhere). "
    "Other work on the machine shows as spread; the load average is in Machine.",
    "FST: unified sign-in, SECURITY_US_ENABLED_METHODS = ['email', 'password'] (email first), "
    "users without passwords; its TOTP codes need no table, so its 'large' tables hold users "
    "only. Messages are captured (our memory backend; a MailUtil subclass for FST).",
    "Password + authenticator app (sections 6): a second app of each kind on the same "
    "database, so the other sections' apps are unchanged: ours with "
    "PASSWORDLESS_PASSWORD_LOGIN on; FST with SECURITY_TWO_FACTOR on and "
    "SECURITY_TWO_FACTOR_ENABLED_METHODS = ['authenticator']. 200 other users have a "
    "password, two-step on and an app, made with each library's own helpers.",
]

TOTP_NOTES = [
    "The code typed is computed from the secret each library stored (ours: the sealed "
    "secret opened, at our extension's clock; FST: its totp helper, at the real clock), "
    "before the sign-in's clock starts, as a person reads it off the phone.",
    "Ours accepts a time step once per app (one conditional UPDATE), so its clock "
    "(app.extensions['passwordless'].clock) moves 30 s per sign-in and each sign-in "
    "types a fresh step. FST keeps no last counter by default (its Totp.get_last_counter "
    "returns None: no replay protection), so a code works again within its window.",
    "Ours: the POST code step includes waiting for the new-browser notice email that a "
    "password sign-in sends (PASSWORDLESS_NOTIFY_NEW_DEVICE, on by default); FST sends "
    "none, so the last row and note time ours without it too. FST carries next=<its "
    "login page> through the second step, so the browser goes to /login once more before "
    "the protected page (its own row).",
    "Commits that write: ours 1 per sign-in (one transaction holds the check's lockout "
    "hold, the app's time step, the forgiven count and the new session row), FST none (its "
    "session is the cookie, and it keeps no lockout or last step). Ours' code page reads no "
    "row: it is drawn from the step's record in the session.",
]


def render_text(
    tables: list[Table], bench: Bench, settings: Settings, elapsed: float, cmd: str
) -> str:
    parts = [table.text() for table in tables]
    facts = "\n".join(f"  {key}: {value}" for key, value in machine_facts(bench))
    parts.append(f"Machine\n=======\n{facts}\n  bench run time: {elapsed:.0f}s\n")
    parts.append("Notes\n=====\n" + "\n".join(f"  * {note}" for note in NOTES) + "\n")
    parts.append(f"Reproduce: {cmd}  (after: pip install -r requirements-bench.txt)\n")
    return "\n".join(parts)


def render_rst(
    tables: list[Table], bench: Bench, settings: Settings, elapsed: float, cmd: str
) -> str:
    title = "flask-passwordless benchmark results"
    lines = [
        title,
        "=" * len(title),
        "",
        "Reproduce from the repository root::",
        "",
        "    pip install -r requirements-bench.txt",
        f"    {cmd}",
        "",
        "Machine",
        "-------",
        "",
    ]
    lines += [f"* {key}: {value}" for key, value in machine_facts(bench)]
    lines += [f"* bench run time: {elapsed:.0f} s", "", "Notes", "-----", ""]
    lines += [f"* {note}" for note in NOTES]
    lines.append("")
    for table in tables:
        lines.append(table.rst())
    return "\n".join(lines)
