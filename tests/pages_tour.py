"""A walk through every page of every flow, in its states, for test_accessibility.

The walk drives Chromium (through Playwright) over the test host app on a live
server, with SMS through the real ``twilio`` client to a local
Twilio-compatible server. Each time it reaches a page in a state worth
checking (empty, with errors, with a message after a success), it calls
``see(page, template, state)``: the caller scans, validates and photographs
the page there. Before each call the walk checks where it is (title, heading,
message), so a changed flow fails here instead of scanning the wrong page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
from browser_fixtures import twilio_config as sms_through
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from twilio_server import TwilioServer

from conftest import add_user, code_in
from flask_passwordless import Message
from flask_passwordless.clock import utcnow
from live_server import LiveServer

EMAIL = "erin@example.com"
#: The account whose address the walk changes (EMAIL keeps its own).
MOVING, MOVED = "frank@example.com", "frank.new@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse, a new staple"
MOBILE = "+14155552671"
MOBILE_SHOWN = "+1 415-555-2671"
TOLL_FREE = "+1 800 234 5678"
SITE = "Test App"
#: Upper bound for any one browser action or expectation, in milliseconds.
ACTION_TIMEOUT = 10_000

#: Every page template; the walk must show each one at least once.
TEMPLATES = frozenset(
    {
        "login",
        "password_login",
        "sms_login",
        "code",
        "link_confirm",
        "error",
        "rate_limited",
        "reset",
        "reset_sent",
        "reset_confirm",
        "two_factor",
        "account_phone",
        "account_password",
        "account_two_factor",
        "account_devices",
        "account_sessions",
        "account_totp",
        "account_passkeys",
        "recovery_codes",
        "recovery_codes_new",
        "account",
        "account_email",
        "account_email_code",
        "account_email_confirm",
    }
)

#: ``see(page, template, state)``: called at every page and state of the walk.
See = Callable[[Page, str, str], None]


def twilio_config(twilio: TwilioServer) -> dict[str, Any]:
    """Live-server config for the walk: texts through Twilio, two-step sign-in
    for every way in, and rate limits out of the way."""
    return {
        **sms_through(twilio),
        # Two-step sign-in then needs a phone: the account pages have more states.
        "PASSWORDLESS_TWO_FACTOR_FOR_PASSWORDLESS": True,
        # One browser on one IP visits every page: the walk is not an attack.
        "PASSWORDLESS_LIMIT_SEND_PER_IP": "1000/minute",
        "PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER": "1000/minute",
        "PASSWORDLESS_LIMIT_CHECK_PER_IP": "1000/minute",
        "PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER": "1000/minute",
    }


#: Live-server config for the one page the walk makes a 429 for.
TINY_LIMIT_CONFIG = {"PASSWORDLESS_LIMIT_CHECK_PER_IP": "1/minute"}


@dataclass
class Devices:
    """Opens browser contexts (each one a separate device) and remembers, per
    page, the last document the server sent it (its HTML as served)."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    documents: dict[int, Response] = field(default_factory=dict)

    def new_page(self, base_url: str) -> Page:
        context = self.browser.new_context(base_url=base_url, color_scheme="light")
        context.set_default_timeout(ACTION_TIMEOUT)
        self.contexts.append(context)
        page = context.new_page()
        page.on("response", lambda response: self._record(page, response))
        return page

    def _record(self, page: Page, response: Response) -> None:
        if (
            response.request.is_navigation_request()
            and response.frame == page.main_frame
            and not 300 <= response.status < 400
        ):
            self.documents[id(page)] = response

    def served(self, page: Page) -> Response:
        """The response whose document the page shows."""
        return self.documents[id(page)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def press(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def expect_page(page: Page, title: str) -> None:
    """The page whose title and only top heading are ``title``."""
    expect(page).to_have_title(f"{title} · {SITE}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def expect_message(page: Page, text: str) -> None:
    expect(page.get_by_role("status")).to_contain_text(text)


def expect_field_error(page: Page, text: str) -> None:
    expect(page.locator(".pl-error").first).to_contain_text(text)


def latest(server: LiveServer, template: str) -> Message:
    """The newest email sent with ``template``."""
    server.app.extensions["passwordless"].dispatcher.wait()
    found = [m for m in server.outbox if m.channel == "email" and m.template == template]
    assert found, f"no {template!r} email in {[m.template for m in server.outbox]}"
    return found[-1]


def texted_code(twilio: TwilioServer, count: int) -> str:
    """The code in the ``count``-th text sent through Twilio."""
    body = twilio.wait_for_requests(count)[count - 1].form["Body"]
    return re.search(r"#(\d{6})$", body).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def path_in(text: str, server: LiveServer, path: str) -> str:
    match = re.search(re.escape(server.url) + "(" + re.escape(path) + r"\?token=\S+)", text)
    assert match, text
    return match.group(1)


def walk(devices: Devices, server: LiveServer, twilio: TwilioServer, see: See) -> None:
    """Every page of every flow, in order; ``server`` has an account for EMAIL
    (no phone, no password) and sends texts through ``twilio``."""
    laptop = devices.new_page(server.url)
    signed_out_pages(laptop, see)
    sms_sign_in(laptop, see)
    email_sign_in(laptop, server, see)
    account_pages(laptop, server, twilio, see)

    phone = devices.new_page(server.url)
    second_factor(phone, server, twilio, see)
    remembered_devices(phone, laptop, server, see)
    signed_in_sessions(phone, laptop, see)

    account_page(phone, see)
    email_change(devices.new_page(server.url), server, see)
    stranger = devices.new_page(server.url)
    password_reset(stranger, server, see)
    link_pages(stranger, server, see)


def signed_out_pages(page: Page, see: See) -> None:
    page.goto("/auth/login")
    expect_page(page, "Sign in")
    see(page, "login", "empty")
    page.get_by_label("Email address").fill("not an address")
    press(page, "Email me a sign-in link")
    expect_field_error(page, "That email address is not valid")
    see(page, "login", "invalid-email")
    page.goto("/auth/two-factor")  # nothing half done: back to sign-in, with a message
    expect_page(page, "Sign in")
    expect_message(page, "Please sign in again.")
    see(page, "login", "message")

    page.goto("/auth/login/password")
    expect_page(page, "Sign in with your password")
    see(page, "password_login", "empty")
    press(page, "Sign in")
    expect_field_error(page, "Enter your email address.")
    see(page, "password_login", "nothing-typed")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    press(page, "Sign in")
    expect_field_error(page, "That email and password do not match an account.")
    see(page, "password_login", "wrong-password")


def sms_sign_in(page: Page, see: See) -> None:
    page.goto("/auth/login/sms")
    expect_page(page, "Sign in with a text message")
    see(page, "sms_login", "empty")
    page.get_by_label("Phone number").fill("12")
    press(page, "Text me a code")
    expect(page.get_by_label("Phone number")).to_have_attribute("aria-invalid", "true")
    see(page, "sms_login", "invalid-number")
    page.get_by_label("Phone number").fill(MOBILE)  # no account has it yet: no text
    press(page, "Text me a code")
    expect_page(page, "Check your phone")
    see(page, "code", "sms-empty")
    page.get_by_label("Code").fill("12")
    press(page, "Sign in")
    expect_field_error(page, "The code is 6 digits.")
    see(page, "code", "sms-malformed")


def email_sign_in(page: Page, server: LiveServer, see: See) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(EMAIL)
    press(page, "Email me a sign-in link")
    expect_page(page, "Check your email")
    see(page, "code", "email-empty")
    code = code_in(latest(server, "login"))
    page.get_by_label("Code").fill(wrong(code))
    press(page, "Sign in")
    expect_field_error(page, "That code is not right.")
    see(page, "code", "email-wrong-code")
    page.get_by_label("Code").fill(code)
    press(page, "Sign in")
    expect(page).to_have_url(f"{server.url}/")


def account_pages(page: Page, server: LiveServer, twilio: TwilioServer, see: See) -> None:
    page.goto("/auth/account/two-factor")
    expect_page(page, "Two-step sign-in")
    expect(page.get_by_role("link", name="verified phone number")).to_be_visible()
    see(page, "account_two_factor", "off-needs-phone")
    press(page, "Turn it on")
    expect_message(page, "Add a phone number or an authenticator app first")
    see(page, "account_two_factor", "refused")

    page.goto("/auth/account/phone")
    expect_page(page, "Your phone number")
    see(page, "account_phone", "empty")
    page.get_by_label("Phone number").fill(TOLL_FREE)
    press(page, "Text me a code")
    expect_field_error(page, "That number cannot receive text messages.")
    see(page, "account_phone", "toll-free")
    twilio.fail_next(400, 21614, "not a mobile number")
    page.get_by_label("Phone number").fill(MOBILE)
    press(page, "Text me a code")
    expect_field_error(page, "cannot receive text messages")
    see(page, "account_phone", "refused-by-twilio")
    page.get_by_label("Phone number").fill(MOBILE)
    press(page, "Text me a code")
    expect_page(page, "Check your phone")
    see(page, "code", "phone-verify-empty")
    code = texted_code(twilio, 2)
    page.get_by_label("Code").fill(wrong(code))
    press(page, "Confirm")
    expect_field_error(page, "That code is not right.")
    see(page, "code", "phone-verify-wrong-code")
    page.get_by_label("Code").fill(code)
    press(page, "Confirm")
    expect_page(page, "Your phone number")
    expect_message(page, f"Your phone number {MOBILE_SHOWN} is verified.")
    see(page, "account_phone", "with-number")

    page.goto("/auth/account/password")
    expect_page(page, "Set a password")
    see(page, "account_password", "empty")
    page.get_by_label("New password").fill("short")
    page.get_by_label("Type it again").fill("different")
    press(page, "Save password")
    expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    see(page, "account_password", "weak-password")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Type it again").fill(PASSWORD)
    press(page, "Save password")
    expect_page(page, "Change your password")
    expect_message(page, "Your password was set.")
    see(page, "account_password", "changed")

    page.goto("/auth/account/two-factor")
    expect_page(page, "Two-step sign-in")
    see(page, "account_two_factor", "off")
    press(page, "Turn it on")
    expect(page.locator("main p").first).to_contain_text("Two-step sign-in is on")
    see(page, "account_two_factor", "on")

    page.goto("/auth/account/phone")
    press(page, "Remove this number")  # two-step is on: the email alone is not enough now
    expect_page(page, "Confirm it is you")
    # The email proved the mailbox, and the password could be reset from it: the
    # phone is the other authenticator asked for.
    expect(page.get_by_role("link", name="Password")).to_have_count(0)
    see(page, "two_factor", "confirm-send")
    press(page, "Send me a code")
    expect_message(page, "We sent you a code.")
    see(page, "two_factor", "confirm-code")
    code = texted_code(twilio, 3)
    page.get_by_label("Code").fill(wrong(code))
    press(page, "Continue")
    expect_field_error(page, "That code is not right.")
    see(page, "two_factor", "confirm-wrong-code")
    page.get_by_label("Code").fill(code)
    press(page, "Continue")
    expect_page(page, "Your phone number")
    press(page, "Remove this number")
    expect_message(page, "Turn off two-step sign-in first")
    see(page, "account_phone", "removal-refused")

    authenticator_app(page, see)
    passkeys_page(page, server, see)

    # The app is a second step of its own now: the number may go, once asked.
    page.goto("/auth/account/phone")
    press(page, "Remove this number")
    expect_page(page, "Remove your phone number?")
    see(page, "account_phone", "confirm-remove")
    page.get_by_role("link", name="Keep this number").click()
    expect_page(page, "Your phone number")

    page.goto("/auth/account/devices")
    expect_page(page, "Remembered devices")
    expect(page.get_by_text("No remembered devices.")).to_be_visible()
    see(page, "account_devices", "empty")


def authenticator_app(page: Page, see: See) -> None:
    """Set up an app from the key on the page (real time: the server's clock)."""
    page.goto("/auth/account/totp")
    expect_page(page, "Authenticator app")
    see(page, "account_totp", "setup")
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(wrong(pyotp.TOTP(key).now()))
    press(page, "Add the app")
    expect_field_error(page, "That code is not right.")
    see(page, "account_totp", "wrong-code")
    page.get_by_label("Code").fill(pyotp.TOTP(key).now())
    press(page, "Add the app")
    expect_page(page, "Your recovery codes")
    expect(page.locator(".pl-recovery-codes code")).to_have_count(10)
    see(page, "recovery_codes_new", "shown")
    page.get_by_role("link", name="I saved them, continue").click()
    page.goto("/auth/account/totp")
    expect(page.get_by_role("button", name="Remove the app")).to_be_visible()
    see(page, "account_totp", "added")
    page.goto("/auth/account/recovery-codes")
    expect_page(page, "Recovery codes")
    see(page, "recovery_codes", "ten-left")


def passkeys_page(page: Page, server: LiveServer, see: See) -> None:
    """The passkeys page empty, with one passkey, and after removing it. (Creating
    one needs a localhost origin and an authenticator: test_browser_passkeys.)"""
    page.goto("/auth/account/passkeys")
    expect_page(page, "Passkeys")
    see(page, "account_passkeys", "empty")
    give_passkey(server, "Tour laptop")
    page.reload()
    expect(page.get_by_text("Tour laptop", exact=True)).to_be_visible()
    see(page, "account_passkeys", "listed")
    press(page, "Remove Tour laptop")
    expect_message(page, "The passkey was removed")
    see(page, "account_passkeys", "removed")


def give_passkey(server: LiveServer, name: str, email: str = EMAIL) -> None:
    """A passkey row for the account, as a ceremony would store it (its pages only
    list it; using one needs an authenticator: test_browser_passkeys)."""
    with server.app.app_context():
        state = server.app.extensions["passwordless"]
        user = state.adapter.find_by_email(email)
        data = {"credential_id": "AAAA", "public_key": "AAAA", "backed_up": True}
        state.authenticators.add(
            state.adapter.key_of(user), "passkey", data, name=name, now=utcnow()
        )


def second_factor(page: Page, server: LiveServer, twilio: TwilioServer, see: See) -> None:
    """The second step offers the passkey first, then the app, a recovery code, a text."""
    give_passkey(server, "Tour phone")
    page.goto("/auth/login/password")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    press(page, "Sign in")
    expect_page(page, "One more step")
    expect(page.get_by_text("Use a passkey of this account")).to_be_visible()
    expect(page.get_by_role("button", name="Use a passkey")).to_be_visible()  # WebAuthn here
    see(page, "two_factor", "passkey")
    page.get_by_role("link", name="Authenticator app").click()
    expect(page.get_by_label("Code from the app")).to_be_visible()
    see(page, "two_factor", "app")
    page.get_by_role("link", name="Recovery code").click()
    see(page, "two_factor", "recovery")
    page.get_by_role("link", name="Text message").click()
    see(page, "two_factor", "sms-send")
    press(page, "Send me a code")
    expect_message(page, "We sent you a code.")
    see(page, "two_factor", "empty")
    code = texted_code(twilio, 4)
    page.get_by_label("Code").fill(wrong(code))
    press(page, "Sign in")
    expect_field_error(page, "That code is not right.")
    see(page, "two_factor", "wrong-code")
    press(page, "Send me a new code")
    expect_message(page, "We sent you a new code.")
    see(page, "two_factor", "code-resent")
    page.get_by_label("Code").fill(texted_code(twilio, 5))
    page.get_by_label("Remember this device for 30 days").check()
    press(page, "Sign in")
    expect(page).to_have_url(f"{server.url}/")


def remembered_devices(phone: Page, laptop: Page, server: LiveServer, see: See) -> None:
    phone.goto("/auth/account/devices")
    expect_page(phone, "Remembered devices")
    expect(phone.locator(".pl-badge")).to_have_text("this device")
    see(phone, "account_devices", "this-device")
    laptop.goto("/auth/account/devices")
    expect(laptop.locator("ul.pl-devices > li")).to_have_count(1)
    expect(laptop.locator(".pl-badge")).to_have_count(0)
    see(laptop, "account_devices", "other-device")
    phone.get_by_role("button", name=re.compile(r"^Forget .+ \(this device\)$")).click()
    expect_message(phone, "was forgotten: it will ask for the second step again.")
    see(phone, "account_devices", "forgotten")


def signed_in_sessions(phone: Page, laptop: Page, see: See) -> None:
    """The phone sees both sessions and signs the laptop out; the laptop's next
    request finds itself signed out."""
    phone.goto("/auth/account/sessions")
    expect_page(phone, "Signed-in sessions")
    expect(phone.locator("ul.pl-devices > li")).to_have_count(2)
    expect(phone.locator(".pl-badge")).to_have_text("this session")
    see(phone, "account_sessions", "two-sessions")
    press(phone, "Sign out of all other sessions")
    expect_message(phone, "Your other signed-in browser was signed out.")
    expect(phone.locator("ul.pl-devices > li")).to_have_count(1)
    see(phone, "account_sessions", "others-signed-out")
    laptop.goto("/auth/account/sessions")
    expect(laptop).to_have_url(re.compile(r"/auth/login\?next="))
    expect(laptop.get_by_role("status").first).to_contain_text("signed out from another session")


def account_page(page: Page, see: See) -> None:
    """The account page of an account with everything: phone, password, app, codes."""
    page.goto("/auth/account")
    expect_page(page, "Your account")
    expect(page.get_by_role("link", name="Authenticator app")).to_be_visible()
    see(page, "account", "full")


def email_change(page: Page, server: LiveServer, see: See) -> None:
    """Another account (signed in by its email code: its full strength) changes its
    address: a malformed one, a wrong code, then the link."""
    add_user(server.app, MOVING)
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(MOVING)
    press(page, "Email me a sign-in link")
    page.get_by_label("Code").fill(code_in(latest(server, "login")))
    press(page, "Sign in")
    page.goto("/auth/account")
    page.get_by_role("link", name="Email", exact=True).click()
    expect_page(page, "Your email address")
    see(page, "account_email", "empty")
    page.get_by_label("New email address").fill("erin@")
    press(page, "Email the new address a link")
    expect_field_error(page, "That email address is not valid")
    see(page, "account_email", "invalid-email")
    page.get_by_label("New email address").fill(MOVED)
    press(page, "Email the new address a link")
    expect_page(page, "Check your new address")
    see(page, "account_email_code", "empty")
    code = code_in(latest(server, "email_change"))
    page.get_by_label("Code").fill(wrong(code))
    press(page, "Change my address")
    expect_field_error(page, "That code is not right.")
    see(page, "account_email_code", "wrong-code")
    page.goto(path_in(latest(server, "email_change").text, server, "/auth/account/email/confirm"))
    expect_page(page, "Change your email address")
    see(page, "account_email_confirm", "open")
    press(page, "Change my address")
    expect_page(page, "Your account")
    expect_message(page, f"Your email address is now {MOVED}.")
    see(page, "account", "changed")


def password_reset(page: Page, server: LiveServer, see: See) -> None:
    page.goto("/auth/reset")
    expect_page(page, "Reset your password")
    see(page, "reset", "empty")
    page.get_by_label("Email address").fill("erin@")
    press(page, "Email me a reset link")
    expect_field_error(page, "That email address is not valid")
    see(page, "reset", "invalid-email")
    page.get_by_label("Email address").fill(EMAIL)
    press(page, "Email me a reset link")
    expect_page(page, "Check your email")
    see(page, "reset_sent", "sent")

    page.goto(path_in(latest(server, "reset").text, server, "/auth/reset/confirm"))
    expect_page(page, "Choose a new password")
    see(page, "reset_confirm", "empty")
    press(page, "Save my new password")
    expect_field_error(page, "Choose a password.")
    see(page, "reset_confirm", "nothing-typed")
    page.get_by_label("New password").fill("erin")
    page.get_by_label("Type it again").fill("erin")
    press(page, "Save my new password")
    expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    see(page, "reset_confirm", "weak-password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Type it again").fill(NEW_PASSWORD)
    press(page, "Save my new password")
    expect_page(page, "Sign in with your password")
    expect_message(page, "Your password was changed. Sign in with it now.")
    see(page, "password_login", "password-changed")


def link_pages(page: Page, server: LiveServer, see: See) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(EMAIL)
    press(page, "Email me a sign-in link")
    expect_page(page, "Check your email")
    page.goto(path_in(latest(server, "login").text, server, "/auth/login/link"))
    expect_page(page, f"Sign in to {SITE}")
    see(page, "link_confirm", "open")
    page.goto("/auth/login/link?token=no-such-token")
    expect_page(page, "This link or code no longer works")
    see(page, "error", "dead-link")


def rate_limited(page: Page, see: See) -> None:
    """On a server whose check limit is one a minute: the second look is refused."""
    page.goto("/auth/login/password")
    expect_page(page, "Sign in with your password")
    response = page.goto("/auth/login/password")
    assert response.status == 429
    expect_page(page, "Too many attempts")
    see(page, "rate_limited", "429")
