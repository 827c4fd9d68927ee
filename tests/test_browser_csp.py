"""Chromium enforces the strict Content-Security-Policy on every page, and nothing breaks.

The page tour (tests/pages_tour.py) walks every page of every flow in its
states, once inside the extension's own layout and once inside the sample
app's. Every violation Chromium reports (its console message, and the
``securitypolicyviolation`` event, reported to the console by a script
Playwright adds outside the page's policy) fails the test; so does a page
served without the policy, or a stylesheet that did not load.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pages_tour import (
    EMAIL,
    TEMPLATES,
    TINY_LIMIT_CONFIG,
    Devices,
    rate_limited,
    twilio_config,
    walk,
)
from playwright.sync_api import ConsoleMessage, Page
from test_headers import STRICT
from twilio_server import TwilioServer

from conftest import add_user
from live_server import live_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_app"
LAYOUTS = {
    "extension-layout": {},
    "sample-app-layout": {
        "template_folder": str(SAMPLE / "templates"),
        "PASSWORDLESS_BASE_TEMPLATE": "layout.html",
    },
}

#: Added by Playwright to every document before its own scripts; the policy does
#: not apply to it. Reports each violation to the console, where we listen.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} refused ` +
    `${event.blockedURI || "inline code"} at ${event.sourceFile}:${event.lineNumber}`);
});
"""

#: Every stylesheet the page links to loaded and has rules (none was refused).
STYLESHEETS = """() => [...document.querySelectorAll('link[rel="stylesheet"]')].map(link => {
  try { return [link.href, !!link.sheet && link.sheet.cssRules.length > 0]; }
  catch (error) { return [link.href, false]; }
})"""


def is_violation(message: ConsoleMessage) -> bool:
    text = message.text
    return text.startswith("CSP violation:") or "Content Security Policy" in text


@dataclass
class WatchedDevices(Devices):
    """Devices whose pages report every CSP violation into ``violations``."""

    violations: list[str] = field(default_factory=list)

    def new_page(self, base_url: str) -> Page:
        page = super().new_page(base_url)
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda message: self._console(page, message))
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if is_violation(message):
            self.violations.append(f"{page.url}: {message.text}")


@dataclass
class Stop:
    template: str
    state: str
    url: str
    policy: str | None
    stylesheets: list[list]


@dataclass
class Walked:
    stops: list[Stop]
    violations: list[str]


@pytest.fixture(scope="module", params=list(LAYOUTS))
def walked(request, browser, tmp_path_factory) -> Iterator[Walked]:
    layout = LAYOUTS[request.param]
    devices = WatchedDevices(browser)
    stops: list[Stop] = []

    def see(page: Page, template: str, state: str) -> None:
        page.wait_for_load_state("load")
        served = devices.served(page)
        stops.append(
            Stop(
                template=template,
                state=state,
                url=page.url,
                policy=served.headers.get("content-security-policy"),
                stylesheets=page.evaluate(STYLESHEETS),
            )
        )

    @contextmanager
    def serve(name: str, **config):
        with live_server(tmp_path_factory.mktemp(name), **layout, **config) as server:
            # The host's /static: the sample layout's stylesheet (unused otherwise).
            server.app.static_folder = str(SAMPLE / "static")
            yield server

    with TwilioServer() as twilio, serve("csp", **twilio_config(twilio)) as server:
        add_user(server.app, EMAIL)
        try:
            walk(devices, server, twilio, see)
            with serve("csp-limited", **TINY_LIMIT_CONFIG) as tiny:
                rate_limited(devices.new_page(tiny.url), see)
            yield Walked(stops=stops, violations=devices.violations)
        finally:
            devices.close()


def test_the_walk_shows_every_page_under_the_strict_policy(walked):
    assert {stop.template for stop in walked.stops} == TEMPLATES
    unprotected = [f"{stop.template}-{stop.state}: {stop.policy}" for stop in walked.stops]
    assert [line for line in unprotected if not line.endswith(STRICT)] == []


def test_chromium_reports_no_csp_violation_on_any_page(walked):
    assert walked.violations == []


def test_every_stylesheet_loads_on_every_page(walked):
    broken = [
        f"{stop.template}-{stop.state}: {href}"
        for stop in walked.stops
        for href, loaded in stop.stylesheets
        if not loaded
    ]
    assert broken == []
    assert all(stop.stylesheets for stop in walked.stops)


def test_the_violation_listener_does_catch_inline_code(browser):
    """Planted inline markup under the same policy is reported, every kind of it."""
    devices = WatchedDevices(browser)
    try:
        page = devices.new_page("http://127.0.0.1:9")  # nothing listens: the route answers
        page.route(
            "**/planted",
            lambda route: route.fulfill(
                status=200,
                headers={"Content-Type": "text/html", "Content-Security-Policy": STRICT},
                body=(
                    "<!doctype html><title>planted</title><style>p { color: red }</style>"
                    "<p style='color: blue'>x</p><script>document.title = 'ran'</script>"
                ),
            ),
        )
        page.goto("/planted")
        page.wait_for_load_state("load")
        assert page.title() == "planted"  # the inline script did not run
    finally:
        devices.close()
    reported = " ".join(devices.violations)
    assert "style-src" in reported and "script-src" in reported, devices.violations
