"""The SMS journeys in a real browser (Chromium through Playwright).

The host app runs on a live server on 127.0.0.1 with the ``twilio`` SMS
backend: the real ``twilio`` client sends over HTTP to a local
Twilio-compatible server, whose recorded requests are the texts. Email stays
in the app's memory outbox. Each browser context is a separate device; pages
are saved as screenshots, light and dark, to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_fixtures import TWILIO_FROM, twilio_config
from playwright.sync_api import expect
from twilio_server import RecordedRequest

from apps import User
from conftest import add_user, code_in
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

EMAIL = "carol@example.com"
MOBILE = "+14155552671"
MOBILE_SHOWN = "+1 415-555-2671"
TOLL_FREE = "+1 800 234 5678"
#: The code is the autofill line's ``#code``; the host is PASSWORDLESS_BASE_URL's.
AUTOFILL_LINE = re.compile(r"@127\.0\.0\.1 #(\d{6})$")


@pytest.fixture
def server(tmp_path, twilio) -> Iterator[LiveServer]:
    with live_server(tmp_path, **twilio_config(twilio)) as live:
        yield live


def text_code(request: RecordedRequest, to: str = MOBILE) -> str:
    """The code in a text the app sent through Twilio, after checking where it went."""
    assert request.method == "POST"
    assert request.form["To"] == to
    assert request.form["From"] == TWILIO_FROM
    body = request.form["Body"]
    match = AUTOFILL_LINE.search(body)
    assert match, f"no '@127.0.0.1 #code' line at the end of:\n{body}"
    assert len(body) <= 160
    return match.group(1)


def emails(server: LiveServer) -> list:
    return [m for m in server.outbox if m.channel == "email"]


def sign_in_by_email(page, server: LiveServer) -> None:
    """Sign in with the code from the sign-in email (the first message sent)."""
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    page.get_by_label("Code").fill(code_in(server.wait_for_message(1)))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")


def saved_phone(server: LiveServer) -> str | None:
    with server.app.app_context():
        return User.query.filter_by(email=EMAIL).one().phone_number


def ask_for_text(page, shoot, typed: str) -> None:
    """Open the SMS sign-in page, submit the number, land on the code page."""
    page.goto("/auth/login/sms")
    expect(page).to_have_title("Sign in with a text message · Test App")
    shoot(page, "sms-login")
    page.get_by_label("Phone number").fill(typed)
    page.get_by_role("button", name="Text me a code").click()
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    expect(page).to_have_title("Check your phone · Test App")
    expect(page.get_by_role("heading", name="Check your phone")).to_be_visible()
    expect(page.locator("main strong")).to_have_text(MOBILE_SHOWN)
    shoot(page, "code")


def test_add_a_number_then_sign_in_with_it_on_another_device(device, server, twilio, shoot):
    add_user(server.app, EMAIL)  # an email, no phone
    laptop = device().new_page()
    sign_in_by_email(laptop, server)

    # Add the number, typed the way people write it.
    laptop.goto("/auth/account/phone")
    expect(laptop).to_have_title("Your phone number · Test App")
    expect(laptop.get_by_text("Add a mobile number")).to_be_visible()
    shoot(laptop, "account-phone")
    laptop.get_by_label("Phone number").fill("(415) 555-2671")
    laptop.get_by_role("button", name="Text me a code").click()

    expect(laptop).to_have_url(f"{server.url}/auth/account/phone/verify")
    expect(laptop.get_by_role("heading", name="Check your phone")).to_be_visible()
    expect(laptop.locator("main strong")).to_have_text(MOBILE_SHOWN)
    shoot(laptop, "verify")
    [verification] = twilio.wait_for_requests(1)  # sent inside the request
    assert verification.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert verification.user == twilio.account_sid
    assert "to add this number" in verification.form["Body"]
    assert saved_phone(server) is None  # not before the code comes back

    laptop.get_by_label("Code").fill(text_code(verification))
    laptop.get_by_role("button", name="Confirm").click()

    expect(laptop).to_have_url(f"{server.url}/auth/account/phone")
    expect(laptop.get_by_role("status")).to_have_text(
        f"Your phone number {MOBILE_SHOWN} is verified."
    )
    expect(laptop.get_by_text(f"Your verified number is {MOBILE_SHOWN}.")).to_be_visible()
    expect(laptop.get_by_role("button", name="Remove this number")).to_be_visible()
    shoot(laptop, "account-phone-verified")
    assert saved_phone(server) == MOBILE

    notice = server.wait_for_message(2)
    assert (notice.channel, notice.template, notice.to) == ("email", "phone_changed", EMAIL)
    assert "phone number" in notice.text and "changed to" in notice.text
    assert "2671" in notice.text and MOBILE not in notice.text  # masked

    # The host app has no sign-out button on its pages, and a hand-made form
    # would carry no valid CSRF token: a fresh browser context is a signed-out
    # device, which is what this step needs.
    phone = device().new_page()
    phone.goto("/")
    expect(phone.locator("p").first).to_have_text("signed in: nobody")
    ask_for_text(phone, shoot, "+1 415 555 2671")
    _, sign_in_text = twilio.wait_for_requests(2)  # sent after the response
    assert "sign-in code" in sign_in_text.form["Body"]

    phone.get_by_label("Code").fill(text_code(sign_in_text))
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(f"{server.url}/")
    expect(phone.locator("p").first).to_have_text(f"signed in: {EMAIL}")
    assert len(twilio.requests) == 2
    server.wait_for_message(3)  # the new-device notice is sent in the background
    templates = [m.template for m in emails(server)]
    assert templates == ["login", "phone_changed", "new_device"]


def test_numbers_that_cannot_get_texts_are_refused_and_not_saved(device, server, twilio, shoot):
    add_user(server.app, EMAIL)
    page = device().new_page()
    sign_in_by_email(page, server)

    # Refused by the policy: Twilio is never asked.
    page.goto("/auth/account/phone")
    page.get_by_label("Phone number").fill(TOLL_FREE)
    page.get_by_role("button", name="Text me a code").click()
    expect(page).to_have_url(f"{server.url}/auth/account/phone")
    field = page.get_by_label("Phone number")
    expect(page.locator(".pl-error")).to_have_text(
        "That number cannot receive text messages. Use a mobile number."
    )
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value(TOLL_FREE)
    shoot(page, "account-phone-toll-free")
    assert twilio.requests == []

    # A valid mobile that Twilio refuses (error 21614): the page says why.
    twilio.fail_next(400, 21614, "not a mobile number")
    page.get_by_label("Phone number").fill("(415) 555-2671")
    page.get_by_role("button", name="Text me a code").click()
    expect(page).to_have_url(f"{server.url}/auth/account/phone")
    expect(page.locator(".pl-error")).to_contain_text("cannot receive text messages")
    expect(page.get_by_label("Phone number")).to_have_attribute("aria-invalid", "true")
    shoot(page, "account-phone-twilio-refused")
    [refused] = twilio.requests
    assert refused.form["To"] == MOBILE
    assert twilio.messages == []

    assert saved_phone(server) is None
    page.goto("/auth/account/phone")
    expect(page.get_by_text("Add a mobile number")).to_be_visible()
    expect(page.get_by_text("Your verified number")).to_have_count(0)
    page.goto("/auth/account/phone/verify")  # no code pending: back to the phone page
    expect(page).to_have_url(f"{server.url}/auth/account/phone")
    assert [m.template for m in emails(server)] == ["login"]  # no "changed" notice


def test_pasting_the_texted_code_submits_the_form(device, server, twilio, shoot):
    add_user(server.app, EMAIL, phone=MOBILE)
    context = device()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    ask_for_text(page, shoot, MOBILE)
    code = text_code(twilio.wait_for_requests(1)[0])

    # A real paste: the code goes on the clipboard, then Ctrl+V in the focused field.
    page.evaluate("code => navigator.clipboard.writeText(code)", code)
    field = page.get_by_label("Code")
    field.focus()
    with page.expect_navigation(url=f"{server.url}/"):
        page.keyboard.press("ControlOrMeta+V")  # no click on "Sign in": otp.js submits
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")
