"""The README's Quickstart works as written.

Its code block (``:name: quickstart-app``) and its commands
(``:name: quickstart-commands``) are taken from README.rst itself, parsed with
docutils, and run in a fresh virtualenv holding the wheel built from this
checkout: the migrations, the first user, the development server. Then a
person signs in with the code the console backend printed, and another with
the link. Editing the README's code so that it stops working fails this test.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time

import docutils.core
import pytest
import requests
from built_wheel import ROOT, fresh_venv, run
from docutils import nodes
from test_processes import free_port

pytestmark = pytest.mark.slow

#: How long the development server may take to start, and a message to arrive.
WAIT = 60.0
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def readme_block(name: str) -> str:
    """The literal block of README.rst given ``:name: <name>``, as it renders."""
    document = docutils.core.publish_doctree(
        (ROOT / "README.rst").read_text(), settings_overrides={"report_level": 5}
    )
    (block,) = [n for n in document.findall(nodes.literal_block) if name in n["names"]]
    return block.astext()


def readme_commands() -> list[list[str]]:
    lines = readme_block("quickstart-commands").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


class Output:
    """A process's merged stdout and stderr, read line by line on a thread."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first new line matching ``pattern``, within WAIT seconds."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")


def csrf(page: requests.Response) -> str:
    return CSRF.search(page.text).group(1)


@pytest.fixture(scope="module")
def quickstart(wheel, tmp_path_factory):
    """The Quickstart's app.py and commands, run as written in a fresh virtualenv;
    yields the server's URL, its output and the address the commands created."""
    work = tmp_path_factory.mktemp("quickstart")
    (work / "app.py").write_text(readme_block("quickstart-app") + "\n")
    commands = readme_commands()
    bin_dir = work / "venv" / "bin"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(work / "venv"),
        "PYTHONUNBUFFERED": "1",
        # The README's base URL names port 5000; this server listens on a free one.
        "FLASK_PASSWORDLESS_BASE_URL": url,
    }
    env.pop("PYTHONPATH", None)
    *steps, serve = commands
    assert serve[:1] == ["flask"] and "run" in serve, "the commands must end by serving the app"
    email = None
    for step in steps:
        if step[:2] == ["pip", "install"]:
            # "pip install flask-passwordless": the package is the wheel of this checkout.
            fresh_venv(work / "venv", wheel)
            step = [str(wheel) if arg == "flask-passwordless" else arg for arg in step]
            step = [str(bin_dir / "python"), "-m", *step]
        if "create-user" in step:
            email = step[-1]
        run(step, timeout=300, cwd=work, env=env)
    assert email, "the commands must create the first user"

    process = subprocess.Popen(
        [*serve, "--port", str(port)],  # the last --port wins
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # --debug's reloader forks: stop the whole group
    )
    try:
        output = Output(process.stdout)
        output.wait_for(rf"Running on {re.escape(url)}")
        yield url, output, email
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def ask_for_sign_in(url: str, email: str) -> requests.Session:
    browser = requests.Session()
    home = browser.get(url + "/", timeout=30)
    assert home.status_code == 200 and "Sign in" in home.text
    login = browser.get(url + "/auth/login", timeout=30)
    sent = browser.post(
        url + "/auth/login", data={"email": email, "csrf_token": csrf(login)}, timeout=30
    )
    assert sent.status_code == 200 and sent.url == url + "/auth/login/code", sent.text
    return browser


def test_the_quickstart_signs_in_with_the_printed_code(quickstart):
    url, output, email = quickstart
    browser = ask_for_sign_in(url, email)
    output.wait_for(rf"EMAIL to {re.escape(email)}")
    code = output.wait_for(r"^\s*(\d{6})\s*$").group(1)
    page = browser.get(url + "/auth/login/code", timeout=30)
    home = browser.post(
        url + "/auth/login/code", data={"code": code, "csrf_token": csrf(page)}, timeout=30
    )
    assert home.url == url + "/"
    assert f"Signed in as {email}." in home.text
    assert browser.get(url + "/dashboard", timeout=30).text == "only for signed-in people"


def test_the_quickstart_signs_in_with_the_printed_link(quickstart):
    url, output, email = quickstart
    ask_for_sign_in(url, email)
    output.wait_for(rf"EMAIL to {re.escape(email)}")
    link = output.wait_for(rf"({re.escape(url)}/auth/login/link\?token=\S+)").group(1)
    other_browser = requests.Session()  # a link works in any browser
    page = other_browser.get(link, timeout=30)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page.text).group(1)
    home = other_browser.post(
        url + "/auth/login/link", data={"token": token, "csrf_token": csrf(page)}, timeout=30
    )
    assert f"Signed in as {email}." in home.text
