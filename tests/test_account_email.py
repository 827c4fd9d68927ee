"""Changing one's email address: the new one proves itself, once; no enumeration;
a security change at the account's full strength; other sessions end."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from factors import PASSWORD, PHONE, make_user, password_login
from flask import template_rendered
from test_query_counts import statements
from test_reset import NEW_PASSWORD, ask_reset, reset_token, set_password
from test_smtp import _mail_app, _parts, smtp  # noqa: F401 (the fixture)

from apps import User, db
from conftest import (
    CSRF_FIELD,
    code_in,
    csrf_token,
    race,
    request_login,
    session_row,
    signed_in_as,
    submit_code,
    token_in,
)
from flask_passwordless import email_changed

OLD, NEW, TAKEN = "alice@example.com", "alice.new@example.com", "bob@example.com"


@pytest.fixture
def app(make_app, clock):
    return make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute")


@pytest.fixture
def alice(app):
    return make_user(app, OLD)


@pytest.fixture
def changes(app):
    seen = []
    with email_changed.connected_to(lambda s, **kw: seen.append((kw["old"], kw["new"])), app):
        yield seen


def outbox(app):
    return app.extensions["passwordless"].outbox


def sent(app, template):
    return [m for m in outbox(app) if m.template == template]


def ask(client, email):
    token = csrf_token(client)  # one token per session: any page's will do
    return client.post("/auth/account/email", data={"email": email, "csrf_token": token})


def type_code(client, code):
    token = csrf_token(client)
    return client.post("/auth/account/email/verify", data={"code": code, "csrf_token": token})


def open_link(client, token):
    """The link's GET (moves the token out of the URL), then its page."""
    return client.get(f"/auth/account/email/confirm?token={token}", follow_redirects=True)


def press(client, token):
    page = open_link(client, token).get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    csrf = match.group(1) if match else csrf_token(client)
    return client.post("/auth/account/email/confirm", data={"token": token, "csrf_token": csrf})


def stored_emails(app):
    with app.app_context():
        return sorted(db.session.execute(sa.select(User.email)).scalars())


def signed_in(app, email=OLD):
    client = app.test_client()
    assert password_login(client, email).status_code == 302
    return client


def test_the_code_changes_the_address_and_the_old_one_is_told(app, alice, changes):
    client = signed_in(app)
    response = ask(client, NEW)
    assert response.headers["Location"] == "/auth/account/email/verify"
    assert stored_emails(app) == [OLD]  # nothing changes yet
    [message] = sent(app, "email_change")
    assert message.to == NEW and "/auth/account/email/confirm?token=" in message.text
    assert message.html and code_in(message) in message.html
    page = client.get("/auth/account/email/verify").get_data(as_text=True)
    assert NEW in page
    changed = type_code(client, code_in(message))
    assert changed.headers["Location"] == "/auth/account"
    assert stored_emails(app) == [NEW]
    assert changes == [(OLD, NEW)]
    assert f"Your email address is now {NEW}." in client.get("/auth/account").get_data(True)
    assert signed_in_as(client) == NEW  # this browser stays signed in
    [notice] = sent(app, "email_changed")
    assert notice.to == OLD and "a•••w@example.com" in notice.text
    assert "If you did not" in notice.text and notice.html
    # The new address signs in; the old one no longer does.
    request_login(app.test_client(), NEW)
    assert sent(app, "login")[-1].to == NEW


def test_the_link_changes_it_only_after_the_button(app, alice, changes):
    client = signed_in(app)
    ask(client, NEW)
    token = token_in(sent(app, "email_change")[0])
    for _ in range(2):  # scanners may open it as often as they like
        page = open_link(client, token)
        assert page.status_code == 200 and NEW in page.get_data(True)
        assert page.headers["Cache-Control"] == "no-store"
        assert page.request.path == "/auth/account/email/confirm" and not page.request.args
    assert client.head("/auth/account/email/confirm").status_code == 200
    assert stored_emails(app) == [OLD]
    assert press(client, token).headers["Location"] == "/auth/account"
    assert stored_emails(app) == [NEW] and changes == [(OLD, NEW)]


def test_the_link_works_only_in_a_session_of_the_account_that_asked(app, alice, changes):
    make_user(app, "carol@example.com")
    client = signed_in(app)
    ask(client, NEW)
    token = token_in(sent(app, "email_change")[0])
    signed_out = app.test_client()
    page = open_link(signed_out, token)
    assert page.status_code == 400
    assert "Open this link where you asked for the change" in page.get_data(True)
    carol = signed_in(app, "carol@example.com")
    assert open_link(carol, token).status_code == 400
    assert press(carol, token).status_code == 400
    assert stored_emails(app) == sorted([OLD, "carol@example.com"]) and changes == []
    # Refused, the link still works for its owner.
    assert press(client, token).headers["Location"] == "/auth/account"
    assert changes == [(OLD, NEW)]


def test_a_code_moved_into_another_accounts_session_changes_nothing(app, alice, changes):
    make_user(app, "carol@example.com")
    client, carol = signed_in(app), signed_in(app, "carol@example.com")
    ask(client, NEW)
    with client.session_transaction() as session:
        pending = session["_passwordless_pending"]
    with carol.session_transaction() as session:  # a forged cookie, say
        session["_passwordless_pending"] = pending
    assert type_code(carol, code_in(sent(app, "email_change")[0])).status_code == 400
    assert stored_emails(app) == sorted([OLD, "carol@example.com"]) and changes == []


def test_the_link_and_the_code_work_once_between_them(app, alice, changes):
    client = signed_in(app)
    ask(client, NEW)
    message = sent(app, "email_change")[0]
    code, token = code_in(message), token_in(message)
    with client.session_transaction() as session:
        kept = dict(session)
    assert type_code(client, code).status_code == 302
    other = signed_in(app, NEW)
    assert press(other, token).status_code == 400
    with other.session_transaction() as session:  # the same browser again, code replayed
        session.update({k: v for k, v in kept.items() if k == "_passwordless_pending"})
    assert type_code(other, code).status_code == 400
    assert changes == [(OLD, NEW)]


@pytest.mark.parametrize("use", ["code", "link"])
def test_an_expired_link_or_code_changes_nothing(make_app, clock, use):
    app = make_app(PASSWORDLESS_TOKEN_MAX_AGE=60)  # far inside the recent sign-in
    make_user(app, OLD)
    client = signed_in(app)
    ask(client, NEW)
    message = sent(app, "email_change")[0]
    clock.advance(seconds=61)
    if use == "code":
        refused = type_code(client, code_in(message))
    else:
        refused = press(client, token_in(message))
    assert refused.status_code == 400
    assert "no longer works" in refused.get_data(as_text=True)
    assert stored_emails(app) == [OLD]


def test_wrong_codes_are_counted_and_the_last_try_kills_the_code(app, alice, changes):
    client = signed_in(app)
    ask(client, NEW)
    code = code_in(sent(app, "email_change")[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        page = type_code(client, wrong)
        assert f"{left} tr" in page.get_data(as_text=True)
    assert type_code(client, wrong).status_code == 400
    assert type_code(client, code).status_code in (302, 400)  # the row is dead
    assert stored_emails(app) == [OLD] and changes == []


def _normalised(response, typed):
    body = CSRF_FIELD.sub('value="CSRF"', response.get_data(as_text=True)).replace(typed, "EMAIL")
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Set-Cookie")
    return response.status_code, headers, body


def test_an_address_in_use_gets_the_same_pages_and_a_notice(app, alice, changes):
    make_user(app, TAKEN)
    free, taken = signed_in(app), signed_in(app)
    pairs = [(free, "bor@example.com"), (taken, TAKEN)]  # as long: the same Content-Length
    steps = [
        lambda c, e: c.get("/auth/account/email"),
        ask,
        lambda c, e: c.get("/auth/account/email/verify"),
        lambda c, e: type_code(c, "000000"),
    ]
    for step in steps:
        first, second = (_normalised(step(c, e), e) for c, e in pairs)
        assert first == second
    [notice] = sent(app, "email_change_taken")
    assert notice.to == TAKEN and "another Test App account" in notice.text
    assert not re.search(r"^\d{6}$", notice.text, re.M) and "token=" not in notice.text
    assert notice.html and "token=" not in notice.html
    assert [m.to for m in sent(app, "email_change")] == ["bor@example.com"]
    assert stored_emails(app) == sorted([OLD, TAKEN]) and changes == []


def test_an_address_in_use_costs_the_same_work(make_app):
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False)
    make_user(app, OLD)
    make_user(app, TAKEN)
    ask(signed_in(app), "warm@example.com")  # first-use costs are not the question
    works = []
    for typed in ("free@example.com", TAKEN):
        client = signed_in(app)
        token = csrf_token(client, "/auth/account/email")
        pages = []
        record = lambda _s, template, context, pages=pages, **_kw: pages.append(template.name)  # noqa: E731
        with statements(app) as seen, template_rendered.connected_to(record, app):
            data = {"email": typed, "csrf_token": token}
            assert client.post("/auth/account/email", data=data).status_code == 302
            client.get("/auth/account/email/verify")
        works.append((seen, pages))
    assert works[0][0] and works[0][1] == ["passwordless/account_email_code.html"]
    assert works[0] == works[1]


def test_the_address_is_stored_as_sign_in_looks_it_up(app, alice, changes):
    client = signed_in(app)
    ask(client, "  Alice.New@EXAMPLE.com ")
    assert type_code(client, code_in(sent(app, "email_change")[0])).status_code == 302
    assert stored_emails(app) == [NEW]
    assert password_login(app.test_client(), "ALICE.NEW@example.com").status_code == 302


def test_the_current_address_or_a_malformed_one_sends_nothing(app, alice):
    client = signed_in(app)
    sent_before = len(outbox(app))
    for typed, said in [
        ("ALICE@example.com", "That is already your address."),
        ("not an address", "That email address is not valid"),
        ("a\x00b@example.com", "That email address is not valid"),
    ]:
        page = ask(client, typed)
        assert page.status_code == 200 and said in page.get_data(as_text=True)
    assert len(outbox(app)) == sent_before


def test_the_forms_need_their_csrf_token(app, alice):
    client = signed_in(app)
    assert client.post("/auth/account/email", data={"email": NEW}).status_code == 400
    assert sent(app, "email_change") == []
    ask(client, NEW)
    code = code_in(sent(app, "email_change")[0])
    assert client.post("/auth/account/email/verify", data={"code": code}).status_code == 400
    token = token_in(sent(app, "email_change")[0])
    open_link(client, token)
    assert client.post("/auth/account/email/confirm", data={"token": token}).status_code == 400
    assert stored_emails(app) == [OLD]


def test_bad_input_is_a_4xx_never_a_500(app, alice):
    client = signed_in(app)
    token = csrf_token(client, "/auth/account/email")
    odd = [
        {"email": ["a@example.com", "b@example.com"], "csrf_token": token},
        {"email": "x" * 5000 + "@example.com", "csrf_token": token},
    ]
    for data in odd:
        assert client.post("/auth/account/email", data=data).status_code < 500
    assert client.post("/auth/account/email", json={"email": NEW}).status_code == 400
    assert client.get("/auth/account/email/confirm?token=%00").status_code < 500
    assert client.get("/auth/account/email/confirm").status_code == 400
    nothing_asked = signed_in(app).get("/auth/account/email/verify")
    assert nothing_asked.headers["Location"] == "/auth/account/email"


def test_signed_out_visitors_are_sent_to_sign_in(app, alice):
    client = app.test_client()
    for path in ("/auth/account", "/auth/account/email", "/auth/account/email/verify"):
        assert client.get(path).headers["Location"].startswith("/auth/login")


def test_one_factor_alone_cannot_change_the_address_when_two_step_is_on(app, changes):
    make_user(app, OLD, phone=PHONE, two_factor=True)
    client = app.test_client()
    request_login(client, OLD)
    submit_code(client, code_in(sent(app, "login")[-1]))  # the mailbox alone
    assert signed_in_as(client) == OLD
    assert client.get("/auth/account/email").status_code == 200  # looking is allowed
    response = ask(client, NEW)
    assert response.headers["Location"].startswith("/auth/confirm?next=")
    assert sent(app, "email_change") == []
    # With the phone as well, it goes through.
    token = csrf_token(client, "/auth/confirm?next=/auth/account/email")
    data = {"method": "sms", "csrf_token": token}
    client.post("/auth/confirm/send?next=/auth/account/email", data=data)
    code = code_in([m for m in outbox(app) if m.channel == "sms"][-1])
    data = {"method": "sms", "code": code, "csrf_token": token}
    assert client.post("/auth/confirm?next=/auth/account/email", data=data).status_code == 302
    assert ask(client, NEW).headers["Location"] == "/auth/account/email/verify"
    assert type_code(client, code_in(sent(app, "email_change")[0])).status_code == 302
    assert changes == [(OLD, NEW)]


def test_using_the_code_needs_a_recent_sign_in_too(app, alice, clock, changes):
    client = signed_in(app)
    ask(client, NEW)
    code = code_in(sent(app, "email_change")[0])
    clock.advance(seconds=app.config["PASSWORDLESS_REAUTH_WITHIN"] + 1)
    response = type_code(client, code)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert stored_emails(app) == [OLD] and changes == []


def auth_id(app):
    with app.app_context():
        return db.session.execute(sa.select(User.auth_id)).scalar_one()


def test_other_sessions_end_and_old_codes_die_when_it_changes(app, changes):
    make_user(app, OLD, phone=PHONE)
    other, client = signed_in(app), signed_in(app)
    before = auth_id(app)
    stranger = app.test_client()
    stranger.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": csrf_token(stranger)})
    old_code = code_in([m for m in outbox(app) if m.channel == "sms"][-1])
    ask(client, NEW)
    type_code(client, code_in(sent(app, "email_change")[0]))
    assert session_row(app, other).revoked_at is not None
    assert signed_in_as(other) == "nobody"
    assert signed_in_as(client) == NEW
    assert auth_id(app) != before  # a second lock, as "sign out everywhere" has
    assert submit_code(stranger, old_code).status_code == 400
    assert signed_in_as(stranger) == "nobody"


def change_password(app, client):
    data = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    token = csrf_token(client, "/auth/account/password")
    assert client.post("/auth/account/password", data={**data, "csrf_token": token}).status_code
    return NEW_PASSWORD


def reset_password(app, client):
    ask_reset(app.test_client(), OLD)
    assert set_password(app.test_client(), reset_token(app)).status_code == 302
    return NEW_PASSWORD


def sign_out_everywhere(app, client):
    client.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(client)})
    return PASSWORD


@pytest.mark.parametrize("end", [change_password, reset_password, sign_out_everywhere])
def test_a_pending_change_dies_with_the_accounts_other_links_and_codes(app, alice, changes, end):
    client = signed_in(app)
    ask(client, NEW)
    message = sent(app, "email_change")[0]
    with client.session_transaction() as session:
        pending = session["_passwordless_pending"]
    password = end(app, client)
    if signed_in_as(client) == "nobody":  # signed in again, the code's record kept
        assert password_login(client, OLD, password).status_code == 302
        with client.session_transaction() as session:
            session["_passwordless_pending"] = pending
    refused = type_code(client, code_in(message))
    assert refused.status_code == 400 and "no longer works" in refused.get_data(as_text=True)
    assert press(client, token_in(message)).status_code == 400
    assert stored_emails(app) == [OLD] and changes == []


def test_a_reset_retires_only_its_own_accounts_changes(app, alice, changes):
    """The account's key starts the row's identifier: another account whose key
    starts with the same digits keeps its change."""
    accounts = [make_user(app, f"user{n}@example.com") for n in range(2, 12)]
    eleven = accounts[-1]
    with app.app_context():
        assert str(eleven.id).startswith(str(alice.id))  # 11 starts with 1
    other = signed_in(app, eleven.email)
    ask(other, "eleven.new@example.com")
    reset_password(app, None)
    assert type_code(other, code_in(sent(app, "email_change")[0])).status_code == 302
    assert changes == [(eleven.email, "eleven.new@example.com")]


def test_an_address_taken_meanwhile_is_refused_when_the_code_comes_back(app, alice, changes):
    client = signed_in(app)
    ask(client, NEW)
    make_user(app, NEW)  # signed up with it in the meantime
    assert type_code(client, code_in(sent(app, "email_change")[0])).status_code == 302
    page = client.get("/auth/account/email").get_data(as_text=True)
    assert "That address now belongs to another account." in page
    assert stored_emails(app) == sorted([OLD, NEW]) and changes == []


def test_sending_has_budgets_per_address_and_per_account(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="2/minute",
        PASSWORDLESS_LIMIT_SEND_PER_IP="100/minute",
    )
    make_user(app, OLD)
    client = signed_in(app)
    assert [ask(client, NEW).status_code for _ in range(3)] == [302, 302, 429]
    # Other addresses: the account's own budget (same size) is spent already.
    assert ask(client, "someone.else@example.com").status_code == 429
    assert len(sent(app, "email_change")) == 2


def test_one_code_posted_at_once_by_many_changes_the_address_once(make_app):
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 12})
    make_user(app, OLD)
    client = signed_in(app)
    ask(client, NEW)
    data = {"code": code_in(sent(app, "email_change")[0]), "csrf_token": csrf_token(client)}
    with client.session_transaction() as session:
        copied = dict(session)
    seen = []
    email_changed.connect(lambda s, **kw: seen.append(kw["new"]), app, weak=False)
    browsers = []
    for _ in range(10):
        browser = app.test_client()
        with browser.session_transaction() as session:
            session.update(copied)
        browsers.append(browser)
    path = "/auth/account/email/verify"
    jobs = [lambda b=b: b.post(path, data=data).status_code for b in browsers]
    statuses = race(jobs)
    assert statuses.count(302) >= 1 and all(s in (302, 400) for s in statuses)
    assert seen == [NEW] and stored_emails(app) == [NEW]
    assert len(sent(app, "email_changed")) == 1


def test_one_link_pressed_at_once_in_many_sessions_changes_the_address_once(make_app):
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 12})
    make_user(app, OLD)
    client = signed_in(app)
    ask(client, NEW)
    token = token_in(sent(app, "email_change")[0])
    seen = []
    email_changed.connect(lambda s, **kw: seen.append(kw["new"]), app, weak=False)
    jobs = []
    for _ in range(8):
        browser = signed_in(app)
        page = open_link(browser, token).get_data(as_text=True)
        data = {"token": token, "csrf_token": CSRF_FIELD.search(page).group(1)}
        jobs.append(lambda b=browser, d=data: b.post("/auth/account/email/confirm", data=d))
    statuses = [response.status_code for response in race(jobs)]
    assert all(s in (302, 400) for s in statuses) and 302 in statuses
    assert seen == [NEW] and stored_emails(app) == [NEW]


def test_the_change_goes_over_real_smtp_in_text_and_html(make_app, smtp):  # noqa: F811
    inbox, port = smtp
    app = _mail_app(make_app, port)
    make_user(app, OLD)
    client = signed_in(app)
    app.extensions["passwordless"].dispatcher.wait()
    inbox.wait_for(1)
    inbox.messages.clear()  # the new-sign-in notice of the password sign-in
    ask(client, NEW)
    [confirmation] = inbox.wait_for(1)
    assert confirmation["To"] == NEW
    assert confirmation["Subject"] == "Confirm your new email address for Test App"
    parts = _parts(confirmation)
    assert set(parts) == {"text/plain", "text/html"}
    code = re.search(r"^(\d{6})\r?$", parts["text/plain"], re.M).group(1)
    assert code in parts["text/html"]
    assert type_code(client, code).headers["Location"] == "/auth/account"
    notice = inbox.wait_for(2)[1]
    assert notice["To"] == OLD
    assert notice["Subject"] == "The email address of your Test App account changed"
    assert set(_parts(notice)) == {"text/plain", "text/html"}
