"""The email sign-in journey: link and code, cross-device, single use, expiry."""

from __future__ import annotations

from conftest import (
    add_user,
    code_in,
    confirm_link,
    csrf_token,
    link_in,
    request_login,
    signed_in_as,
    submit_code,
    token_in,
)
from flask_passwordless import login_link_sent, user_logged_in, user_registered


def test_login_page_has_an_email_form(client):
    page = client.get("/auth/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'autocomplete="email"' in html
    assert '<label for="email">Email address</label>' in html


def test_one_email_carries_a_link_and_a_code(client, user, outbox):
    response = request_login(client, "Alice@Example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login/code"
    assert len(outbox) == 1
    message = outbox[0]
    assert message.to == "alice@example.com"
    assert message.subject == "Your sign-in link for Test App"
    assert link_in(message).startswith("/auth/login/link?token=")
    assert len(code_in(message)) == 6
    assert token_in(message) in message.html and code_in(message) in message.html


def test_code_signs_in_and_goes_to_next(client, user, outbox):
    request_login(client, "alice@example.com", next_url="/private")
    response = submit_code(client, code_in(outbox[0]))
    assert response.status_code == 302
    assert response.headers["Location"] == "/private"
    assert signed_in_as(client) == "alice@example.com"
    assert client.get("/private").get_data(as_text=True) == "private page of alice@example.com"


def test_link_works_in_another_browser(app, user, outbox):
    asking, other = app.test_client(), app.test_client()
    request_login(asking, "alice@example.com", next_url="/private")
    response = confirm_link(other, token_in(outbox[0]))
    assert response.status_code == 302
    assert response.headers["Location"] == "/private"
    assert signed_in_as(other) == "alice@example.com"
    assert signed_in_as(asking) == "nobody"


def test_link_get_and_head_consume_nothing(make_app):
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False)  # scanners may come back often
    add_user(app, "alice@example.com")
    outbox = app.extensions["passwordless"].outbox
    request_login(app.test_client(), "alice@example.com")
    token = token_in(outbox[0])
    link = f"/auth/login/link?token={token}"
    for scanner in (app.test_client(), app.test_client(use_cookies=False)):
        for _ in range(10):
            assert scanner.get(link).status_code == 303
            assert scanner.head(link).status_code == 303
            assert scanner.get(link, follow_redirects=True).status_code in (200, 400)
            assert scanner.head(link, follow_redirects=True).status_code in (200, 400)
    person = app.test_client()
    assert confirm_link(person, token).status_code == 302
    assert signed_in_as(person) == "alice@example.com"


def test_confirm_page_has_one_button_and_no_referrer(app, user, outbox):
    request_login(app.test_client(), "alice@example.com")
    browser = app.test_client()
    moved = browser.get(f"/auth/login/link?token={token_in(outbox[0])}")
    page = browser.get(moved.headers["Location"])
    assert page.get_data(as_text=True).count("<button") == 1
    for response in (moved, page):
        assert response.headers["Referrer-Policy"] == "strict-origin"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_used_link_cannot_sign_in_twice(app, user, outbox):
    request_login(app.test_client(), "alice@example.com")
    token = token_in(outbox[0])
    assert confirm_link(app.test_client(), token).status_code == 302
    second = app.test_client()
    response = confirm_link(second, token)
    assert response.status_code == 400
    assert "no longer works" in response.get_data(as_text=True)
    assert signed_in_as(second) == "nobody"


def test_link_and_code_share_one_row(client, app, user, outbox):
    request_login(client, "alice@example.com")
    message = outbox[0]
    assert confirm_link(app.test_client(), token_in(message)).status_code == 302
    assert submit_code(client, code_in(message)).status_code == 400
    assert signed_in_as(client) == "nobody"


def test_code_dies_after_five_wrong_tries_even_if_sixth_is_right(client, user, outbox):
    request_login(client, "alice@example.com")
    code = code_in(outbox[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for remaining in (4, 3, 2, 1):
        page = submit_code(client, wrong)
        assert page.status_code == 200
        assert f"{remaining} tr" in page.get_data(as_text=True)
    assert submit_code(client, wrong).status_code == 400
    response = submit_code(client, code)
    assert response.status_code in (302, 400)
    assert response.headers.get("Location") != "/"
    assert signed_in_as(client) == "nobody"


def test_fifth_try_may_be_the_right_one(client, user, outbox):
    request_login(client, "alice@example.com")
    code = code_in(outbox[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        submit_code(client, wrong)
    assert submit_code(client, code).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_wrong_tries_also_kill_the_link(app, client, user, outbox):
    request_login(client, "alice@example.com")
    code = code_in(outbox[0])
    for _ in range(5):
        submit_code(client, f"{(int(code) + 1) % 1_000_000:06d}")
    assert confirm_link(app.test_client(), token_in(outbox[0])).status_code == 400


def test_expired_link_and_code_fail(app, client, clock, user, outbox):
    request_login(client, "alice@example.com")
    clock.advance(minutes=10, seconds=1)
    link = f"/auth/login/link?token={token_in(outbox[0])}"
    page = app.test_client().get(link, follow_redirects=True)
    assert page.status_code == 400
    assert "Ask for a new sign-in link" in page.get_data(as_text=True)
    assert confirm_link(app.test_client(), token_in(outbox[0])).status_code == 400
    assert submit_code(client, code_in(outbox[0])).status_code == 400


def test_link_still_works_just_before_expiry(app, client, clock, user, outbox):
    request_login(client, "alice@example.com")
    clock.advance(minutes=9, seconds=59)
    assert confirm_link(app.test_client(), token_in(outbox[0])).status_code == 302


def test_asking_again_in_the_same_browser_retires_its_old_link_and_code(app, client, user, outbox):
    """Only this browser asking again retires its secret; another browser's request
    never does (tests/test_budgets.py)."""
    request_login(client, "alice@example.com")
    request_login(client, "alice@example.com")
    old, new = outbox
    assert confirm_link(app.test_client(), token_in(old)).status_code == 400
    assert "a newer one replaced it" in submit_code(client, code_in(old)).get_data(as_text=True)
    assert submit_code(client, code_in(new)).status_code == 302


def test_secrets_are_stored_only_as_hmacs(app, client, user, outbox):
    request_login(client, "alice@example.com")
    token, code = token_in(outbox[0]), code_in(outbox[0])
    with app.app_context():
        row = app.extensions["passwordless"].models.Secret.query.one()
        stored = " ".join(str(value) for value in vars(row).values())
    assert token not in stored and code not in stored
    assert len(row.token_hash) == 64 and len(row.code_hash) == 64


def test_secret_key_rotation_keeps_outstanding_links_working(make_app):
    app = make_app()
    add_user(app, "alice@example.com")
    request_login(app.test_client(), "alice@example.com")
    token = token_in(app.extensions["passwordless"].outbox[0])
    app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
    app.config["SECRET_KEY"] = "a-brand-new-secret-key"
    client = app.test_client()
    assert confirm_link(client, token).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_code_page_without_a_request_goes_back_to_the_form(client):
    response = client.get("/auth/login/code")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_code_with_spaces_or_dashes_is_accepted(client, user, outbox):
    request_login(client, "alice@example.com")
    code = code_in(outbox[0])
    assert submit_code(client, f" {code[:3]}-{code[3:]} ").status_code == 302


def test_signals_report_the_journey(app, client, user, outbox):
    seen = []
    with (
        login_link_sent.connected_to(lambda s, **kw: seen.append(("sent", kw["email"])), app),
        user_logged_in.connected_to(lambda s, **kw: seen.append(("in", kw["method"])), app),
    ):
        request_login(client, "alice@example.com")
        submit_code(client, code_in(outbox[0]))
    assert seen == [("sent", "alice@example.com"), ("in", "email")]


def test_unknown_address_gets_a_no_account_email(client, outbox):
    request_login(client, "nobody@example.com")
    assert [m.template for m in outbox] == ["unknown_account"]
    assert "no account" in outbox[0].text
    assert "token=" not in outbox[0].text


def test_unknown_address_gets_nothing_when_told_so(make_app):
    app = make_app(PASSWORDLESS_EMAIL_UNKNOWN_ACCOUNTS=False)
    request_login(app.test_client(), "nobody@example.com")
    assert app.extensions["passwordless"].outbox == []


def test_sign_up_creates_the_account_only_when_the_link_is_used(make_app):
    app = make_app(PASSWORDLESS_REGISTER_UNKNOWN=True)
    from apps import User

    registered = []
    client = app.test_client()
    with user_registered.connected_to(lambda s, **kw: registered.append(kw["user"].email), app):
        request_login(client, "new@example.com")
        message = app.extensions["passwordless"].outbox[0]
        assert message.template == "register"
        with app.app_context():
            assert User.query.count() == 0
        confirm_link(client, token_in(message))
    assert registered == ["new@example.com"]
    assert signed_in_as(client) == "new@example.com"
    with app.app_context():
        assert User.query.count() == 1


def test_signed_in_user_can_sign_out(client, user, outbox):
    request_login(client, "alice@example.com")
    submit_code(client, code_in(outbox[0]))
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert signed_in_as(client) == "nobody"


def test_logout_is_post_only(client):
    assert client.get("/auth/logout").status_code == 405


def test_sign_out_everywhere_ends_other_sessions(app, user, outbox):
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        request_login(browser, "alice@example.com")
        submit_code(browser, code_in(outbox[-1]))
        assert signed_in_as(browser) == "alice@example.com"
    laptop.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    assert signed_in_as(laptop) == "nobody"
    assert signed_in_as(phone) == "nobody"


def test_protected_page_sends_strangers_to_sign_in(client):
    response = client.get("/private")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
