"""A link's landing page: its token leaves the URL on the first GET.

The GET keeps the token in this browser's session and answers 303 to the bare
path, so access logs, history and bookmarks keep no token. The page and its
button work from the session's copy; scanners still use nothing.
"""

from __future__ import annotations

import re

import pytest
from factors import make_user, password_login

from apps import db
from conftest import CSRF_FIELD, code_in, csrf_token, request_login, signed_in_as, token_in
from flask_passwordless.session import LINKS

NEW_PASSWORD = "a brand new long passphrase"
TOKEN_FIELD = re.compile(r'name="token" type="hidden" value="([^"]+)"')

#: purpose -> (the page's path, how to ask for its message)
LINKS_BY_PURPOSE = {
    "login": ("/auth/login/link", "/auth/login"),
    "reset": ("/auth/reset/confirm", "/auth/reset"),
}


def mailed_link(app, purpose: str, email: str = "alice@example.com") -> tuple[str, str]:
    """Ask for a link from a browser of its own; returns (path, token)."""
    path, ask = LINKS_BY_PURPOSE[purpose]
    asking = app.test_client()
    asking.post(ask, data={"email": email, "csrf_token": csrf_token(asking, ask)})
    return path, token_in(app.extensions["passwordless"].outbox[-1])


def kept_links(client) -> dict:
    with client.session_transaction() as session:
        return dict(session.get(LINKS, {}))


def press_button(client, page, **fields):
    """Submit the landing page's form as a browser would: the fields it holds."""
    html = page.get_data(as_text=True)
    data = {"csrf_token": CSRF_FIELD.search(html).group(1), **fields}
    path = page.request.path
    return client.post(path, data=data)


@pytest.fixture
def alice(app):
    return make_user(app)


@pytest.mark.parametrize("purpose", ["login", "reset"])
def test_opening_a_link_moves_its_token_from_the_url_into_the_session(app, alice, purpose):
    path, token = mailed_link(app, purpose)
    browser = app.test_client()
    moved = browser.get(f"{path}?token={token}")
    assert moved.status_code == 303
    assert moved.headers["Location"] == path
    assert kept_links(browser) == {purpose: token}
    page = browser.get(path)
    assert page.status_code == 200
    assert "<form" in page.get_data(as_text=True)
    for response in (moved, page):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "strict-origin"
        assert token not in response.headers.get("Location", "")


def test_the_sign_in_button_works_from_the_sessions_copy(app, alice):
    path, token = mailed_link(app, "login")
    browser = app.test_client()
    page = browser.get(f"{path}?token={token}", follow_redirects=True)
    assert press_button(browser, page).status_code == 302  # no token field posted
    assert signed_in_as(browser) == "alice@example.com"
    assert kept_links(browser) == {}  # the sign-in cleared the session


def test_the_reset_form_works_from_the_sessions_copy_and_forgets_it(app, alice):
    path, token = mailed_link(app, "reset")
    browser = app.test_client()
    page = browser.get(f"{path}?token={token}", follow_redirects=True)
    done = press_button(browser, page, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.headers["Location"] == "/auth/login/password"
    assert kept_links(browser) == {}
    assert password_login(browser, password=NEW_PASSWORD).status_code == 302


def test_a_weak_password_keeps_the_sessions_copy_for_the_next_try(app, alice):
    path, token = mailed_link(app, "reset")
    browser = app.test_client()
    page = browser.get(f"{path}?token={token}", follow_redirects=True)
    again = press_button(browser, page, password="password123", confirm="password123")
    assert "too easy to guess" in again.get_data(as_text=True)
    done = press_button(browser, again, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code == 302


def test_each_tab_signs_in_as_the_account_its_page_named(app, alice):
    make_user(app, "bob@example.com")
    path, alices = mailed_link(app, "login", "alice@example.com")
    _, bobs = mailed_link(app, "login", "bob@example.com")
    browser = app.test_client()
    alices_tab = browser.get(f"{path}?token={alices}", follow_redirects=True)
    bobs_tab = browser.get(f"{path}?token={bobs}", follow_redirects=True)
    assert "a•••e@example.com" in alices_tab.get_data(as_text=True)
    assert "b•••b@example.com" in bobs_tab.get_data(as_text=True)
    assert kept_links(browser) == {"login": bobs}  # the session keeps the newest
    shown = TOKEN_FIELD.search(alices_tab.get_data(as_text=True)).group(1)
    press_button(browser, alices_tab, token=shown)
    assert signed_in_as(browser) == "alice@example.com"


@pytest.mark.parametrize("purpose", ["login", "reset"])
def test_a_dead_link_shows_the_error_page_without_a_redirect_loop(app, alice, clock, purpose):
    path, token = mailed_link(app, purpose)
    clock.advance(hours=2)
    browser = app.test_client()
    assert browser.get(f"{path}?token={token}").headers["Location"] == path
    page = browser.get(path)
    assert page.status_code == 400
    assert "no longer works" in page.get_data(as_text=True)
    assert kept_links(browser) == {}  # forgotten: the bare path never redirects
    assert browser.get(path).status_code == 400


@pytest.mark.parametrize("broken", ["", "x" * 101, "a" * 43])
def test_a_broken_link_never_shows_the_page_of_one_opened_before(app, alice, broken):
    path, token = mailed_link(app, "login")
    browser = app.test_client()
    assert browser.get(f"{path}?token={token}", follow_redirects=True).status_code == 200
    page = browser.get(f"{path}?token={broken}", follow_redirects=True)
    assert page.status_code == 400
    assert "no longer works" in page.get_data(as_text=True)


@pytest.mark.parametrize("purpose", ["login", "reset"])
def test_a_browser_refusing_cookies_is_told_it_needs_them(app, alice, purpose):
    path, token = mailed_link(app, purpose)
    browser = app.test_client(use_cookies=False)
    page = browser.get(f"{path}?token={token}", follow_redirects=True)
    assert page.status_code == 400
    assert "refusing cookies" in page.get_data(as_text=True)
    # Nothing was used: a browser that keeps cookies still gets in.
    assert app.test_client().get(f"{path}?token={token}", follow_redirects=True).status_code == 200


def test_the_code_still_works_in_the_browser_that_opened_the_link(app, client, alice):
    request_login(client, "alice@example.com")
    message = app.extensions["passwordless"].outbox[-1]
    opened = client.get(f"/auth/login/link?token={token_in(message)}", follow_redirects=True)
    assert opened.status_code == 200
    typed = {"code": code_in(message), "csrf_token": csrf_token(client, "/auth/login/code")}
    assert client.post("/auth/login/code", data=typed).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_a_link_whose_row_ran_out_of_tries_shows_the_dead_link_page(app, client, alice):
    request_login(client, "alice@example.com")
    message = app.extensions["passwordless"].outbox[-1]
    code = code_in(message)
    wrong = {"code": f"{(int(code) + 1) % 1_000_000:06d}"}
    for _ in range(app.config["PASSWORDLESS_MAX_ATTEMPTS"]):
        client.post("/auth/login/code", data={**wrong, "csrf_token": csrf_token(client)})
    with app.app_context():
        Secret = app.extensions["passwordless"].models.Secret
        row = db.session.execute(db.select(Secret)).scalar_one()
        assert row.consumed_at is None and row.expires_at > row.created_at  # only the tries
    link = f"/auth/login/link?token={token_in(message)}"
    page = app.test_client().get(link, follow_redirects=True)
    assert page.status_code == 400
    assert "no longer works" in page.get_data(as_text=True)
    assert "Sign in</button>" not in page.get_data(as_text=True)
