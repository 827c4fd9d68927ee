"""The email sign-in journey in a real browser (Chromium through Playwright).

The host app runs on a live server on 127.0.0.1; each browser context is a
separate device. Every page visited is saved as a screenshot, light and
dark, to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from conftest import add_user, code_in
from live_server import LiveServer, live_server

pytestmark = pytest.mark.browser

EMAIL = "alice@example.com"
LIGHT_BACKGROUND = "rgb(255, 255, 255)"
DARK_BACKGROUND = "rgb(22, 24, 28)"


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as live:
        add_user(live.app, EMAIL)
        yield live


def link_in(message, server: LiveServer) -> str:
    """The sign-in link in a message; it must point at the live server."""
    match = re.search(re.escape(server.url) + r"(/\S+)", message.text)
    assert match, f"no link to {server.url} in:\n{message.text}"
    return match.group(1)


def ask_for_email(page, shoot, next_url: str | None = None) -> None:
    """Open the login page, submit the address, land on the code page."""
    page.goto("/auth/login" + (f"?next={next_url}" if next_url else ""))
    expect(page).to_have_title("Sign in · Test App")
    shoot(page, "login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_text(EMAIL)).to_be_visible()
    shoot(page, "code")


def signed_in_as(page) -> str:
    page.goto("/")
    return re.search(r"signed in: (\S+)", page.locator("body").inner_text()).group(1)


def test_link_opened_on_another_device_signs_that_device_in(device, server, shoot):
    laptop = device().new_page()
    ask_for_email(laptop, shoot, next_url="/private")
    message = server.wait_for_message()
    assert message.to == EMAIL
    link = link_in(message, server)
    assert link.startswith("/auth/login/link?token=")

    phone = device().new_page()
    response = phone.goto(link)
    assert response.status == 200
    expect(phone).to_have_url(f"{server.url}/auth/login/link")  # no token in history
    assert response.headers["referrer-policy"] == "strict-origin"
    assert response.headers["cache-control"] == "no-store"
    expect(phone.get_by_role("heading", name="Sign in to Test App")).to_be_visible()
    expect(phone.get_by_role("button")).to_have_count(1)
    shoot(phone, "confirm")
    phone.get_by_role("button", name="Sign in").click()

    expect(phone).to_have_url(f"{server.url}/private")
    expect(phone.locator("body")).to_have_text(f"private page of {EMAIL}")
    shoot(phone, "private")
    assert signed_in_as(phone) == EMAIL
    assert signed_in_as(laptop) == "nobody"


def test_code_from_the_same_email_dies_when_the_link_is_used(device, server, shoot):
    laptop = device().new_page()
    ask_for_email(laptop, shoot)
    message = server.wait_for_message()

    phone = device().new_page()
    phone.goto(link_in(message, server))
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(f"{server.url}/")

    laptop.get_by_label("Code").fill(code_in(message))
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop.get_by_role("heading", name="This link or code no longer works")).to_be_visible()
    shoot(laptop, "error")
    assert signed_in_as(laptop) == "nobody"


def test_code_typed_in_the_same_browser_signs_in(device, server, shoot):
    page = device().new_page()
    ask_for_email(page, shoot)
    code = code_in(server.wait_for_message())

    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")
    shoot(page, "home")


def test_link_page_can_be_opened_often_but_the_button_works_once(device, server, shoot):
    laptop = device().new_page()
    ask_for_email(laptop, shoot)
    link = link_in(server.wait_for_message(), server)

    phone = device()
    first, second = phone.new_page(), phone.new_page()
    for page in (first, second):  # a scanner, a preview, the user: GETs use nothing
        assert page.goto(link).status == 200
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shoot(first, "confirm")

    first.get_by_role("button", name="Sign in").click()
    expect(first).to_have_url(f"{server.url}/")
    expect(first.locator("p").first).to_have_text(f"signed in: {EMAIL}")

    # Back to the link page (its bare path: the token left the URL), not cached
    # (no-store), so asked for again: the session that held the token is gone.
    first.go_back()
    expect(first).to_have_url(f"{server.url}/auth/login/link")
    heading = first.get_by_role("heading", name="This link or code no longer works")
    expect(heading).to_be_visible()
    shoot(first, "error")

    # The other tab still shows the button from before sign-in: pressing it fails.
    with second.expect_response(re.compile(r"/auth/login/link$")) as posted:
        second.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 400
    expect(second.locator("h1")).to_have_text(re.compile("no longer works|form has expired"))
    shoot(second, "second-tab")

    # Posting the used token again, with a valid form, is refused.
    second.goto("/auth/login")
    csrf = second.locator("#csrf_token").get_attribute("value")
    token = link.split("token=", 1)[1]
    again = phone.request.post(
        "/auth/login/link", form={"token": token, "csrf_token": csrf}, max_redirects=0
    )
    assert again.status == 400
    assert "This link or code no longer works" in again.text()
    assert signed_in_as(second) == EMAIL


def test_code_flow_works_without_javascript(device, server, shoot):
    page = device(java_script_enabled=False).new_page()
    ask_for_email(page, shoot)
    code = code_in(server.wait_for_message())

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That code is not right. You have 4 tries left.")).to_be_visible()
    expect(page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    shoot(page, "code-wrong")

    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("p").first).to_have_text(f"signed in: {EMAIL}")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("p").first).to_have_text("signed in: nobody")


def test_stylesheet_follows_the_colour_scheme(device, server):
    page = device().new_page()
    page.goto("/auth/login")
    expect(page.locator("body")).to_have_css("background-color", LIGHT_BACKGROUND)
    page.emulate_media(color_scheme="dark")
    expect(page.locator("body")).to_have_css("background-color", DARK_BACKGROUND)
