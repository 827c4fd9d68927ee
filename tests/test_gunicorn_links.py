"""Links mailed by the sample app under a real gunicorn, mounted below a path.

gunicorn maps a ``SCRIPT_NAME`` request header to the WSGI ``SCRIPT_NAME``
when the request comes from ``forwarded_allow_ips`` (127.0.0.1 by default),
as a path-mounting proxy would send it. Links must keep the configured
origin and path whatever that header says, and must not repeat the mount.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import subprocess
import sys
import time

import pytest
import requests
from aiosmtpd.controller import Controller
from test_processes import (
    BROWSER,
    CSRF,
    ROOT,
    Instance,
    _text,
    free_port,
    gunicorn_quiet_control,
    listening_socket,
    sample_env,
)
from test_smtp import Inbox

from conftest import skip_tier

pytestmark = pytest.mark.slow

MOUNT = "/app"


@pytest.fixture(scope="module")
def mounted(tmp_path_factory):
    """The sample app under gunicorn, its base URL ``http://127.0.0.1:<port>/app``."""
    if importlib.util.find_spec("gunicorn") is None:
        skip_tier("gunicorn is not installed (pip install -e '.[test]')")
    tmp_path = tmp_path_factory.mktemp("gunicorn-links")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    sock = listening_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = sample_env(
        SECRET_KEY=secrets.token_hex(32),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'sample.db'}",
        PASSWORDLESS_BASE_URL=base + MOUNT,
        PASSWORDLESS_MAIL_BACKEND="flask_mail",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_USE_TLS=False,
    )
    instance = None
    try:
        upgrade = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "sample_app", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        log = tmp_path / "gunicorn.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers=1",
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
        instance = Instance("sample", base, process, log)
        instance.wait_until_up()
        yield instance, inbox
        instance.stop()
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        sock.close()
        if instance is not None:
            instance.stop()
        smtp.stop()


class ProxiedBrowser:
    """A browser behind a proxy that sends every request with ``SCRIPT_NAME: <mount>``."""

    def __init__(self, base: str, mount: str) -> None:
        self.base, self.mount = base, mount
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": BROWSER, "SCRIPT_NAME": mount})

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, allow_redirects=False, timeout=15)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.session.post(self.base + path, data=data, allow_redirects=False, timeout=15)

    def ask_for_link(self, email: str) -> requests.Response:
        page = self.get(f"{self.mount}/auth/login")
        assert page.status_code == 200, page.text
        csrf = CSRF.search(page.text).group(1)
        return self.post(f"{self.mount}/auth/login", {"email": email, "csrf_token": csrf})


def mailed_link(inbox: Inbox, email: str) -> str:
    """The link in the email to ``email``, once it arrives (bounded wait)."""
    deadline = time.monotonic() + 10
    while not (mine := [m for m in inbox.messages if m["To"] == email]):
        assert time.monotonic() < deadline, f"no email to {email}"
        time.sleep(0.02)
    return re.search(r"https?://\S+token=[\w-]+", _text(mine[-1])).group(0)


def test_a_forged_script_name_cannot_move_mailed_links(mounted):
    instance, inbox = mounted
    attacker = ProxiedBrowser(instance.url, "/@evil.com")
    asked = attacker.ask_for_link("victim@example.com")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/@evil.com/auth/login/code"  # the header was mapped
    link = mailed_link(inbox, "victim@example.com")
    assert "evil.com" not in link
    assert link.startswith(f"{instance.url}{MOUNT}/auth/login/link?token=")


def test_links_under_a_mounted_base_url_keep_its_path_once(mounted):
    instance, inbox = mounted
    browser = ProxiedBrowser(instance.url, MOUNT)
    assert browser.ask_for_link("mounted@example.com").status_code == 302
    link = mailed_link(inbox, "mounted@example.com")
    assert re.fullmatch(rf"{re.escape(instance.url)}/app/auth/login/link\?token=[\w-]{{43}}", link)
    moved = browser.get(link.removeprefix(instance.url))
    assert moved.status_code == 303
    assert moved.headers["Location"] == f"{MOUNT}/auth/login/link"
    page = browser.get(moved.headers["Location"])
    assert page.status_code == 200
    csrf = CSRF.search(page.text).group(1)
    done = browser.post(f"{MOUNT}/auth/login/link", {"csrf_token": csrf})
    assert done.status_code == 302
    home = browser.get(f"{MOUNT}/").text
    assert "signed in as <strong>mounted@example.com</strong>" in home
