"""Authenticator apps, recovery codes, host types, and account changes that need
the account's full strength: through the pages, as a user meets them."""

from __future__ import annotations

import re
from datetime import timezone

import pyotp
import pytest
from factors import PHONE, count, last, make_user, pass_second_factor, password_login, sign_out

from conftest import auth_methods, code_in, csrf_token, request_login, signed_in_as, submit_code
from flask_passwordless import (
    AuthenticatorType,
    Passwordless,
    authenticator_added,
    recovery_code_used,
)
from flask_passwordless.authenticators import recovery

KEY = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')
CODES = re.compile(r"<li><code>([A-Z0-9-]+)</code></li>")


@pytest.fixture
def app(make_app, clock):
    return make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute")


def app_code(secret: str, clock, *, steps_later: int = 0) -> str:
    at = clock.now.replace(tzinfo=timezone.utc).timestamp() + 30 * steps_later
    return pyotp.TOTP(secret).at(at)


def add_app(client, clock) -> tuple[str, list[str]]:
    """Set up an authenticator app through its page; returns its key and the
    recovery codes offered straight after."""
    page = client.get("/auth/account/totp").get_data(as_text=True)
    secret = KEY.search(page).group(1).replace(" ", "")
    data = {"code": app_code(secret, clock), "csrf_token": csrf_token(client, "/auth/account/totp")}
    shown = client.post("/auth/account/totp", data=data).get_data(as_text=True)
    return secret, CODES.findall(shown)


def second_step(client, value, method=None, **extra):
    data = {"code": value, "csrf_token": csrf_token(client, "/auth/two-factor"), **extra}
    if method:
        data["method"] = method
    return client.post("/auth/two-factor", data=data)


def test_an_app_is_added_by_reading_its_key_and_then_signs_in(app, client, clock):
    make_user(app)
    password_login(client)
    added = []
    with authenticator_added.connected_to(lambda s, **kw: added.append(kw["type"]), app):
        secret, codes = add_app(client, clock)
    assert added == ["totp", "recovery"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "is <strong>on</strong>" in client.get("/auth/account/two-factor").get_data(True)
    assert last(app, "email").template == "authenticator_changed"
    sign_out(client)
    response = password_login(client, next_url="/private")
    assert response.headers["Location"] == "/auth/two-factor"
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert "authenticator app" in page and "Recovery code" in page
    clock.advance(seconds=30)
    assert second_step(client, app_code(secret, clock)).headers["Location"] == "/private"
    assert auth_methods(app, client) == ["password", "totp"]


def test_the_code_that_confirmed_the_app_cannot_sign_in(app, client, clock):
    make_user(app)
    password_login(client)
    secret, _ = add_app(client, clock)
    sign_out(client)
    password_login(client)
    page = second_step(client, app_code(secret, clock))
    assert page.status_code == 200 and "not right" in page.get_data(as_text=True)
    assert signed_in_as(client) == "nobody"


def test_an_app_code_works_once(app, client, clock):
    make_user(app)
    password_login(client)
    secret, _ = add_app(client, clock)
    clock.advance(seconds=30)
    code = app_code(secret, clock)
    for browser in (client, app.test_client()):
        sign_out(browser)
        password_login(browser)
    assert second_step(client, code).status_code == 302
    other = app.test_client()
    password_login(other)
    assert "not right" in second_step(other, code).get_data(as_text=True)


def test_a_recovery_code_signs_in_once_and_tells_the_owner(app, client, clock):
    make_user(app)
    password_login(client)
    _, codes = add_app(client, clock)
    sign_out(client)
    password_login(client)
    used = []
    with recovery_code_used.connected_to(lambda s, **kw: used.append(kw["remaining"]), app):
        response = second_step(client, codes[3].lower().replace("-", " "), "recovery")
    assert response.status_code == 302 and signed_in_as(client) == "alice@example.com"
    assert used == [9]
    outbox = app.extensions["passwordless"].outbox
    notice = next(m for m in outbox if m.template == "recovery_code_used")
    assert "9 left" in notice.text
    sign_out(client)
    password_login(client)
    assert "not right" in second_step(client, codes[3], "recovery").get_data(as_text=True)


def test_a_new_set_of_recovery_codes_voids_the_old(app, client, clock):
    make_user(app)
    password_login(client)
    _, old = add_app(client, clock)
    sign_out(client)
    password_login(client)
    second_step(client, old.pop(), "recovery")  # two factors, just now: new codes may be made
    token = csrf_token(client, "/auth/account/recovery-codes")
    page = client.post("/auth/account/recovery-codes", data={"csrf_token": token})
    new = CODES.findall(page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert "text/plain" in page.get_data(as_text=True)  # the download link
    sign_out(client)
    password_login(client)
    assert "not right" in second_step(client, old[0], "recovery").get_data(as_text=True)
    assert second_step(client, new[0], "recovery").status_code == 302


def test_the_pages_say_when_recovery_codes_run_low(app, client, clock):
    make_user(app)
    password_login(client)
    _, codes = add_app(client, clock)
    with app.app_context():
        from apps import User, db

        key = str(db.session.execute(db.select(User.id)).scalar_one())
        store = app.extensions["passwordless"].authenticators
        for code in codes[:8]:
            assert recovery.use(store, key, code, clock.now)
    assert "running out" in client.get("/auth/account/recovery-codes").get_data(True)
    page = client.get("/auth/account/two-factor").get_data(True)
    assert "2 recovery codes left" in page and "Make a new set" in page


def test_a_wrong_app_code_counts_toward_the_lockout(make_app, clock):
    app = make_app(PASSWORDLESS_LOCKOUT_FREE_FAILURES=2)
    make_user(app)
    client = app.test_client()
    password_login(client)
    add_app(client, clock)
    sign_out(client)
    password_login(client)
    for _ in range(3):
        second_step(client, "000000")
    assert second_step(client, "000000").status_code == 429


def test_a_code_typed_for_an_app_removed_since_its_page_was_drawn_is_checked_against_none(
    make_app, clock
):
    """The step's page is drawn from its record, so it may still offer an app removed
    meanwhile; the code typed there is not tried as another method (a recovery
    code), and no failure is counted anywhere."""
    import sqlalchemy as sa

    from apps import db

    app = make_app()
    make_user(app)
    client = app.test_client()
    password_login(client)
    secret, codes = add_app(client, clock)
    assert codes  # offered with the app: the step has another method left
    sign_out(client)
    password_login(client)
    token = csrf_token(client, "/auth/two-factor")  # the app's page, from the record
    models = app.extensions["passwordless"].models
    with app.app_context():  # removed in another browser
        db.session.execute(sa.delete(models.Authenticator).filter_by(type="totp"))
        db.session.commit()
    clock.advance(seconds=30)
    data = {"method": "totp", "code": app_code(secret, clock), "csrf_token": token}
    page = client.post("/auth/two-factor", data=data)
    assert page.status_code == 200
    assert "recovery codes you saved" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(models.Failure)).all() == []
    assert signed_in_as(client) == "nobody"


# -- one factor cannot undo what two protect ----------------------------------


@pytest.fixture
def alice(app):
    return make_user(app, phone=PHONE, two_factor=True)


def sms_sign_in(app, client):
    client.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    return submit_code(client, code_in(last(app, "sms")))


def email_sign_in(app, client):
    request_login(client, "alice@example.com")
    return submit_code(client, code_in(last(app, "email")))


def turn_off(client):
    token = csrf_token(client, "/auth/account/two-factor")
    return client.post("/auth/account/two-factor", data={"enable": "0", "csrf_token": token})


@pytest.mark.parametrize("first_factor", [sms_sign_in, email_sign_in])
def test_one_factor_alone_cannot_turn_two_step_off_change_the_password_or_the_phone(
    app, client, alice, first_factor
):
    first_factor(app, client)
    assert signed_in_as(client) == "alice@example.com"  # sign-in by one factor is allowed
    assert turn_off(client).headers["Location"].startswith("/auth/confirm?next=")
    assert client.get("/auth/account/password").headers["Location"].startswith("/auth/confirm")
    token = csrf_token(client)
    removed = client.post("/auth/account/phone/remove", data={"csrf_token": token})
    assert removed.headers["Location"].startswith("/auth/confirm")
    changed = client.post(
        "/auth/account/password",
        data={
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
            "csrf_token": token,
        },
    )
    assert changed.headers["Location"].startswith("/auth/confirm")
    assert "is <strong>on</strong>" in client.get("/auth/account/two-factor").get_data(True)
    assert password_login(app.test_client()).headers["Location"] == "/auth/two-factor"
    with app.app_context():
        from apps import User, db

        assert db.session.execute(db.select(User.phone_number)).scalar_one() == PHONE


def test_after_confirming_with_another_factor_the_change_goes_through(app, client, alice):
    sms_sign_in(app, client)
    page = client.get("/auth/confirm?next=/auth/account/two-factor").get_data(as_text=True)
    assert "Type your password to continue." in page  # the SMS was proved: one more factor
    token = csrf_token(client, "/auth/confirm?next=/auth/account/two-factor")
    data = {"password": "wrong one", "method": "password", "csrf_token": token}
    assert "not right" in client.post(
        "/auth/confirm?next=/auth/account/two-factor", data=data
    ).get_data(True)
    data["password"] = "correct horse battery staple"
    response = client.post("/auth/confirm?next=/auth/account/two-factor", data=data)
    assert response.headers["Location"] == "/auth/account/two-factor"
    turn_off(client)
    assert "is <strong>off</strong>" in client.get("/auth/account/two-factor").get_data(True)


def test_a_confirmation_by_sms_code_sends_nothing_until_asked(app, client):
    make_user(app, phone=PHONE, two_factor=True)
    email_sign_in(app, client)
    texts = count(app, "sms")
    page = client.get("/auth/confirm?next=/auth/account/password").get_data(as_text=True)
    assert "Send me a code" in page and count(app, "sms") == texts
    token = csrf_token(client, "/auth/confirm")
    client.post(
        "/auth/confirm/send?next=/auth/account/password",
        data={"method": "sms", "csrf_token": token},
    )
    assert count(app, "sms") == texts + 1
    data = {"code": code_in(last(app, "sms")), "method": "sms", "csrf_token": token}
    response = client.post("/auth/confirm?next=/auth/account/password", data=data)
    assert response.headers["Location"] == "/auth/account/password"
    assert client.get("/auth/account/password").status_code == 200


def test_level_two_pages_need_two_different_authenticators(app, client, alice):
    email_sign_in(app, client)
    assert client.get("/vault").status_code == 302
    sign_out(client)
    password_login(client)
    pass_second_factor(app, client)
    assert client.get("/vault").get_data(as_text=True) == "vault of alice@example.com"


def test_changing_an_existing_password_asks_for_it_unless_two_factors_are_recent(app, client):
    make_user(app)
    password_login(client)
    page = client.get("/auth/account/password").get_data(as_text=True)
    assert "Current password" in page
    token = csrf_token(client, "/auth/account/password")
    data = {
        "password": "a brand new passphrase",
        "confirm": "a brand new passphrase",
        "current": "not it",
        "csrf_token": token,
    }
    assert "not your current password" in client.post("/auth/account/password", data=data).get_data(
        True
    )


# -- two-step for everyone, and a host's own type -----------------------------


def test_a_required_two_step_sets_up_an_app_before_the_session_starts(make_app, clock):
    app = make_app(PASSWORDLESS_TWO_FACTOR_REQUIRED=True)
    make_user(app)
    client = app.test_client()
    response = password_login(client, next_url="/private")
    assert response.headers["Location"] == "/auth/two-factor/setup"
    assert signed_in_as(client) == "nobody"
    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    secret = KEY.search(page).group(1).replace(" ", "")
    token = csrf_token(client, "/auth/two-factor/setup")
    shown = client.post(
        "/auth/two-factor/setup", data={"code": app_code(secret, clock), "csrf_token": token}
    )
    assert len(CODES.findall(shown.get_data(as_text=True))) == 10
    assert signed_in_as(client) == "alice@example.com"
    assert "required" in client.get("/auth/account/two-factor").get_data(True)


class PinType(AuthenticatorType):
    """A host's own second factor: a PIN held by a badge reader, say."""

    name = "pin"
    label = "Office PIN"
    prompt = "PIN"
    used: set

    def __init__(self):
        self.used = set()

    def is_second(self):
        return True

    def enrolled(self, user):
        return user.email == "alice@example.com"

    def verify(self, user, value, step):
        if value != "2468" or step.at in self.used:
            return False
        self.used.add(step.at)
        return True


def test_a_host_registered_type_signs_in_end_to_end(app, client):
    Passwordless.register_authenticator(app, PinType())
    make_user(app, two_factor=True)
    password_login(client)
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert "PIN" in page
    assert "not right" in second_step(client, "1111", "pin").get_data(True)
    assert second_step(client, "2468", "pin").status_code == 302
    assert auth_methods(app, client) == ["password", "pin"]
    with pytest.raises(ValueError):
        Passwordless.register_authenticator(app, PinType())


def test_a_remembered_device_does_not_count_as_a_fresh_second_step(app, client, alice):
    password_login(client)
    pass_second_factor(app, client, remember=True)
    sign_out(client)
    assert password_login(client).headers["Location"] == "/"  # the device skipped the step
    assert client.get("/vault").status_code == 200  # a level-2 sign-in...
    assert turn_off(client).headers["Location"].startswith("/auth/confirm")  # ...not fresh


def test_the_app_is_removed_only_when_another_second_step_remains(app, client, clock):
    make_user(app, phone=PHONE)
    password_login(client)
    secret, codes = add_app(client, clock)
    sign_out(client)
    password_login(client)
    clock.advance(seconds=30)
    second_step(client, app_code(secret, clock))
    token = csrf_token(client, "/auth/account/totp")
    removed = []
    from flask_passwordless import authenticator_removed

    with authenticator_removed.connected_to(lambda s, **kw: removed.append(kw["type"]), app):
        with app.app_context():
            from apps import User, db

            db.session.execute(db.update(User).values(phone_number=None, phone_verified_at=None))
            db.session.commit()
        refused = client.post("/auth/account/totp/remove", data={"csrf_token": token})
        assert "only second step" in client.get(refused.headers["Location"]).get_data(True)
        with app.app_context():
            db.session.execute(
                db.update(User).values(phone_number=PHONE, phone_verified_at=clock.now)
            )
            db.session.commit()
        client.post("/auth/account/totp/remove", data={"csrf_token": token})
    assert removed == ["totp"]
    assert last(app, "email").template == "authenticator_changed"
    assert "Add the app" in client.get("/auth/account/totp").get_data(True)


def test_the_mailbox_alone_cannot_confirm_with_a_password_it_reset(app, alice):
    """A reset link sets the password from the mailbox: an email session confirming
    with that password has proved the mailbox twice, not two authenticators."""
    from conftest import CSRF_FIELD

    attacker = app.test_client()  # holds only the mailbox
    attacker.post(
        "/auth/reset", data={"email": "alice@example.com", "csrf_token": csrf_token(attacker)}
    )
    token = re.search(r"token=([A-Za-z0-9_-]+)", last(app, "email").text).group(1)
    page = attacker.get(f"/auth/reset/confirm?token={token}", follow_redirects=True)
    chosen = "an attacker chosen long passphrase"
    attacker.post(
        "/auth/reset/confirm",
        data={
            "password": chosen,
            "confirm": chosen,
            "csrf_token": CSRF_FIELD.search(page.get_data(as_text=True)).group(1),
        },
    )
    email_sign_in(app, attacker)
    confirm = "/auth/confirm?next=/auth/account/two-factor"
    assert "Password" not in [
        m.group(1)
        for m in re.finditer(r'method=\w+[^"]*">([^<]+)</a>', attacker.get(confirm).get_data(True))
    ]
    data = {"method": "password", "password": chosen, "csrf_token": csrf_token(attacker, confirm)}
    assert attacker.post(confirm, data=data).status_code == 200  # not confirmed
    assert turn_off(attacker).headers["Location"].startswith("/auth/confirm")
    assert attacker.get("/vault").status_code == 302
    assert "is <strong>on</strong>" in attacker.get("/auth/account/two-factor").get_data(True)


def test_a_stale_setup_step_cannot_add_a_second_app(make_app, clock):
    """Two-step is required; the owner set up an app after someone holding only the
    mailbox reached the setup step: that step no longer signs anyone in."""
    from conftest import CSRF_FIELD

    app = make_app(PASSWORDLESS_TWO_FACTOR_REQUIRED=True)
    make_user(app)
    attacker, owner = app.test_client(), app.test_client()
    email_sign_in(app, attacker)
    page = attacker.get("/auth/two-factor/setup").get_data(as_text=True)
    attackers_key = KEY.search(page).group(1).replace(" ", "")
    attackers_token = CSRF_FIELD.search(page).group(1)
    password_login(owner)
    page = owner.get("/auth/two-factor/setup").get_data(as_text=True)
    owners_key = KEY.search(page).group(1).replace(" ", "")
    token = csrf_token(owner, "/auth/two-factor/setup")
    owner.post(
        "/auth/two-factor/setup", data={"code": app_code(owners_key, clock), "csrf_token": token}
    )
    assert signed_in_as(owner) == "alice@example.com"
    clock.advance(seconds=60)
    data = {"code": app_code(attackers_key, clock), "csrf_token": attackers_token}
    assert attacker.post("/auth/two-factor/setup", data=data).headers["Location"] == "/auth/login"
    assert signed_in_as(attacker) == "nobody"
    with app.app_context():
        store = app.extensions["passwordless"].authenticators
        from apps import User, db

        key = str(db.session.execute(db.select(User.id)).scalar_one())
        assert len(store.of_user(key, "totp")) == 1
