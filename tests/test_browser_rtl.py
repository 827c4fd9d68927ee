"""Right to left: Arabic pages in Chromium at a desktop and a phone width.

The pages carry ``dir="rtl"`` and the stylesheet only logical properties, so a
right-to-left page mirrors: headings and labels start at the right edge, and
nothing overflows sideways. Checked with axe too (WCAG 2.1 A and AA).
"""

from __future__ import annotations

import re
from pathlib import Path

import axe_playwright_python
import pytest
from pages_tour import EMAIL
from playwright.sync_api import expect

from conftest import add_user
from live_server import live_server

pytestmark = pytest.mark.browser

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "passwordless" / "passwordless.css"
AXE_SCRIPT = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
RUN_AXE = """async () => (await axe.run(document, {
  runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
  resultTypes: ["violations"]})).violations.map(v => v.id + ": " + v.help)"""
#: Where the heading's text and the first label sit inside their boxes.
LAYOUT = """() => {
  const edges = element => {
    const range = document.createRange();
    range.selectNodeContents(element);
    const text = range.getBoundingClientRect(), box = element.getBoundingClientRect();
    return {textLeft: text.left, textRight: text.right, boxLeft: box.left, boxRight: box.right};
  };
  const label = document.querySelector(".pl-field label");
  return {
    direction: getComputedStyle(document.documentElement).direction,
    overflow: document.documentElement.scrollWidth - innerWidth,
    heading: edges(document.querySelector("h1")),
    label: label ? edges(label) : null,
  };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rtl")
    with live_server(folder, PASSWORDLESS_LANGUAGES=["en", "ar"]) as running:
        add_user(running.app, EMAIL)
        yield running


def open_page(browser, server, viewport, path):
    context = browser.new_context(base_url=server.url, locale="ar", viewport=viewport)
    page = context.new_page()
    page.goto(path)
    return context, page


@pytest.mark.parametrize("width", WIDTHS, ids=str)
@pytest.mark.parametrize(
    "path", ["/auth/login", "/auth/login/password", "/auth/reset", "/auth/login/code"]
)
def test_arabic_pages_read_right_to_left(browser, server, width, path):
    context, page = open_page(browser, server, WIDTHS[width], path)
    try:
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("html")).to_have_attribute("lang", "ar")
        layout = page.evaluate(LAYOUT)
        assert layout["direction"] == "rtl"
        assert layout["overflow"] <= 0, f"{layout['overflow']}px wider than the screen"
        for name in ("heading", "label"):
            edges = layout[name]
            if edges is None:
                continue
            # The text starts at the right edge of its box, and the box is wider.
            assert abs(edges["textRight"] - edges["boxRight"]) < 2, (name, edges)
            assert edges["textLeft"] - edges["boxLeft"] > 20, (name, edges)
        page.evaluate(AXE_SCRIPT)
        assert page.evaluate(RUN_AXE) == []
    finally:
        context.close()


PHYSICAL = re.compile(
    r"(?<![\w-])(margin|padding|border)-(left|right)\b|(?<![\w-])(left|right)\s*:"
    r"|(text-align|float|clear)\s*:\s*(left|right)"
)
FOUR_SIDES = re.compile(r"(?<![\w-])(margin|padding|border-width|inset)\s*:\s*([^;}]+)")


def test_the_stylesheet_uses_only_logical_sides():
    """``margin-left`` would stay on the left in Arabic: only ``-inline-start``/``-end``."""
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    assert PHYSICAL.findall(css) == []
    for _property, value in FOUR_SIDES.findall(css):
        sides = value.split()
        if len(sides) == 4:  # top right bottom left: lopsided sides do not mirror
            assert sides[1] == sides[3], value


def test_addresses_and_numbers_stay_left_to_right_in_arabic(browser, server):
    context, page = open_page(browser, server, WIDTHS["phone"], "/auth/login/sms")
    try:
        page.get_by_role("textbox").first.fill("+1 415-555-2671")
        direction = "element => getComputedStyle(element).direction"
        assert page.locator("input[type=tel]").evaluate(direction) == "ltr"
        page.goto("/auth/login")
        assert page.locator("input[type=email]").evaluate(direction) == "ltr"
    finally:
        context.close()
