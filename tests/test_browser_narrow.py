"""A long address at 375 px (a small phone) must wrap, not widen the page.

The address is 63 characters with no space, so nothing breaks it unless the
stylesheet lets it break anywhere: before that fix the code page was 521 px
wide and the sample's home page too. Checked in the extension's own layout and
inside the sample app, whose home page shows the address.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyotp
import pytest
from browser_fixtures import ACTION_TIMEOUT
from pages_tour import give_passkey, latest, path_in
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from conftest import add_user, code_in
from flask_passwordless import devices
from live_server import live_server

pytestmark = pytest.mark.browser

#: 63 characters, one unbreakable word: the issue's case.
LONG = "a.very.long.local.part.of.an.address.for.tests@example-mail.com"
PHONE = {"width": 375, "height": 740}
#: How much wider than the window the page is (0 when it fits).
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


def test_the_address_is_63_characters():
    assert len(LONG) == 63 and " " not in LONG


def fits(page: Page) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("window.innerWidth") == PHONE["width"]
    assert page.evaluate(OVERFLOW) == 0, f"{page.url} is wider than {PHONE['width']} px"


@contextmanager
def sample_server(tmp_path, monkeypatch) -> Iterator[tuple]:
    """The sample app itself (its layout, its home page) on 127.0.0.1."""
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'sample.db'}")
    monkeypatch.setenv("FLASK_PASSWORDLESS_MAIL_BACKEND", "memory")
    monkeypatch.setenv("FLASK_PASSWORDLESS_SMS_BACKEND", "memory")
    from sample_app import create_app
    from sample_app.app import db

    app = create_app()
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PASSWORDLESS_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def phone_page(browser, url: str) -> Page:
    context = browser.new_context(base_url=url, viewport=PHONE, color_scheme="light")
    context.set_default_timeout(ACTION_TIMEOUT)
    return context.new_page()


def ask_for_a_code(page: Page) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(LONG)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    expect(page.get_by_text(LONG)).to_be_visible()


def press(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def test_the_code_page_wraps_a_long_address_in_the_extensions_layout(browser, tmp_path):
    with live_server(tmp_path) as server:
        add_user(server.app, LONG)
        page = phone_page(browser, server.url)
        try:
            ask_for_a_code(page)
            fits(page)
            page.goto("/auth/reset")
            fits(page)
        finally:
            page.context.close()


#: Account pages and their headings (the account page shows the long address).
ACCOUNT_PAGES = {
    "/auth/account": "Your account",
    "/auth/account/passkeys": "Passkeys",
    "/auth/account/sessions": "Signed-in sessions",
}


def test_the_account_pages_fit_a_small_phone(browser, tmp_path):
    """The account, passkeys and sessions pages, the passkeys and devices pages with
    one listed, the address change (form, code, link), the app's setup, the new
    recovery codes and their page, at 375 px. (In this order: once the app is added,
    the account's full strength is two steps.)"""
    with live_server(tmp_path) as server:
        add_user(server.app, LONG)
        page = phone_page(browser, server.url)
        try:
            ask_for_a_code(page)
            page.get_by_label("Code").fill(code_in(latest(server, "login")))
            press(page, "Sign in")
            for path, heading in ACCOUNT_PAGES.items():
                page.goto(path)
                expect(page.locator("h1")).to_have_text(heading)
                fits(page)
            listed(page, server)
            change_address(page, server)
            set_up_an_app(page)
        finally:
            page.context.close()


#: A phone's browser, remembered from an IPv6 address: the longest line of a device.
PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
PHONE_ADDRESS = "2001:db8:85a3:1234:5678:8a2e:370:7334"


def listed(page: Page, server) -> None:
    """The passkeys page with a passkey and the devices page with a remembered
    device, stored as a ceremony and the second step store them: making them here
    needs an authenticator and a second step (test_browser_passkeys, _devices)."""
    give_passkey(server, "Passkey on Chrome on Android", email=LONG)
    headers = {"User-Agent": PHONE_AGENT}
    with server.app.test_request_context(
        headers=headers, environ_base={"REMOTE_ADDR": PHONE_ADDRESS}
    ):
        devices.remember(server.app.extensions["passwordless"].adapter.find_by_email(LONG))
    page.goto("/auth/account/passkeys")
    expect(page.get_by_text("Passkey on Chrome on Android", exact=True)).to_be_visible()
    fits(page)
    page.goto("/auth/account/devices")
    expect(page.locator("ul.pl-devices > li")).to_contain_text(PHONE_ADDRESS)
    fits(page)


def change_address(page: Page, server) -> None:
    page.goto("/auth/account/email")
    expect(page.get_by_text(LONG)).to_be_visible()
    fits(page)
    page.get_by_label("New email address").fill("new." + LONG)
    press(page, "Email the new address a link")
    expect(page).to_have_url(re.compile(r"/auth/account/email/verify$"))
    expect(page.get_by_text("new." + LONG)).to_be_visible()
    fits(page)
    page.goto(path_in(latest(server, "email_change").text, server, "/auth/account/email/confirm"))
    expect(page.get_by_text("new." + LONG)).to_be_visible()
    fits(page)


def set_up_an_app(page: Page) -> None:
    page.goto("/auth/account/totp")
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    fits(page)  # the QR code and the key in groups
    page.get_by_label("Code").fill(pyotp.TOTP(key).now())
    press(page, "Add the app")
    expect(page.locator(".pl-recovery-codes code")).to_have_count(10)
    fits(page)
    page.goto("/auth/account/recovery-codes")
    expect(page.locator("h1")).to_have_text("Recovery codes")
    fits(page)


def test_the_sample_app_wraps_a_long_address_on_every_page_that_shows_it(
    browser, tmp_path, monkeypatch
):
    with sample_server(tmp_path, monkeypatch) as (app, url):
        page = phone_page(browser, url)
        try:
            ask_for_a_code(page)
            fits(page)
            page.get_by_label("Code").fill(code_in(app.extensions["passwordless"].outbox[-1]))
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text(f"You are signed in as {LONG}")).to_be_visible()
            fits(page)  # the home page
            for path in ("/private", "/auth/account/sessions", "/auth/account/devices"):
                page.goto(path)
                fits(page)
            page.goto("/auth/reset")
            page.get_by_label("Email address").fill(LONG)
            page.get_by_role("button").first.click()
            expect(page).to_have_url(re.compile(r"/auth/reset/sent$"))
            fits(page)
        finally:
            page.context.close()
