"""Remembered devices in a real browser (Chromium through Playwright).

Password sign-in with two-step sign-in on: the second factor is a code by
text message, sent through the real ``twilio`` client to a local
Twilio-compatible server, whose recorded requests are the texts (so counting
them counts the second factors asked). Email stays in the app's memory
outbox. Each browser context is a separate device: a laptop that is
remembered, a phone that is not. Pages are saved as screenshots, light and
dark, to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from browser_fixtures import twilio_config
from playwright.sync_api import expect
from test_browser_sms import MOBILE, text_code
from twilio_server import TwilioServer

from apps import User, db
from flask_passwordless.clock import utcnow
from flask_passwordless.passwords import hash_password
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

EMAIL = "dave@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse, a new staple"
COOKIE = "passwordless_device"
REMEMBER_DAYS = 30
#: Headless Chromium says "HeadlessChrome/<version>" on X11 Linux; it reads as Chrome.
LAPTOP_DEVICE = "Chrome on Linux"
#: The phone is another context with a phone's user agent (same engine underneath).
PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PHONE_VIEWPORT = {"width": 390, "height": 844}
#: How the two-factor page shows where the code went.
MASKED_MOBILE = "\u2022" * 6 + "2671"


@pytest.fixture
def server(tmp_path, twilio) -> Iterator[LiveServer]:
    with live_server(tmp_path, **twilio_config(twilio)) as live:
        with live.app.app_context():
            db.session.add(
                User(
                    email=EMAIL,
                    phone_number=MOBILE,
                    phone_verified_at=utcnow(),
                    two_factor_enabled=True,
                    password_hash=hash_password(PASSWORD),
                )
            )
            db.session.commit()
        yield live


def no_shot(page, name: str) -> None:
    """For steps whose page was already saved."""


def enter_password(page, password: str = PASSWORD, shoot=no_shot) -> None:
    """Open the password page and submit the address and the password."""
    page.goto("/auth/login/password")
    expect(page).to_have_title("Sign in with your password · Test App")
    shoot(page, "password-login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_signed_in(page, server: LiveServer) -> None:
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")


def expect_second_factor(page, server: LiveServer, twilio: TwilioServer, texts: int) -> str:
    """The password was right: the page asks for the texted code, the ``texts``-th text."""
    expect(page).to_have_url(f"{server.url}/auth/two-factor")
    expect(page).to_have_title("One more step · Test App")
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    expect(page.locator("main strong")).to_have_text(MASKED_MOBILE)
    requests = twilio.wait_for_requests(texts)  # sent inside the request: already there
    assert len(requests) == texts
    text = requests[-1]
    assert "sign-in code" in text.form["Body"]
    assert "Someone knows your password" in text.form["Body"]
    return text_code(text)


def pass_second_factor(page, code: str, remember: bool, shoot=no_shot) -> None:
    remember_box = page.get_by_label(f"Remember this device for {REMEMBER_DAYS} days")
    expect(remember_box).not_to_be_checked()
    if remember:
        remember_box.check()
    shoot(page, "two-factor")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page, server: LiveServer) -> None:
    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("p").first).to_have_text("signed in: nobody")


def device_cookie(context) -> dict | None:
    found = [c for c in context.cookies() if c["name"] == COOKIE]
    assert len(found) <= 1
    return found[0] if found else None


def remember_laptop(laptop, server: LiveServer, twilio: TwilioServer, shoot=no_shot) -> dict:
    """Password, texted code, "remember this device": signed in, with a device cookie."""
    page = laptop.new_page()
    enter_password(page, shoot=shoot)
    code = expect_second_factor(page, server, twilio, texts=1)
    pass_second_factor(page, code, remember=True, shoot=shoot)
    expect_signed_in(page, server)
    cookie = device_cookie(laptop)
    assert cookie is not None, [c["name"] for c in laptop.cookies()]
    page.close()
    return cookie


def device_names(server: LiveServer) -> list[tuple[str, bool]]:
    """(name, revoked) of every device row, oldest first."""
    Device = server.app.extensions["passwordless"].models.Device
    with server.app.app_context():
        rows = db.session.execute(db.select(Device).order_by(Device.id)).scalars()
        return [(row.name, row.revoked_at is not None) for row in rows]


def emails(server: LiveServer) -> list[str]:
    """Templates of the emails sent so far (delivery runs in the background: let it settle)."""
    server.app.extensions["passwordless"].dispatcher.wait()
    return [m.template for m in server.outbox if m.channel == "email"]


def test_remembered_laptop_skips_the_code_until_another_device_forgets_it(
    device, server, twilio, shoot
):
    laptop = device()
    page = laptop.new_page()

    # 1. Password, then the texted code, with "remember this device" ticked.
    enter_password(page, shoot=shoot)
    code = expect_second_factor(page, server, twilio, texts=1)
    assert twilio.requests[0].form["To"] == MOBILE
    pass_second_factor(page, code, remember=True, shoot=shoot)
    expect_signed_in(page, server)
    shoot(page, "home")

    cookie = device_cookie(laptop)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain HTTP here; SESSION_COOKIE_SECURE is off
    assert cookie["path"] == "/"
    days_left = (cookie["expires"] - time.time()) / 86400
    assert REMEMBER_DAYS - 1 < days_left <= REMEMBER_DAYS, days_left
    assert page.evaluate("document.cookie").find(COOKIE) == -1  # not readable by scripts
    assert emails(server) == ["new_device"]  # remembered just now: still a new browser

    # Signing out keeps the device; the password alone then signs in.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("p").first).to_have_text("signed in: nobody")
    assert device_cookie(laptop) == cookie
    enter_password(page)
    expect_signed_in(page, server)
    assert len(twilio.requests) == 1  # no second code was texted

    # 2. The account's devices: this laptop, marked as this device.
    page.goto("/auth/account/devices")
    expect(page).to_have_title("Remembered devices · Test App")
    devices_list = page.locator("ul.pl-devices > li")
    expect(devices_list).to_have_count(1)
    expect(devices_list.locator("strong")).to_have_text(LAPTOP_DEVICE)
    expect(devices_list.locator(".pl-badge")).to_have_text("this device")
    expect(devices_list).to_contain_text("from 127.0.0.1")
    expect(page.get_by_role("button", name=f"Forget {LAPTOP_DEVICE} (this device)")).to_be_visible()
    shoot(page, "account-devices")
    page.goto("/auth/account/two-factor")
    expect(page).to_have_title("Two-step sign-in · Test App")
    expect(page.locator("main p").first).to_contain_text("Two-step sign-in is on")
    expect(page.get_by_role("button", name="Turn it off")).to_be_visible()
    shoot(page, "account-two-factor")

    # 3. The phone signs in with both factors, not remembered, and forgets the laptop.
    phone_context = device(user_agent=PHONE_AGENT, viewport=PHONE_VIEWPORT)
    phone = phone_context.new_page()
    enter_password(phone)
    code = expect_second_factor(phone, server, twilio, texts=2)
    pass_second_factor(phone, code, remember=False)
    expect_signed_in(phone, server)
    assert device_cookie(phone_context) is None
    assert emails(server) == ["new_device", "new_device"]

    phone.goto("/auth/account/devices")
    phone_list = phone.locator("ul.pl-devices > li")
    expect(phone_list).to_have_count(1)
    expect(phone_list.locator("strong")).to_have_text(LAPTOP_DEVICE)
    expect(phone_list.locator(".pl-badge")).to_have_count(0)  # not this device
    shoot(phone, "phone-account-devices")
    phone.get_by_role("button", name=f"Forget {LAPTOP_DEVICE}").click()
    expect(phone).to_have_url(f"{server.url}/auth/account/devices")
    expect(phone.get_by_role("status")).to_have_text(
        f"{LAPTOP_DEVICE} was forgotten: it will ask for the second step again."
    )
    expect(phone.locator("ul.pl-devices > li")).to_have_count(0)
    expect(phone.get_by_text("No remembered devices.")).to_be_visible()
    shoot(phone, "phone-account-devices-forgotten")
    assert device_names(server) == [(LAPTOP_DEVICE, True)]

    # The laptop still has its cookie, but its row is revoked: the code is asked again.
    sign_out(page, server)
    assert device_cookie(laptop) == cookie
    enter_password(page)
    code = expect_second_factor(page, server, twilio, texts=3)
    page.goto("/")
    expect(page.locator("p").first).to_have_text("signed in: nobody")  # half signed in only
    page.goto("/auth/two-factor")
    pass_second_factor(page, code, remember=False)
    expect_signed_in(page, server)
    assert len(twilio.requests) == 3


def test_password_reset_ends_the_session_and_forgets_the_device(device, server, twilio, shoot):
    laptop = device()
    remember_laptop(laptop, server, twilio)
    page = laptop.new_page()
    page.goto("/")
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")

    # Someone (the owner, or whoever holds the mailbox) resets the password elsewhere.
    other = device().new_page()
    other.goto("/auth/login/password")
    other.get_by_role("link", name="Forgot your password?").click()
    expect(other).to_have_url(f"{server.url}/auth/reset")
    shoot(other, "reset")
    other.get_by_label("Email address").fill(EMAIL)
    other.get_by_role("button", name="Email me a reset link").click()
    expect(other.get_by_role("heading", name="Check your email")).to_be_visible()
    reset = server.wait_for_message(2)  # after the laptop's "new sign-in" notice
    assert (reset.channel, reset.template, reset.to) == ("email", "reset", EMAIL)
    match = re.search(re.escape(server.url) + r"(/auth/reset/confirm\?token=\S+)", reset.text)
    assert match, reset.text

    other.goto(match.group(1))
    expect(other).to_have_title("Choose a new password · Test App")
    expect(other.get_by_text("forgets your remembered devices")).to_be_visible()
    shoot(other, "reset-confirm")
    other.get_by_label("New password").fill(NEW_PASSWORD)
    other.get_by_label("Type it again").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Save my new password").click()
    expect(other).to_have_url(f"{server.url}/auth/login/password")
    expect(other.get_by_role("status")).to_have_text(
        "Your password was changed. Sign in with it now."
    )
    assert device_names(server) == [(LAPTOP_DEVICE, True)]
    assert emails(server)[-1] == "password_changed"

    # The laptop's session is over, and its device no longer skips the code.
    page.goto("/")
    expect(page.locator("p").first).to_have_text("signed in: nobody")
    assert device_cookie(laptop) is not None  # the cookie stays; the server forgot it

    enter_password(page)  # the old password is refused
    expect(page).to_have_url(f"{server.url}/auth/login/password")
    expect(page.locator(".pl-error")).to_have_text(
        "That email and password do not match an account."
    )
    assert len(twilio.requests) == 1

    enter_password(page, NEW_PASSWORD)
    code = expect_second_factor(page, server, twilio, texts=2)
    pass_second_factor(page, code, remember=False)
    expect_signed_in(page, server)


def test_a_tampered_or_missing_device_cookie_does_not_skip_the_code(device, server, twilio, shoot):
    laptop = device()
    cookie = remember_laptop(laptop, server, twilio)
    value = cookie["value"]
    # The first character is the start of the signed payload (base64 of the JSON
    # list): changing it changes the payload, so the signature no longer matches.
    # (The last character could differ only in base64 padding bits and decode
    # to the same signature.)
    tampered = ("X" if value[0] != "X" else "Y") + value[1:]
    assert tampered != value and len(tampered) == len(value)

    copied = device()
    copied.add_cookies([{**cookie, "value": tampered}])
    assert device_cookie(copied)["value"] == tampered
    page = copied.new_page()
    enter_password(page)
    code = expect_second_factor(page, server, twilio, texts=2)
    shoot(page, "two-factor-tampered-cookie")

    # It passes the code, still not remembered. (Finish before the next sign-in:
    # a new second-factor code for the same phone kills the pending one.)
    pass_second_factor(page, code, remember=False)
    expect_signed_in(page, server)
    assert device_cookie(copied)["value"] == tampered  # left as it was
    page.goto("/auth/account/devices")
    expect(page.locator("ul.pl-devices > li")).to_have_count(1)  # the laptop's
    expect(page.locator(".pl-badge")).to_have_count(0)  # and not this browser

    # A browser with no device cookie at all.
    bare = device()
    assert device_cookie(bare) is None
    bare_page = bare.new_page()
    enter_password(bare_page)
    expect_second_factor(bare_page, server, twilio, texts=3)

    # Control: the same cookie copied intact is the laptop's device, and skips the code.
    intact = device()
    intact.add_cookies([cookie])
    intact_page = intact.new_page()
    enter_password(intact_page)
    expect_signed_in(intact_page, server)
    assert len(twilio.requests) == 3
