"""An authenticator app and recovery codes in Chromium, as a person sets them up.

The app's codes are computed from the key the page shows (read off the page,
as a person types it into an app); the server's clock is the test's, so the
next time step comes without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timezone

import pyotp
import pytest
from factors import PASSWORD, make_user
from playwright.sync_api import expect

from conftest import FakeClock
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

EMAIL = "alice@example.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(tmp_path, clock) -> Iterator[LiveServer]:
    with live_server(tmp_path) as live:
        live.app.extensions["passwordless"].clock = clock
        make_user(live.app, EMAIL)
        yield live


def app_code(key: str, clock: FakeClock) -> str:
    return pyotp.TOTP(key).at(clock.now.replace(tzinfo=timezone.utc).timestamp())


def sign_in_with_password(page) -> None:
    page.goto("/auth/login/password")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("signed in: nobody")).to_be_visible()


def test_an_app_set_up_from_the_page_then_signs_in_and_so_does_a_recovery_code(
    device, server, clock, shoot
):
    page = device().new_page()
    sign_in_with_password(page)
    page.goto("/auth/account/totp")
    expect(page.locator(".pl-qr svg")).to_be_visible()
    shoot(page, "totp-setup")
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(app_code(key, clock))
    page.get_by_role("button", name="Add the app").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    shoot(page, "recovery-codes")
    codes = page.locator(".pl-recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I saved them, continue").click()

    sign_out(page)
    sign_in_with_password(page)
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    shoot(page, "second-step-app")
    clock.advance(seconds=30)
    page.get_by_label("Code from the app").fill(app_code(key, clock))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"signed in: {EMAIL}")).to_be_visible()

    sign_out(page)
    sign_in_with_password(page)
    page.get_by_role("link", name="Recovery code").click()
    shoot(page, "second-step-recovery")
    page.get_by_label("Recovery code").fill(codes[0].lower())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"signed in: {EMAIL}")).to_be_visible()
    server.app.extensions["passwordless"].dispatcher.wait()
    notice = [m for m in server.outbox if m.template == "recovery_code_used"]
    assert len(notice) == 1 and "9 left" in notice[0].text
