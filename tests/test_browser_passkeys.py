"""Passkeys in Chromium, with the DevTools WebAuthn virtual authenticator.

The server is reached as http://localhost:PORT (an RP ID cannot be an IP
address; localhost is a secure context). Each page gets its own authenticator
(ctap2, internal transport, resident keys, user verification), so one page is
one person's phone or laptop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from factors import PHONE, make_user
from playwright.sync_api import expect

from apps import User, db
from conftest import code_in
from flask_passwordless.clock import utcnow
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    with live_server(
        tmp_path, public_host="localhost", PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute"
    ) as live:
        make_user(live.app, ALICE)
        make_user(live.app, BOB)
        yield live


def with_authenticator(page, *, user_verified: bool = True, transport: str = "internal") -> str:
    """Give ``page`` a platform authenticator of its own; returns its id."""
    cdp = getattr(page, "_passkey_cdp", None) or page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": transport,
                "hasResidentKey": True,
                "hasUserVerification": user_verified,
                "isUserVerified": user_verified,
                "automaticPresenceSimulation": True,
            }
        },
    )
    if not hasattr(page, "_passkey_cdp"):
        page._passkey_cdp = cdp  # one session per page, kept alive with it
    return added["authenticatorId"]


def unpadded(standard_b64: str) -> str:
    """DevTools gives ids in standard base64; WebAuthn JSON uses base64url."""
    return standard_b64.replace("+", "-").replace("/", "_").rstrip("=")


def sign_in_by_email(server, page, email: str) -> None:
    before = len(server.outbox)
    page.goto("/auth/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    code = code_in(server.wait_for_message(before + 1))
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"signed in: {email}")).to_be_visible()


def sign_out(page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("signed in: nobody")).to_be_visible()


def create_passkey(page) -> None:
    page.goto("/auth/account/passkeys")
    page.get_by_label("Name").fill("Test laptop")
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_text("Your passkey is saved")).to_be_visible()
    expect(page.get_by_text("Test laptop", exact=True)).to_be_visible()


def turn_on_two_step(server, email: str) -> None:
    with server.app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        user.phone_number, user.phone_verified_at = PHONE, utcnow()
        user.two_factor_enabled = True
        db.session.commit()


def test_a_passkey_is_created_then_signs_in_by_button_and_by_autofill(device, server, shoot):
    page = device().new_page()
    with_authenticator(page)
    page.goto("/auth/login")  # where autofill works, the script offers passkeys there
    expect(page.get_by_label("Email address")).to_have_attribute(
        "autocomplete", "username webauthn"
    )
    sign_in_by_email(server, page, ALICE)
    create_passkey(page)
    shoot(page, "passkeys")
    sign_out(page)

    # Autofill: the email field offers the passkey (conditional mediation). The
    # virtual authenticator picks its one passkey as a person would: nothing typed.
    page.goto("/auth/login")
    expect(page.get_by_text(f"signed in: {ALICE}")).to_be_visible()
    sign_out(page)

    # The button, in a browser without passkey autofill.
    without_autofill(page)
    page.goto("/auth/login")
    shoot(page, "login-with-passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text(f"signed in: {ALICE}")).to_be_visible()


def without_autofill(page) -> None:
    """The page's browser has no passkey autofill, so only the buttons ask."""
    page.add_init_script(
        "PublicKeyCredential.isConditionalMediationAvailable = "
        "function () { return Promise.resolve(false); };"
    )


def test_without_user_verification_the_second_step_is_asked(device, server):
    page = device().new_page()
    without_autofill(page)
    made_on = with_authenticator(page)
    sign_in_by_email(server, page, ALICE)
    create_passkey(page)
    sign_out(page)
    turn_on_two_step(server, ALICE)
    # The same passkey on a security key that cannot verify its user (no PIN).
    cdp = page._passkey_cdp
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": made_on})
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": made_on})
    plain = with_authenticator(page, user_verified=False, transport="usb")
    for credential in credentials["credentials"]:
        cdp.send("WebAuthn.addCredential", {"authenticatorId": plain, "credential": credential})
    # Chromium asks a usernameless request for user verification from every CTAP2
    # authenticator; naming the passkey lets one without it answer, as a browser
    # does for a passkey it was told about.
    ids = [unpadded(c["credentialId"]) for c in credentials["credentials"]]

    def naming_the_passkey(route):
        response = route.fetch()
        options = response.json()
        options["allowCredentials"] = [{"type": "public-key", "id": i} for i in ids]
        route.fulfill(response=response, body=json.dumps(options))

    page.route("**/auth/login/passkey/options", naming_the_passkey)
    page.goto("/auth/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    page.goto("/")
    expect(page.get_by_text("signed in: nobody")).to_be_visible()


def test_a_removed_passkey_fails_with_a_clear_message(device, server):
    page = device().new_page()
    without_autofill(page)
    with_authenticator(page)
    sign_in_by_email(server, page, ALICE)
    create_passkey(page)
    page.get_by_role("button", name="Remove Test laptop").click()
    expect(page.get_by_text("The passkey was removed")).to_be_visible()
    sign_out(page)
    page.goto("/auth/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text("it may have been removed from your account")).to_be_visible()
    page.goto("/")
    expect(page.get_by_text("signed in: nobody")).to_be_visible()


def test_a_passkey_of_one_account_cannot_confirm_another(device, server):
    # Alice's laptop holds Alice's passkey; Bob has a passkey on his own phone.
    laptop = device().new_page()
    without_autofill(laptop)
    with_authenticator(laptop)
    sign_in_by_email(server, laptop, ALICE)
    create_passkey(laptop)
    sign_out(laptop)
    phone = device().new_page()
    with_authenticator(phone)
    sign_in_by_email(server, phone, BOB)
    create_passkey(phone)
    turn_on_two_step(server, BOB)

    # On Alice's laptop, someone with Bob's mailbox signs in and must confirm it is
    # Bob. They strip the options' allowCredentials, so the browser offers
    # Alice's passkey: the server must still refuse it.
    def any_passkey(route):
        response = route.fetch()
        options = response.json()
        options["allowCredentials"] = []
        route.fulfill(response=response, body=json.dumps(options))

    laptop.route("**/auth/two-factor/passkey/options", any_passkey)
    sign_in_by_email(server, laptop, BOB)
    laptop.goto("/auth/account/passkeys")
    expect(laptop.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    laptop.goto(laptop.url + "&method=passkey" if "?" in laptop.url else laptop.url)
    laptop.get_by_role("button", name="Use a passkey").click()
    expect(laptop.get_by_text("That passkey belongs to another account")).to_be_visible()
    expect(laptop.get_by_role("heading", name="Confirm it is you")).to_be_visible()
