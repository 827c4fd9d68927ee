"""Fixtures shared by the browser tier: Chromium, devices, screenshots, Twilio.

Loaded by conftest (``pytest_plugins``). A test module that uses ``device``
provides its own ``server`` fixture (a live app configured for its flows).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from twilio_server import TwilioServer

from conftest import CHROMIUM, skip_tier

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Upper bound for any one browser action or expectation, in milliseconds.
ACTION_TIMEOUT = 10_000
TWILIO_FROM = "+15005550006"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless; the tier is skipped (or failed) without it."""
    if not os.path.exists(CHROMIUM):
        skip_tier(f"Chromium not at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def device(browser, server):
    """``device()`` opens a new browser context: another phone or laptop."""
    contexts = []

    def open_device(**options):
        context = browser.new_context(base_url=server.url, color_scheme="light", **options)
        context.set_default_timeout(ACTION_TIMEOUT)
        contexts.append(context)
        return context

    yield open_device
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(request):
    """``shoot(page, "login")`` saves the page in the light and the dark scheme,
    named after the test module and test."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    module = request.module.__name__.removeprefix("test_")
    test = re.sub(r"^test_", "", request.node.name)
    count = 0

    def screenshot(page, name: str) -> None:
        nonlocal count
        count += 1
        stem = SCREENSHOTS / f"{module}-{test}-{count:02d}-{name}"
        page.screenshot(path=f"{stem}-light.png", full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=f"{stem}-dark.png", full_page=True)
        page.emulate_media(color_scheme="light")

    return screenshot


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as fake:
        yield fake


def twilio_config(twilio: TwilioServer) -> dict[str, object]:
    """App settings that send SMS with the real twilio client to ``twilio``."""
    return {
        "PASSWORDLESS_SMS_BACKEND": "twilio",
        "PASSWORDLESS_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PASSWORDLESS_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PASSWORDLESS_TWILIO_FROM": TWILIO_FROM,
        "PASSWORDLESS_TWILIO_BASE_URL": twilio.url,
        "PASSWORDLESS_TWILIO_TIMEOUT": 5,
    }
