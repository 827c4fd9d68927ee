"""The apps under gunicorn (2 workers, 127.0.0.1 only) and a bounded local load driver.

Each driver thread is a stream of new browsers doing whole email-code sign-ins
with ``http.client``. Messages reach the driver through files: each worker's
mail backend writes the rendered message to ``<outbox>/<address>``.
Every run is bounded in time and in flows; gunicorn is stopped by its own pid.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from .flows import CSRF, OUR_CODE, BenchError

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


def file_outbox(directory: str, kind: str) -> Callable[[Any], None]:
    """A mail backend (ours: a Message; FST: a dict) that writes the message to a file."""
    folder = Path(directory)

    def deliver(message: Any) -> None:
        if kind == "ours":
            to, payload = message.to, {"text": message.text}
        else:
            to, payload = message["to"], {"text": message["text"], "code": message["code"]}
        target = folder / to
        temporary = folder / f".{to}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(json.dumps(payload))
        os.replace(temporary, target)

    return deliver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One gunicorn master (ours to start and stop) serving one bench app."""

    def __init__(
        self, kind: str, database_url: str, run_dir: Path, workers: int = 2, limits: bool = False
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.outbox = run_dir / f"outbox_{kind}"
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.log_path = run_dir / f"gunicorn_{kind}.log"
        env = dict(os.environ)
        env.update(
            BENCH_KIND=kind,
            BENCH_DATABASE_URL=database_url,
            BENCH_OUTBOX=str(self.outbox),
            BENCH_LIMITS="1" if limits else "",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{self.port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "bench.wsgi:app",
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                status, _headers, _body = Browser(self.port).request("GET", "/hello")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"gunicorn ({self.kind}) did not come up:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


class Browser:
    """Just enough of a browser: cookies, forms, one connection per request
    (gunicorn's sync workers close the connection after every response)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, Any, str]:
        headers = {"Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            pair, _sep, attributes = cookie.partition(";")
            name, _sep, value = pair.partition("=")
            attributes = attributes.lower()
            if "max-age=0" in attributes or "01 jan 1970" in attributes or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()
        return response.status, response.headers, text


def _expect(got: tuple[int, Any, str], status: int, what: str) -> tuple[int, Any, str]:
    if got[0] != status:
        raise BenchError(f"{what}: expected {status}, got {got[0]}: {got[2][:200]!r}")
    return got


def _csrf(page: str, what: str) -> str:
    match = CSRF.search(page)
    if not match:
        raise BenchError(f"{what}: no csrf_token")
    return match.group(1)


def _path(headers: Any) -> str:
    parts = urlsplit(headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _read_message(outbox: Path, email: str, timeout: float = 10.0) -> dict[str, Any]:
    target = outbox / email
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = json.loads(target.read_text())
        except (FileNotFoundError, ValueError):
            time.sleep(0.001)
            continue
        target.unlink()
        return message
    raise BenchError(f"no message for {email} within {timeout}s")


def ours_flow(port: int, outbox: Path, email: str) -> Browser:
    browser = Browser(port)
    (outbox / email).unlink(missing_ok=True)
    _status, _h, page = _expect(browser.request("GET", "/auth/login"), 200, "GET login")
    form = {"email": email, "csrf_token": _csrf(page, "login")}
    _status, headers, _b = _expect(browser.request("POST", "/auth/login", form), 302, "POST")
    _status, _h, page = _expect(browser.request("GET", _path(headers)), 200, "GET code page")
    code = OUR_CODE.search(_read_message(outbox, email)["text"]).group(1)
    form = {"code": code, "csrf_token": _csrf(page, "code page")}
    _status, headers, _b = _expect(
        browser.request("POST", "/auth/login/code", form), 302, "POST code"
    )
    _status, _h, page = _expect(browser.request("GET", _path(headers)), 200, "GET private")
    if email not in page:
        raise BenchError("ours: protected page shows someone else")
    return browser


def fst_flow(port: int, outbox: Path, email: str) -> None:
    browser = Browser(port)
    (outbox / email).unlink(missing_ok=True)
    _status, _h, page = _expect(browser.request("GET", "/us-signin"), 200, "GET us-signin")
    form = {"identity": email, "chosen_method": "email", "csrf_token": _csrf(page, "signin")}
    _status, _h, page = _expect(
        browser.request("POST", "/us-signin/send-code", form), 200, "POST send-code"
    )
    code = _read_message(outbox, email)["code"]
    form = {"identity": email, "passcode": code, "csrf_token": _csrf(page, "send-code")}
    _status, headers, _b = _expect(browser.request("POST", "/us-signin", form), 302, "POST")
    _status, _h, page = _expect(browser.request("GET", _path(headers)), 200, "GET private")
    if email not in page:
        raise BenchError("fst: protected page shows someone else")


SERVER_FLOWS = {"ours": ours_flow, "fst": fst_flow}


@dataclass
class LoadResult:
    kind: str
    concurrency: int
    flows: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


def drive(
    server: Gunicorn,
    emails: list[str],
    concurrency: int,
    duration: float,
    max_flows: int,
) -> LoadResult:
    """``concurrency`` threads, each doing whole sign-ins for its own users,
    until ``duration`` seconds pass or ``max_flows`` flows have started."""
    flow = SERVER_FLOWS[server.kind]
    result = LoadResult(server.kind, concurrency)
    lock = threading.Lock()
    started_flows = 0
    start = time.perf_counter()
    stop_at = start + duration
    last_end = start

    def worker(index: int) -> None:
        nonlocal started_flows, last_end
        mine = emails[index::concurrency]
        turn = 0
        while time.perf_counter() < stop_at:
            with lock:
                if started_flows >= max_flows:
                    return
                started_flows += 1
            email = mine[turn % len(mine)]
            turn += 1
            began = time.perf_counter()
            try:
                flow(server.port, server.outbox, email)
            except (BenchError, OSError, http.client.HTTPException, AttributeError) as exc:
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    if len(result.errors) > 50:
                        return
                continue
            ended = time.perf_counter()
            with lock:
                result.flows += 1
                result.latencies.append(ended - began)
                last_end = max(last_end, ended)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 120)
    result.seconds = last_end - start
    return result


def warm_up(server: Gunicorn, emails: list[str], count: int = 6) -> None:
    """Both workers import, compile templates and open connections first."""
    for email in emails[:count]:
        SERVER_FLOWS[server.kind](server.port, server.outbox, email)


_SAFE = re.compile(r"^[\w.@+-]+$")


def check_emails(emails: list[str]) -> list[str]:
    """Addresses become file names in the outbox: keep them plain."""
    for email in emails:
        if not _SAFE.match(email):
            raise ValueError(f"unsafe bench address {email!r}")
    return emails


# -- the protected page under load ---------------------------------------------------


def signed_in_cookie(server: Gunicorn, email: str, user_id: int) -> str:
    """The Cookie header of a browser signed in to ``server`` (bare: its bench-only
    sign-in route; ours: a whole email-code sign-in), checked on /private."""
    if server.kind == "bare":
        browser = Browser(server.port)
        _expect(browser.request("GET", f"/_bench/sign-in/{user_id}"), 200, "bare sign-in")
    else:
        browser = ours_flow(server.port, server.outbox, email)
    _status, _h, page = _expect(browser.request("GET", "/private"), 200, "GET private")
    if email not in page:
        raise BenchError(f"{server.kind}: protected page shows someone else")
    return "; ".join(f"{k}={v}" for k, v in browser.cookies.items())


@dataclass
class PageLoad:
    kind: str
    connections: int
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    tool: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _wrk_seconds(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(match.group(1)) * _WRK_UNITS[match.group(2)] if match else float("nan")


def load_pages(server: Gunicorn, cookie: str, connections: int, duration: float) -> PageLoad:
    """GET /private with one signed-in cookie over ``connections`` connections for
    ``duration`` seconds: wrk when installed (C, one thread), else threads here."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return _thread_pages(server, cookie, connections, duration)
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
        "-H", f"Cookie: {cookie}", f"http://{HOST}:{server.port}/private",
    ]  # fmt: skip
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    got = PageLoad(server.kind, connections, tool="wrk")
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", out)
    if not match:
        raise BenchError(f"wrk: no request count in its output:\n{out}")
    got.requests = int(match.group(1))
    got.seconds = _wrk_seconds(match.group(2) + match.group(3))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    got.errors = (int(bad.group(1)) if bad else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    for name, pattern in (("p50", r"\s50%\s+(\S+)"), ("p99", r"\s99%\s+(\S+)")):
        found = re.search(pattern, out)
        if found:
            setattr(got, name, _wrk_seconds(found.group(1)))
    return got


def _thread_pages(server: Gunicorn, cookie: str, connections: int, duration: float) -> PageLoad:
    got = PageLoad(server.kind, connections, tool="threads")
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker() -> None:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
            try:
                conn.request("GET", "/private", headers={"Cookie": cookie, "Connection": "close"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            finally:
                conn.close()
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    got.errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)
    got.seconds = time.perf_counter() - started
    got.requests = len(latencies)
    if len(latencies) > 1:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        got.p50, got.p99 = cuts[49], cuts[98]
    return got
