"""The optional breached-password check, against a local Pwned Passwords look-alike."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from factors import make_user, password_login

from conftest import csrf_token
from flask_passwordless import breaches, config
from flask_passwordless.passwords import PasswordRefused, check_policy

BREACHED = "mauve octopus rides the 7:15 tram"  # strong by the estimate, but "leaked"
DECOY = "Tr0ub4dor&3-lantern-vivid"  # listed with count 0: padding, not a breach
FRESH = "correct horse battery staple"
SKIPPED = "breached-password check skipped"


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


class RangeServer:
    """Answers ``GET /range/<prefix>`` as the real service does, with padding; records
    everything it is sent. ``status`` other than 200 makes it fail; ``hang`` makes it
    wait (until the test ends) without answering."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.status = 200
        self.hang = threading.Event()
        self.release = threading.Event()
        self.counts = {sha1(BREACHED): 1234, sha1(DECOY): 0}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                server.seen.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                if server.hang.is_set():
                    server.release.wait(timeout=30)
                    return
                if server.status != 200:
                    self.send_error(server.status)
                    return
                body = server.answer(self.path.removeprefix("/range/")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, prefix: str) -> str:
        """Every known suffix under the prefix, plus zero-count decoys (Add-Padding)."""
        lines = [f"{full[5:]}:{n}" for full, n in self.counts.items() if full.startswith(prefix)]
        lines += [f"{index:035X}:0" for index in range(1, 400)]
        return "\r\n".join(lines)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pwned():
    server = RangeServer()
    yield server
    server.close()


@pytest.fixture
def app(make_app, pwned):
    return make_app(
        PASSWORDLESS_PASSWORD_BREACH_CHECK=True,
        PASSWORDLESS_PASSWORD_BREACH_API=pwned.url,
        PASSWORDLESS_PASSWORD_BREACH_TIMEOUT=0.5,
    )


def closed_port_url() -> str:
    """An address on this machine where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_check_is_off_by_default_and_asks_the_real_service_when_on(make_app, monkeypatch):
    assert config.SETTINGS["PASSWORD_BREACH_CHECK"][0] is False
    asked = []

    def refuse(request, timeout):
        asked.append((request.full_url, timeout))
        raise OSError("no network in tests")

    monkeypatch.setattr(breaches.urllib.request, "urlopen", refuse)
    with make_app(PASSWORDLESS_PASSWORD_BREACH_CHECK=True).app_context():
        check_policy(FRESH, "alice@example.com")
    assert asked == [(f"https://api.pwnedpasswords.com/range/{sha1(FRESH)[:5]}", 2)]


def test_a_breached_password_is_refused(app, pwned):
    with app.app_context(), pytest.raises(PasswordRefused, match="appeared in a data breach"):
        check_policy(BREACHED, "alice@example.com")
    assert len(pwned.seen) == 1


@pytest.mark.parametrize("password", [FRESH, DECOY])
def test_a_password_that_is_not_breached_is_accepted(app, pwned, password):
    with app.app_context():
        check_policy(password, "alice@example.com")
    assert len(pwned.seen) == 1


def test_only_five_hex_digits_of_the_hash_leave_the_server(app, pwned):
    with app.app_context(), pytest.raises(PasswordRefused):
        check_policy(BREACHED, "alice@example.com")
    [request] = pwned.seen
    digest = sha1(BREACHED)
    assert request["path"] == f"/range/{digest[:5]}"  # no query string, nothing more
    assert request["body"] == b""
    assert request["headers"]["Add-Padding"] == "true"
    sent = " ".join(f"{name}: {value}" for name, value in request["headers"].items())
    for secret in (BREACHED, digest[5:], digest[5:].lower(), digest[5:15], "alice"):
        assert secret not in sent


def test_a_locally_weak_password_is_refused_without_asking_the_service(app, pwned):
    with app.app_context(), pytest.raises(PasswordRefused, match="too easy to guess"):
        check_policy("Password1!", "alice@example.com")
    assert pwned.seen == []


def test_nothing_is_sent_when_the_check_is_off(make_app, pwned):
    app = make_app(PASSWORDLESS_PASSWORD_BREACH_API=pwned.url)
    with app.app_context():
        check_policy(BREACHED, "alice@example.com")
    assert pwned.seen == []


def _accepted_with_a_warning(app, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_passwordless"), app.app_context():
        check_policy(BREACHED, "alice@example.com")
    assert SKIPPED in caplog.text and "the password was accepted" in caplog.text


def test_a_service_that_is_down_never_blocks_a_change_and_says_so(make_app, caplog):
    app = make_app(
        PASSWORDLESS_PASSWORD_BREACH_CHECK=True, PASSWORDLESS_PASSWORD_BREACH_API=closed_port_url()
    )
    _accepted_with_a_warning(app, caplog)


def test_a_service_that_fails_never_blocks_a_change_and_says_so(app, pwned, caplog):
    pwned.status = 503
    _accepted_with_a_warning(app, caplog)
    assert "503" in caplog.text


def test_a_service_that_does_not_answer_in_time_is_skipped(app, pwned, caplog):
    pwned.hang.set()
    _accepted_with_a_warning(app, caplog)
    assert "timed out" in caplog.text


def test_a_base_url_that_is_not_http_is_skipped(make_app, caplog):
    app = make_app(
        PASSWORDLESS_PASSWORD_BREACH_CHECK=True, PASSWORDLESS_PASSWORD_BREACH_API="file:///etc"
    )
    _accepted_with_a_warning(app, caplog)


def test_the_account_page_refuses_a_breached_password_with_the_reason(app, client, pwned):
    make_user(app)
    password_login(client)
    data = {"password": BREACHED, "confirm": BREACHED, "csrf_token": csrf_token(client)}
    page = client.post("/auth/account/password", data=data)
    assert page.status_code == 200
    assert "appeared in a data breach" in page.get_data(as_text=True)
    data = {"password": FRESH + "!", "confirm": FRESH + "!", "csrf_token": csrf_token(client)}
    assert client.post("/auth/account/password", data=data).status_code == 302
