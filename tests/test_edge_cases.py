"""Edge cases a review found: an app removed or added in another tab while being
added, a REPEATABLE READ engine, text user keys that start alike, and the tests'
own template cache."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from factors import make_user, password_login
from test_authenticators import KEY, app_code, email_sign_in

from apps import User, db
from conftest import csrf_token, signed_in_as
from flask_passwordless.authenticators import totp
from flask_passwordless.flows import account_totp
from flask_passwordless.tokens import owned_identifier

WRONG = "That code is not right."
REMOVED = "The app was removed, perhaps in another tab, while it was being set up."
ALREADY = "An authenticator app was set up for your account meanwhile, perhaps in another tab."


@pytest.fixture
def app(make_app, clock):
    return make_app(PASSWORDLESS_LIMITER_ENABLED=False)


def test_an_app_removed_while_added_leaves_two_step_off(app, client, clock, monkeypatch):
    """Tab A confirms a new app; tab B removes it between A's enrol and A's
    turning two-step on. B's turn sees two-step off, so the removal is allowed;
    A's turn must then see the app gone and leave two-step off."""
    make_user(app)  # two-step off, no phone, no passkey
    password_login(client)
    page = client.get("/auth/account/totp").get_data(as_text=True)
    secret = KEY.search(page).group(1).replace(" ", "")
    token = csrf_token(client, "/auth/account/totp")
    cookie = client.get_cookie("session").value
    real_enrol = account_totp.totp.enrol

    def enrol_then_other_tab_removes(*args, **kwargs):
        result = real_enrol(*args, **kwargs)
        other = app.test_client()
        other.set_cookie("session", cookie)
        statuses = []
        tab = threading.Thread(
            target=lambda: statuses.append(
                other.post("/auth/account/totp/remove", data={"csrf_token": token}).status_code
            )
        )
        tab.start()
        tab.join(30)
        assert statuses == [302]
        return result

    monkeypatch.setattr(account_totp.totp, "enrol", enrol_then_other_tab_removes)
    answer = client.post(
        "/auth/account/totp", data={"code": app_code(secret, clock), "csrf_token": token}
    )
    with app.app_context():
        user = db.session.execute(sa.select(User)).scalar_one()
        apps = stored_apps(app, user)
        assert not (user.two_factor_enabled and not apps), "two-step on with no second step"
    page = answer.get_data(as_text=True)
    assert REMOVED in page and WRONG not in page, "the page must say why, not blame the code"


def stored_apps(app, user) -> list:
    key = app.extensions["passwordless"].adapter.key_of(user)
    return app.extensions["passwordless"].authenticators.of_user(key, totp.TYPE)


def test_a_wrong_app_code_says_the_code_is_wrong(app, client, clock):
    make_user(app)
    password_login(client)
    client.get("/auth/account/totp")
    token = csrf_token(client, "/auth/account/totp")
    page = client.post("/auth/account/totp", data={"code": "000000", "csrf_token": token})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and WRONG in text and REMOVED not in text


def test_an_app_added_in_another_tab_meanwhile_is_the_one_kept(app, client, clock, monkeypatch):
    """Tabs A and B of one browser show the setup page; B's code lands after A checked
    there is no app yet and before A saves its own. One app stays (B's, the older),
    and A's page says an app was set up meanwhile, not that the code was wrong."""
    make_user(app)
    password_login(client)
    page = client.get("/auth/account/totp").get_data(as_text=True)
    secret = KEY.search(page).group(1).replace(" ", "")
    data = {"code": app_code(secret, clock), "csrf_token": csrf_token(client, "/auth/account/totp")}
    cookie = client.get_cookie("session").value
    real_enrol = account_totp.totp.enrol

    def other_tab_adds_first(*args, **kwargs):
        monkeypatch.setattr(account_totp.totp, "enrol", real_enrol)
        other = app.test_client()
        other.set_cookie("session", cookie)
        statuses = []
        tab = threading.Thread(
            target=lambda: statuses.append(other.post("/auth/account/totp", data=data).status_code)
        )
        tab.start()
        tab.join(30)
        assert statuses == [200]  # B's app is added: its recovery codes are shown
        return real_enrol(*args, **kwargs)

    monkeypatch.setattr(account_totp.totp, "enrol", other_tab_adds_first)
    answer = client.post("/auth/account/totp", data=data, follow_redirects=True)
    with app.app_context():
        user = db.session.execute(sa.select(User)).scalar_one()
        assert len(stored_apps(app, user)) == 1, "one app per account"
        assert user.two_factor_enabled
    text = answer.get_data(as_text=True)
    assert ALREADY in text and WRONG not in text


def test_a_setup_step_racing_the_owners_does_not_add_a_second_app(make_app, clock, monkeypatch):
    """Two-step is required. Someone holding only the mailbox and the owner (with the
    password) both reach the setup step; the owner's app is saved after the other's
    request found none and before it saves its own. That request is stale: its app
    goes and nobody is signed in by it (a first factor must not pass for two)."""
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False, PASSWORDLESS_TWO_FACTOR_REQUIRED=True)
    make_user(app)
    other, owner = app.test_client(), app.test_client()
    email_sign_in(app, other)
    password_login(owner)
    setup = "/auth/two-factor/setup"
    keys, tokens = {}, {}
    for browser in (other, owner):
        page = browser.get(setup).get_data(as_text=True)
        keys[browser] = KEY.search(page).group(1).replace(" ", "")
        tokens[browser] = csrf_token(browser, setup)
    real_enrol = account_totp.totp.enrol

    def the_owner_adds_first(*args, **kwargs):
        monkeypatch.setattr(account_totp.totp, "enrol", real_enrol)
        data = {"code": app_code(keys[owner], clock), "csrf_token": tokens[owner]}
        tab = threading.Thread(target=lambda: owner.post(setup, data=data))
        tab.start()
        tab.join(30)
        assert signed_in_as(owner) == "alice@example.com"
        return real_enrol(*args, **kwargs)

    monkeypatch.setattr(account_totp.totp, "enrol", the_owner_adds_first)
    data = {"code": app_code(keys[other], clock), "csrf_token": tokens[other]}
    answer = other.post(setup, data=data)
    assert signed_in_as(other) == "nobody", "the stale step signed in with one factor"
    assert answer.headers.get("Location") == "/auth/login"
    with app.app_context():
        user = db.session.execute(sa.select(User)).scalar_one()
        assert len(stored_apps(app, user)) == 1, "one app per account"


def test_retire_all_of_does_not_reach_a_key_that_starts_with_this_key_and_a_space(app):
    """Keys are str(primary key): a host with text keys may have 'ann' and 'ann lee'.
    Retiring 'ann''s secrets must leave 'ann lee''s pending address change alone."""
    secrets = app.extensions["passwordless"].secrets
    with app.test_request_context():
        theirs = secrets.issue("email-change", owned_identifier("ann lee", "new@example.com"))
        secrets.retire_all_of("ann", ["ann@example.com"])
        row = db.session.execute(
            sa.select(secrets.table.c.consumed_at).where(secrets.table.c.id == theirs.id)
        ).scalar_one()
    assert row is None, "another account's pending change was retired"


def test_the_tests_template_cache_keeps_one_apps_filters_from_another(tmp_path):
    """tests/jinja_cache.py must key compiled code on the filters too: Jinja checks
    that a filter exists, picks how to call it, and folds it over constants at
    compile time, so an app without the filter would render another app's result."""
    from flask import Flask, render_template
    from jinja2 import TemplateAssertionError
    from jinja_cache import share_compiled_templates

    (tmp_path / "page.html").write_text('{{ "quiet"|shout }}')
    first = share_compiled_templates(Flask("first", template_folder=str(tmp_path)))
    first.jinja_env.filters["shout"] = str.upper
    with first.test_request_context():
        assert render_template("page.html") == "QUIET"
    second = share_compiled_templates(Flask("second", template_folder=str(tmp_path)))
    with second.test_request_context(), pytest.raises(TemplateAssertionError):
        render_template("page.html")  # no such filter in this app


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_removals_at_once_on_a_repeatable_read_engine(make_app):
    """A host engine at REPEATABLE READ (a common PostgreSQL setting): the snapshot is
    the one of the transaction's first statement (the user loader, or the lock's own
    SELECT, taken before it waits): without a fresh READ COMMITTED transaction,
    ``reread`` after the lock would still see what the others removed meanwhile."""
    import test_removal_races as races

    app = make_app(
        PASSWORDLESS_LIMITER_ENABLED=False,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 12, "isolation_level": "REPEATABLE READ"},
    )
    races.test_every_second_step_removed_at_once_leaves_exactly_one(app)
