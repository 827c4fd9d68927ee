"""Server-side sessions: a signed-in browser is a row, and the row decides.

The cookie carries only the row's id and secret, so signing out, an idle or
absolute timeout, or a revocation from elsewhere ends the session however many
copies of the cookie are around.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from factors import PHONE, make_user, pass_second_factor, password_login, sign_out
from flask.sessions import SecureCookieSessionInterface
from flask_login.utils import encode_cookie
from test_authenticators import add_app, app_code, second_step, turn_off
from test_query_counts import statements
from test_reset import ask_reset, reset_token, set_password
from test_revocation import change_password

from apps import db
from conftest import (
    auth_methods,
    code_in,
    csrf_token,
    request_login,
    session_row,
    signed_in_as,
    submit_code,
)
from flask_passwordless import session_ended, session_started
from flask_passwordless.tokens import hash_secret

IDLE = 1800
MAX_AGE = 8 * 3600


@pytest.fixture
def app(make_app, clock):
    return make_app(PASSWORDLESS_SESSION_IDLE_TIMEOUT=IDLE, PASSWORDLESS_SESSION_MAX_AGE=MAX_AGE)


def email_sign_in(app, client, email="alice@example.com"):
    request_login(client, email)
    assert (
        submit_code(client, code_in(app.extensions["passwordless"].outbox[-1])).status_code == 302
    )
    assert signed_in_as(client) == email


def copy_of(app, client):
    """Another browser holding a copy of this one's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


@contextmanager
def recorded(signal):
    seen = []

    def record(sender, **data):
        seen.append(data)

    signal.connect(record)
    try:
        yield seen
    finally:
        signal.disconnect(record)


def test_a_copied_cookie_is_signed_out_with_its_session(app, client):
    """The issue's attack: copy the cookie, sign out, replay the copy."""
    make_user(app)
    password_login(client)
    thief = copy_of(app, client)
    assert thief.get("/private").status_code == 200
    sign_out(client)
    assert thief.get("/private").status_code == 302
    assert thief.get("/auth/account/password").status_code == 302
    assert signed_in_as(thief) == "nobody"
    assert session_row(app, client) is None  # the browser that signed out holds nothing


def test_the_cookie_holds_only_the_rows_id_and_secret(app, client, user):
    email_sign_in(app, client)
    with client.session_transaction() as session:
        kept = dict(session)
    row_id, secret = kept["_passwordless_session"]
    assert set(kept) <= {"_passwordless_session", "_user_id", "_fresh", "_id", "csrf_token"}
    row = session_row(app, client)
    assert row.id == row_id and row.user_key == str(user.id) and row.revoked_at is None
    with app.test_request_context():
        assert row.secret_hash == hash_secret(secret)
    assert secret not in str(row._mapping)  # only its HMAC is stored
    assert auth_methods(app, client) == ["email"]
    assert row.expires_at == row.created_at + timedelta(seconds=MAX_AGE)


def test_a_forged_row_id_with_a_wrong_secret_signs_nobody_in(app, client, user):
    email_sign_in(app, client)
    row_id = session_row(app, client).id
    with client.session_transaction() as session:
        session["_passwordless_session"] = [row_id, "x" * 43]
    assert signed_in_as(client) == "nobody"


@pytest.mark.parametrize(
    "junk",
    [None, "1", [1], [True, "s"], ["1", "s"], [1, 2], [1, "x" * 500], {"id": 1}, [10**30, "s"]],
)
def test_a_malformed_session_reference_signs_nobody_in(app, client, user, junk):
    email_sign_in(app, client)
    with client.session_transaction() as session:
        session["_passwordless_session"] = junk
    assert client.get("/private").status_code == 302
    assert signed_in_as(client) == "nobody"


@pytest.mark.parametrize("stored", [None, "odd", ["email"], 3])
def test_an_odd_auth_record_on_the_row_asks_to_confirm_and_never_fails(app, client, user, stored):
    """The loader hands the record on as JSON text, parsed when a page asks (the
    confirm page asks twice): whatever JSON the row holds, that page works."""
    email_sign_in(app, client)
    table = app.extensions["passwordless"].sessions.table
    with app.app_context():
        row_id = session_row(app, client).id
        db.session.execute(sa.update(table).where(table.c.id == row_id).values(auth=stored))
        db.session.commit()
    for _ in range(2):
        assert client.get("/auth/confirm").status_code == 302
        assert client.get("/auth/account/sessions").status_code == 200
    assert signed_in_as(client) == "alice@example.com"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_auth_record_that_is_not_json_asks_to_confirm_and_never_fails(app, client, user):
    """SQLite keeps any text in the JSON column (written by hand, say): the loader
    hands it on unparsed, and the pages that ask for the record take it as none."""
    email_sign_in(app, client)
    with app.app_context():
        row_id = session_row(app, client).id
        db.session.execute(
            sa.text("UPDATE passwordless_session SET auth = 'not json' WHERE id = :id"),
            {"id": row_id},
        )
        db.session.commit()
    for _ in range(2):
        assert client.get("/auth/confirm").status_code == 302
        assert client.get("/auth/account/sessions").status_code == 200
    assert signed_in_as(client) == "alice@example.com"


def test_a_remember_me_cookie_alone_signs_nobody_in(app, user):
    """The extension never sets Flask-Login's remember cookie; a valid one (say a
    host's, or an old one) brings a user id but no session row: nobody."""
    with app.test_request_context():
        remember = encode_cookie(user.auth_id)
    browser = app.test_client()
    browser.set_cookie("remember_token", remember)
    assert browser.get("/private").status_code == 302
    assert signed_in_as(browser) == "nobody"


def test_sign_in_never_sets_a_remember_cookie(app, client, user):
    email_sign_in(app, client)
    assert client.get_cookie("remember_token") is None


def test_a_signed_in_page_writes_last_seen_at_most_once_a_minute(app, client, user, clock):
    email_sign_in(app, client)
    first = session_row(app, client).last_seen_at
    clock.advance(seconds=59)
    with statements(app) as seen:
        assert client.get("/private").status_code == 200
    assert len(seen) == 1, seen  # the user and the row, read together; nothing written
    assert session_row(app, client).last_seen_at == first
    clock.advance(seconds=1)
    with statements(app) as seen:
        assert client.get("/private").status_code == 200
    assert len(seen) == 2 and seen[1].startswith("UPDATE passwordless_session"), seen
    assert session_row(app, client).last_seen_at == first + timedelta(seconds=60)


def test_an_active_session_outlives_the_idle_timeout(app, client, user, clock):
    email_sign_in(app, client)
    for _ in range(4):
        clock.advance(seconds=IDLE - 60)
        assert client.get("/private").status_code == 200


def test_an_idle_session_is_signed_out_with_a_message_and_a_way_back(app, client, user, clock):
    email_sign_in(app, client)
    clock.advance(seconds=IDLE + 1)
    with recorded(session_ended) as ended:
        response = client.get("/private?tab=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2Fprivate%3Ftab%3D2"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after a time without activity" in page
    assert [e["reason"] for e in ended] == ["idle"]
    assert signed_in_as(client) == "nobody"
    # Signing in again lands on the page it was on.
    request_login(client, "alice@example.com", next_url="/private?tab=2")
    done = submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    assert done.headers["Location"] == "/private?tab=2"


def test_an_idle_session_stays_ended_when_the_limit_grows(app, client, user, clock):
    email_sign_in(app, client)
    thief = copy_of(app, client)
    clock.advance(seconds=IDLE + 1)
    assert client.get("/private").status_code == 302
    app.config["PASSWORDLESS_SESSION_IDLE_TIMEOUT"] = 10 * IDLE
    assert thief.get("/private").status_code == 302


def test_a_session_past_its_max_age_is_signed_out_however_active(app, client, user, clock):
    email_sign_in(app, client)
    for _ in range(MAX_AGE // 1200 - 1):
        clock.advance(seconds=1200)
        assert client.get("/private").status_code == 200
    clock.advance(seconds=1199)
    assert client.get("/private").status_code == 200
    clock.advance(seconds=1)
    with recorded(session_ended) as ended:
        response = client.get("/private")
    assert response.headers["Location"] == "/auth/login?next=%2Fprivate"
    assert "had been signed in for a long time" in client.get("/auth/login").get_data(as_text=True)
    assert [e["reason"] for e in ended] == ["expired"]


def test_sessions_start_and_end_with_signals(app, client, user):
    with recorded(session_started) as started:
        email_sign_in(app, client)
    row_id = session_row(app, client).id
    assert [(s["user"].id, s["session_id"]) for s in started] == [(user.id, row_id)]
    with recorded(session_ended) as ended:
        client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert [(e["session_id"], e["reason"]) for e in ended] == [(row_id, "sign-out")]


def test_signing_in_again_in_one_browser_ends_its_earlier_session(app, client, user):
    email_sign_in(app, client)
    thief = copy_of(app, client)
    email_sign_in(app, client)
    assert signed_in_as(thief) == "nobody"
    assert signed_in_as(client) == "alice@example.com"


def test_sign_out_everywhere_revokes_every_row_of_the_user(app, user):
    laptop, phone = app.test_client(), app.test_client()
    email_sign_in(app, laptop)
    email_sign_in(app, phone)
    thief = copy_of(app, phone)
    with recorded(session_ended) as ended:
        laptop.post("/auth/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    assert sorted(e["reason"] for e in ended) == ["revoked", "sign-out"]
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        rows = db.session.execute(sa.select(table.c.revoked_at)).scalars().all()
    assert len(rows) == 2 and all(rows)
    assert signed_in_as(phone) == "nobody" and signed_in_as(thief) == "nobody"


def test_request_metadata_is_stored_cleaned(app, user):
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = "Firefox/1\x00\r\nX-Forged: 1\u202e" + "a" * 2000
    email_sign_in(app, browser)
    row = session_row(app, browser)
    assert row.user_agent.startswith("Firefox/1 X-Forged: 1a")
    assert len(row.user_agent) == 512
    assert row.ip == "127.0.0.1"


class ServerSideSessions(SecureCookieSessionInterface):
    """A host session store in the manner of Flask-Session: a new id on sign-in
    through ``regenerate`` (the data is kept in the cookie here, for brevity)."""

    def __init__(self):
        self.regenerated = 0

    def regenerate(self, session):
        self.regenerated += 1
        session["_store_id"] = uuid.uuid4().hex


def test_a_host_with_its_own_session_interface_keeps_working(app, user):
    app.session_interface = interface = ServerSideSessions()
    browser = app.test_client()
    email_sign_in(app, browser)
    assert interface.regenerated == 1
    thief = copy_of(app, browser)
    sign_out(browser)
    assert signed_in_as(thief) == "nobody"


def two_browsers_signed_in(app, *, two_factor=False):
    """Alice (password, phone) signed in on a laptop and a phone, each with the
    account's full strength."""
    make_user(app, phone=PHONE, two_factor=two_factor)
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        password_login(browser)
        if two_factor:
            pass_second_factor(app, browser)
        assert signed_in_as(browser) == "alice@example.com"
    return laptop, phone


def only_this_one_left(app, laptop, phone, response, flashed):
    assert signed_in_as(laptop) == "alice@example.com"
    assert signed_in_as(phone) == "nobody"
    assert flashed in laptop.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        live = db.session.execute(sa.select(table.c.id).where(table.c.revoked_at.is_(None)))
        assert live.scalars().all() == [session_row(app, laptop).id]


def test_a_password_change_ends_every_other_session(app):
    laptop, phone = two_browsers_signed_in(app)
    response = change_password(laptop)
    only_this_one_left(app, laptop, phone, response, "Other browsers were signed out")


def test_turning_two_step_off_ends_every_other_session(app):
    laptop, phone = two_browsers_signed_in(app, two_factor=True)
    thief = copy_of(app, phone)
    response = turn_off(laptop)
    only_this_one_left(app, laptop, phone, response, "Your other signed-in browser was signed")
    assert signed_in_as(thief) == "nobody"


def test_removing_the_phone_ends_every_other_session(app):
    laptop, phone = two_browsers_signed_in(app)
    thief = copy_of(app, phone)
    token = csrf_token(laptop, "/auth/account/phone")
    response = laptop.post(
        "/auth/account/phone/remove", data={"csrf_token": token, "confirmed": "1"}
    )
    only_this_one_left(app, laptop, phone, response, "Your other signed-in browser was signed")
    assert signed_in_as(thief) == "nobody"


def test_removing_an_authenticator_app_ends_every_other_session(app, clock):
    laptop, phone = two_browsers_signed_in(app)
    secret, _ = add_app(laptop, clock)  # two-step is on now: the app is the second step
    sign_out(laptop)
    password_login(laptop)
    clock.advance(seconds=30)
    second_step(laptop, app_code(secret, clock))
    thief = copy_of(app, phone)
    token = csrf_token(laptop, "/auth/account/totp")
    response = laptop.post("/auth/account/totp/remove", data={"csrf_token": token})
    only_this_one_left(app, laptop, phone, response, "Your other signed-in browser was signed")
    assert signed_in_as(thief) == "nobody"


def test_a_new_set_of_recovery_codes_ends_every_other_session(app, clock):
    """New codes replace an authenticator: whoever used an old one elsewhere is out."""
    laptop, phone = two_browsers_signed_in(app)
    secret, _ = add_app(laptop, clock)  # the first set, with the first app
    assert signed_in_as(phone) == "alice@example.com"  # adding them ended nothing
    sign_out(laptop)
    password_login(laptop)
    clock.advance(seconds=30)
    second_step(laptop, app_code(secret, clock))
    thief = copy_of(app, phone)
    ended = []
    with session_ended.connected_to(lambda s, **kw: ended.append(kw["reason"]), app):
        token = csrf_token(laptop, "/auth/account/recovery-codes")
        page = laptop.post("/auth/account/recovery-codes", data={"csrf_token": token})
    assert page.status_code == 200 and "Your recovery codes" in page.get_data(as_text=True)
    assert "Your other signed-in browser was signed out." in page.get_data(as_text=True)
    assert ended == ["revoked"]
    assert signed_in_as(laptop) == "alice@example.com"
    assert signed_in_as(phone) == "nobody" and signed_in_as(thief) == "nobody"
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        live = db.session.execute(sa.select(table.c.id).where(table.c.revoked_at.is_(None)))
        assert live.scalars().all() == [session_row(app, laptop).id]


def test_a_password_reset_ends_every_session(app):
    laptop, phone = two_browsers_signed_in(app)
    thief = copy_of(app, phone)
    ask_reset(app.test_client())
    set_password(app.test_client(), reset_token(app), "another fine passphrase")
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        live = db.session.execute(sa.select(table.c.id).where(table.c.revoked_at.is_(None)))
        assert live.scalars().all() == []
    assert signed_in_as(thief) == "nobody" and signed_in_as(laptop) == "nobody"


def test_cleanup_removes_ended_sessions_in_batches(app, clock):
    make_user(app)
    browsers = [app.test_client() for _ in range(5)]
    for browser in browsers:
        password_login(browser)
    sign_out(browsers[0])
    clock.advance(seconds=IDLE - 10)
    browsers[1].get("/private")  # active: stays
    clock.advance(seconds=20)  # the other three are idle now
    result = app.test_cli_runner().invoke(args=["passwordless", "cleanup", "--batch-size", "2"])
    assert "Removed 4 expired, idle or revoked sessions." in result.output
    with app.app_context():
        table = app.extensions["passwordless"].sessions.table
        left = db.session.execute(sa.select(table.c.id)).scalars().all()
    assert left == [session_row(app, browsers[1]).id]
    assert signed_in_as(browsers[1]) == "alice@example.com"


def sessions_page(client):
    return client.get("/auth/account/sessions").get_data(as_text=True)


def test_the_sessions_page_lists_each_session_and_which_is_this_one(app):
    make_user(app)
    laptop, phone = app.test_client(), app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Gecko/20100101 Firefox/130.0"
    )
    phone.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/129.0 Mobile Safari/537.36"
    )
    phone.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    password_login(laptop)
    email_sign_in(app, phone)
    page = sessions_page(laptop)
    assert page.count('class="pl-badge"') == 1
    this, other = page.split("<li>")[1:3]
    assert "Firefox on macOS" in this and "this session" in this and "with Password" in this
    assert "Chrome on Android" in other and "from 198.51.100.7" in other and "with Email" in other
    assert "Sign out of all other sessions" in page
    assert "last active" in other


def test_signing_out_another_session_ends_it_on_its_next_request(app):
    make_user(app)
    laptop, phone = app.test_client(), app.test_client()
    password_login(laptop)
    password_login(phone)
    phone_id = session_row(app, phone).id
    token = csrf_token(laptop, "/auth/account/sessions")
    with recorded(session_ended) as ended:
        response = laptop.post(
            f"/auth/account/sessions/{phone_id}/revoke", data={"csrf_token": token}
        )
    assert "That browser was signed out." in laptop.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert [(e["session_id"], e["reason"]) for e in ended] == [(phone_id, "revoked")]
    blocked = phone.get("/private")
    assert blocked.status_code == 302
    assert "signed out from another session" in phone.get("/auth/login").get_data(as_text=True)
    assert signed_in_as(laptop) == "alice@example.com"
    assert "Sign out of all other sessions" not in sessions_page(laptop)


def test_sign_out_of_all_other_sessions_keeps_this_one(app):
    make_user(app)
    browsers = [app.test_client() for _ in range(3)]
    for browser in browsers:
        password_login(browser)
    token = csrf_token(browsers[0], "/auth/account/sessions")
    response = browsers[0].post("/auth/account/sessions/revoke-others", data={"csrf_token": token})
    page = browsers[0].get(response.headers["Location"]).get_data(as_text=True)
    assert "Your 2 other signed-in browsers were signed out." in page
    assert [signed_in_as(b) for b in browsers] == ["alice@example.com", "nobody", "nobody"]


def test_another_users_session_cannot_be_signed_out(app):
    make_user(app)
    make_user(app, "bob@example.com")
    alice, bob = app.test_client(), app.test_client()
    password_login(alice)
    password_login(bob, "bob@example.com")
    token = csrf_token(alice)
    for target in (session_row(app, bob).id, 0, 2**40):
        alice.post(f"/auth/account/sessions/{target}/revoke", data={"csrf_token": token})
    assert signed_in_as(bob) == "bob@example.com"
    this = session_row(app, alice).id
    alice.post(f"/auth/account/sessions/{this}/revoke", data={"csrf_token": token})
    assert signed_in_as(alice) == "alice@example.com"  # this one ends by signing out


def test_the_sessions_page_needs_a_signed_in_session(client):
    assert client.get("/auth/account/sessions").status_code == 302
    token = csrf_token(client)
    assert (
        client.post("/auth/account/sessions/revoke-others", data={"csrf_token": token}).status_code
        == 302
    )


def _live_rows(app):
    Session = app.extensions["passwordless"].models.Session
    with app.app_context():
        return db.session.execute(sa.select(Session.id).where(Session.revoked_at.is_(None))).all()


@pytest.mark.parametrize("where", ["flask-login", "device"])
def test_a_sign_in_that_fails_after_its_row_was_written_leaves_no_live_row(
    app, client, clock, where
):
    """A quick second step writes the session row in its own transaction, before the
    browser is signed in: when what follows raises (a host's signal handler), the
    row is ended, so no browser that nobody holds is listed as signed in."""
    from flask_login import user_logged_in

    from flask_passwordless import device_remembered

    make_user(app)
    password_login(client)
    secret, _ = add_app(client, clock)
    sign_out(client)
    password_login(client)
    assert _live_rows(app) == []

    def refuse(_sender, **_data):
        raise RuntimeError("the host's handler failed")

    signal = user_logged_in if where == "flask-login" else device_remembered
    clock.advance(seconds=30)
    with signal.connected_to(refuse), pytest.raises(RuntimeError):
        second_step(client, app_code(secret, clock), remember="y")
    assert _live_rows(app) == []
    assert signed_in_as(client) == "nobody"


def test_a_quick_second_step_whose_session_row_cannot_be_written_keeps_nothing(
    app, client, clock, monkeypatch
):
    """The session row is written in the check's transaction: when it fails, the
    hold and the app's time step go down with it, so the same code still works and
    no failure was counted."""
    make_user(app)
    password_login(client)
    secret, _ = add_app(client, clock)
    sign_out(client)
    password_login(client)
    store = app.extensions["passwordless"].sessions
    written = store.add

    def lost(**_values):
        raise sa.exc.OperationalError("INSERT INTO passwordless_session", {}, OSError("gone"))

    monkeypatch.setattr(store, "add", lost)
    clock.advance(seconds=30)
    code = app_code(secret, clock)
    assert second_step(client, code).status_code == 503
    assert signed_in_as(client) == "nobody" and _live_rows(app) == []
    Failure = app.extensions["passwordless"].models.Failure
    with app.app_context():
        assert db.session.execute(sa.select(Failure)).all() == []
    monkeypatch.setattr(store, "add", written)
    assert second_step(client, code).status_code == 302
    assert signed_in_as(client) == "alice@example.com"
