"""Second steps removed at once, from tabs of one browser: two-step sign-in is never
left on with nothing to pass it.

Each removal (the app, the phone, a passkey) and turning two-step sign-in on decide
on what is stored, one at a time per user (``factor_removal.users_turn``). Without
that, each read the others still there, and all went.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from factors import make_user, pass_second_factor, password_login
from soft_authenticator import SoftAuthenticator
from test_passkeys import ACCOUNT, add_passkey

from apps import User, db
from conftest import csrf_token, race
from flask_passwordless.authenticators import passkey, totp
from flask_passwordless.clock import utcnow

ROUNDS = 6  # accounts raced, one after another: a missing turn shows in nearly every one


@pytest.fixture
def app(make_app):
    return make_app(PASSWORDLESS_LIMITER_ENABLED=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 12})


def account_with_every_second_step(app, n):
    """A two-step account signed in at full strength (password and SMS code), with two
    passkeys and an authenticator app besides the phone; the browser's client."""
    email, phone = f"user{n}@example.com", f"+1415555267{n}"
    user = make_user(app, email, phone=phone, two_factor=True)
    client = app.test_client()
    password_login(client, email)
    assert pass_second_factor(app, client).status_code == 302
    for name in ("One", "Two"):
        assert add_passkey(client, SoftAuthenticator(), name=name).status_code == 302
    with app.app_context():
        key = app.extensions["passwordless"].adapter.key_of(user)
        store = app.extensions["passwordless"].authenticators
        store.add(key, totp.TYPE, totp.data_for(totp.new_secret(), key), now=utcnow())
    return key, client


def post_at_once(app, client, posts):
    """Each ``(path, data)`` posted at the same moment, from its own copy of the
    browser (its session cookie); the status codes."""
    cookie = client.get_cookie("session").value

    def tab():
        copy = app.test_client()
        copy.set_cookie("session", cookie)
        return copy

    tabs = [tab() for _ in posts]
    jobs = [
        lambda t=t, p=path, d=data: t.post(p, data=d).status_code
        for t, (path, data) in zip(tabs, posts, strict=True)
    ]
    return race(jobs)


def rows(app, key, kind):
    with app.app_context():
        return app.extensions["passwordless"].authenticators.of_user(key, kind)


def stored(app, email):
    with app.app_context():
        return db.session.execute(sa.select(User).where(User.email == email)).scalar_one()


def test_every_second_step_removed_at_once_leaves_exactly_one(app):
    left = []
    for n in range(ROUNDS):
        key, client = account_with_every_second_step(app, n)
        token = csrf_token(client, ACCOUNT)
        paths = [f"{ACCOUNT}/{row.id}/remove" for row in rows(app, key, passkey.TYPE)]
        paths += ["/auth/account/totp/remove", "/auth/account/phone/remove"]
        data = {"csrf_token": token, "confirmed": "1"}
        assert post_at_once(app, client, [(path, data) for path in paths]) == [302] * len(paths)
        user = stored(app, f"user{n}@example.com")
        assert user.two_factor_enabled
        kept = len(rows(app, key, passkey.TYPE)) + len(rows(app, key, totp.TYPE))
        left.append(kept + (user.phone_number is not None))
    assert left == [1] * ROUNDS


def test_turning_two_step_on_while_the_last_second_step_goes_leaves_it_usable(app):
    """Two-step is off, so the app may go; turned on meanwhile, it must not end up on
    with no second step."""
    for n in range(ROUNDS):
        key, client = account_with_every_second_step(app, n)
        with app.app_context():
            for row in rows(app, key, passkey.TYPE):
                app.extensions["passwordless"].authenticators.remove(key, row.id)
            db.session.execute(
                sa.update(User)
                .where(User.email == f"user{n}@example.com")
                .values(phone_number=None, phone_verified_at=None, two_factor_enabled=False)
            )
            db.session.commit()
        token = csrf_token(client, "/auth/account/two-factor")
        turn_on = ("/auth/account/two-factor", {"csrf_token": token, "enable": "1"})
        remove_app = ("/auth/account/totp/remove", {"csrf_token": token})
        assert post_at_once(app, client, [turn_on, remove_app]) == [302, 302]
        user = stored(app, f"user{n}@example.com")
        assert not (user.two_factor_enabled and not rows(app, key, totp.TYPE)), n
