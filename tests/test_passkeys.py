"""Passkeys through the server, with a software authenticator: creating one,
signing in, the second step and confirm-it-is-you, and every answer the server
must refuse (bad signature, wrong origin or RP ID, replayed or expired
challenges, counters going backwards, another account's passkey, bad JSON)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from factors import PASSWORD, PHONE, last, make_user, pass_second_factor, password_login, sign_out
from itsdangerous import URLSafeSerializer
from soft_authenticator import SoftAuthenticator, b64

from apps import db
from conftest import (
    auth_methods,
    code_in,
    csrf_token,
    race,
    request_login,
    signed_in_as,
    submit_code,
)
from flask_passwordless import authenticator_added, authenticator_removed
from flask_passwordless.authenticators import passkey
from flask_passwordless.signals import passkey_cloned

ACCOUNT = "/auth/account/passkeys"


@pytest.fixture
def app(make_app, clock):
    return make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute")


@pytest.fixture
def soft():
    return SoftAuthenticator()


def email_sign_in(app, client, email="alice@example.com"):
    request_login(client, email)
    return submit_code(client, code_in(last(app, "email")))


def full_strength_sign_in(app, client, email="alice@example.com", *, two_step=False):
    """Signed in with all the account has: email alone, or password and SMS code."""
    if not two_step:
        return email_sign_in(app, client, email)
    password_login(client, email)
    return pass_second_factor(app, client)


def creation_options(client):
    token = csrf_token(client, ACCOUNT)
    return client.post(f"{ACCOUNT}/options", data={"csrf_token": token}).get_json(), token


def add_passkey(client, soft, name="Laptop", **tweaks):
    options, token = creation_options(client)
    credential = soft.create(options, **tweaks)
    data = {"csrf_token": token, "credential": credential, "name": name}
    return client.post(ACCOUNT, data=data)


def login_options(client):
    token = csrf_token(client)
    response = client.post("/auth/login/passkey/options", data={"csrf_token": token})
    return response.get_json(), token


def passkey_login(client, soft, **tweaks):
    options, token = login_options(client)
    credential = soft.get(options, **tweaks)
    return client.post("/auth/login/passkey", data={"csrf_token": token, "credential": credential})


def with_passkey(app, client, soft, email="alice@example.com", **user):
    """A user who made a passkey, then signed out (a fresh browser for the test)."""
    make_user(app, email, **user)
    full_strength_sign_in(app, client, email, two_step=user.get("two_factor", False))
    assert add_passkey(client, soft).status_code == 302
    return app.test_client()


def flashed(response) -> str:
    return response.get_data(as_text=True)


# -- creating one ------------------------------------------------------------------


def test_a_passkey_is_created_listed_and_its_owner_told(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    added = []
    with authenticator_added.connected_to(lambda s, **kw: added.append(kw["type"]), app):
        created = add_passkey(client, soft, name="Work laptop")
    assert created.headers["Location"] == ACCOUNT
    assert added == ["passkey"]
    assert "Just added to your Test App account: a passkey." in last(app, "email").text
    page = client.get(ACCOUNT).get_data(as_text=True)
    assert "Work laptop" in page and "synced" in page


def test_creation_options_ask_for_a_discoverable_passkey_and_exclude_the_users_own(
    app, client, soft
):
    make_user(app)
    email_sign_in(app, client)
    first, _ = creation_options(client)
    assert first["authenticatorSelection"]["residentKey"] == "required"
    assert first["authenticatorSelection"]["userVerification"] == "preferred"
    assert first["attestation"] == "none"
    assert first["rp"] == {"id": "app.example.com", "name": "Test App"}
    assert first["excludeCredentials"] == []
    add_passkey(client, soft)
    second, _ = creation_options(client)
    assert [c["id"] for c in second["excludeCredentials"]] == [b64(next(iter(soft.credentials)))]
    # The user handle is random and stable: not the email, not the auth_id.
    assert second["user"]["id"] == first["user"]["id"]
    with app.app_context():
        from apps import User

        account = db.session.get(User, 1)
        assert second["user"]["id"] not in (b64(account.email.encode()), account.auth_id)
        assert len(second["user"]["id"]) >= 64


def test_a_passkey_made_for_another_origin_is_not_saved(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    refused = add_passkey(client, soft, origin="https://evil.example.net")
    assert refused.status_code == 200
    assert "could not be checked" in flashed(refused)
    assert client.get(ACCOUNT).get_data(as_text=True).count("Rename") == 0


def test_a_passkey_for_another_rp_id_is_not_saved(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    refused = add_passkey(client, soft, rp_id="example.org")
    assert "could not be checked" in flashed(refused)


def test_adding_a_passkey_needs_the_accounts_full_strength(app, client, soft):
    make_user(app, phone=PHONE, two_factor=True)
    email_sign_in(app, client)  # one factor of a two-step account
    token = csrf_token(client)
    asked = client.post(f"{ACCOUNT}/options", data={"csrf_token": token})
    assert asked.status_code == 302 and "/auth/confirm" in asked.headers["Location"]


# -- signing in ----------------------------------------------------------------------


def test_a_user_verified_passkey_signs_in_at_level_two_without_an_address(app, client, soft):
    browser = with_passkey(app, client, soft, phone=PHONE, two_factor=True)
    options, _ = login_options(browser)
    assert options["allowCredentials"] == [] and "user" not in options
    signed = passkey_login(browser, soft)
    assert signed.status_code == 302 and "two-factor" not in signed.headers["Location"]
    assert signed_in_as(browser) == "alice@example.com"
    assert auth_methods(app, browser) == ["passkey", "user-verified"]
    assert browser.get("/vault").status_code == 200


def test_a_passkey_without_user_verification_asks_for_the_second_step(app, client):
    soft = SoftAuthenticator(user_verified=False)
    browser = with_passkey(app, client, soft, phone=PHONE, two_factor=True)
    started = passkey_login(browser, soft)
    assert started.headers["Location"] == "/auth/two-factor"
    assert signed_in_as(browser) == "nobody"


def test_without_two_step_an_unverified_passkey_signs_in_at_level_one(app, client):
    soft = SoftAuthenticator(user_verified=False)
    browser = with_passkey(app, client, soft)
    assert passkey_login(browser, soft).status_code == 302
    assert auth_methods(app, browser) == ["passkey"]
    assert browser.get("/vault").status_code == 302


def test_a_bad_signature_is_refused(app, client, soft):
    browser = with_passkey(app, client, soft)
    refused = passkey_login(browser, soft, bad_signature=True)
    assert refused.status_code == 400 and "could not be checked" in flashed(refused)
    assert signed_in_as(browser) == "nobody"


def test_a_wrong_origin_is_refused(app, client, soft):
    browser = with_passkey(app, client, soft)
    refused = passkey_login(browser, soft, origin="https://app.example.com.evil.net")
    assert refused.status_code == 400 and signed_in_as(browser) == "nobody"


def test_an_extra_allowed_origin_is_accepted(make_app, clock):
    app = make_app(PASSWORDLESS_WEBAUTHN_ORIGINS=["https://login.example.com"])
    soft, client = SoftAuthenticator(), app.test_client()
    browser = with_passkey(app, client, soft)
    assert passkey_login(browser, soft, origin="https://login.example.com").status_code == 302


def test_an_answer_naming_another_user_handle_is_refused(app, client, soft):
    browser = with_passkey(app, client, soft)
    refused = passkey_login(browser, soft, user_handle=bytes(64))
    assert refused.status_code == 400 and signed_in_as(browser) == "nobody"


def test_a_wrong_rp_id_hash_is_refused(app, client, soft):
    browser = with_passkey(app, client, soft)
    refused = passkey_login(browser, soft, rp_id="example.com")
    assert refused.status_code == 400 and signed_in_as(browser) == "nobody"


def test_a_challenge_is_used_once(app, client, soft):
    browser = with_passkey(app, client, soft)
    options, token = login_options(browser)
    kept = browser.get_cookie(passkey.CHALLENGES).value  # a copy, before the sign-in
    answer = soft.get(options)
    data = {"csrf_token": token, "credential": answer}
    assert browser.post("/auth/login/passkey", data=data).status_code == 302
    replay = app.test_client()
    token = csrf_token(replay)
    replay.set_cookie(passkey.CHALLENGES, kept)
    replayed = replay.post("/auth/login/passkey", data={"csrf_token": token, "credential": answer})
    assert replayed.status_code == 400 and "took too long or was already used" in flashed(replayed)
    assert signed_in_as(replay) == "nobody"


def test_asking_for_options_leaves_the_session_cookie_alone(app, client, soft):
    """The sign-in page, the second step and confirm-it-is-you ask for options in the
    background while their form may be posted: an answer that set Flask's session
    cookie would undo the form's change (the browser keeps the later cookie), as the
    pending code of an email just sent, or the second step's progress."""
    make_user(app, phone=PHONE, two_factor=True)
    full_strength_sign_in(app, client, two_step=True)
    assert add_passkey(client, soft).status_code == 302
    signing_in, second_step, confirming = (app.test_client() for _ in range(3))
    assert password_login(second_step).headers["Location"] == "/auth/two-factor"
    email_sign_in(app, confirming)  # one factor of two: the confirm page asks for more
    asked = (
        (signing_in, "/auth/login", "/auth/login/passkey/options"),
        (second_step, "/auth/two-factor?method=passkey", "/auth/two-factor/passkey/options"),
        (confirming, "/auth/confirm?method=passkey", "/auth/two-factor/passkey/options"),
    )
    for browser, page, path in asked:
        answered = browser.post(path, data={"csrf_token": csrf_token(browser, page)})
        assert answered.status_code == 200, page
        cookies = answered.headers.getlist("Set-Cookie")
        session_cookie = app.config["SESSION_COOKIE_NAME"] + "="
        assert not [c for c in cookies if c.startswith(session_cookie)], page
        assert [c for c in cookies if c.startswith(passkey.CHALLENGES + "=")], page


def test_a_secure_app_keeps_challenges_in_a_host_prefixed_secure_cookie(make_app, soft):
    app = make_app(SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # the session cookie is Secure
    browser = with_passkey(app, client, soft)
    browser.environ_base["wsgi.url_scheme"] = "https"
    token = csrf_token(browser)
    answered = browser.post("/auth/login/passkey/options", data={"csrf_token": token})
    header = next(h for h in answered.headers.getlist("Set-Cookie") if passkey.CHALLENGES in h)
    assert header.startswith(f"__Host-{passkey.CHALLENGES}=") and "Secure" in header
    assert "Path=/;" in header and "Domain" not in header
    data = {"csrf_token": token, "credential": soft.get(answered.get_json())}
    assert browser.post("/auth/login/passkey", data=data).status_code == 302


def test_a_challenge_cookie_signed_with_another_key_is_refused(app, client, soft):
    browser = with_passkey(app, client, soft)
    options, token = login_options(browser)
    forged = URLSafeSerializer("another key", salt="flask-passwordless passkey challenges")
    browser.set_cookie(passkey.CHALLENGES, forged.dumps({passkey.LOGIN: 1}))
    data = {"csrf_token": token, "credential": soft.get(options)}
    refused = browser.post("/auth/login/passkey", data=data)
    assert refused.status_code == 400 and signed_in_as(browser) == "nobody"


def test_a_challenge_expires_after_five_minutes(app, client, soft, clock):
    browser = with_passkey(app, client, soft)
    options, token = login_options(browser)
    clock.advance(seconds=301)
    data = {"csrf_token": token, "credential": soft.get(options)}
    refused = browser.post("/auth/login/passkey", data=data)
    assert refused.status_code == 400 and signed_in_as(browser) == "nobody"


def test_a_challenge_works_only_in_the_browser_it_was_given_to(app, client, soft):
    browser = with_passkey(app, client, soft)
    options, _ = login_options(browser)
    other = app.test_client()
    login_options(other)  # the other browser has a challenge of its own
    token = csrf_token(other)
    data = {"csrf_token": token, "credential": soft.get(options)}
    refused = other.post("/auth/login/passkey", data=data)
    assert refused.status_code == 400 and signed_in_as(other) == "nobody"


def test_a_counter_going_backwards_is_refused_and_signalled(app, client, soft):
    browser = with_passkey(app, client, soft)
    assert passkey_login(browser, soft, counter=7).status_code == 302
    sign_out(browser)
    clones = []
    with passkey_cloned.connected_to(lambda s, **kw: clones.append(kw["counter"]), app):
        refused = passkey_login(browser, soft, counter=5)
        same = passkey_login(browser, soft, counter=7)
    assert refused.status_code == 400 and "counter went backwards" in flashed(refused)
    assert same.status_code == 400
    assert clones == [5, 7]
    assert passkey_login(browser, soft, counter=8).status_code == 302


def test_an_authenticator_that_never_counts_signs_in_again_and_again(app, client):
    soft = SoftAuthenticator(counting=False)
    browser = with_passkey(app, client, soft)
    for _ in range(3):
        assert passkey_login(browser, soft).status_code == 302
        sign_out(browser)


def test_a_removed_passkey_says_so(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    add_passkey(client, soft)
    removed = []
    with authenticator_removed.connected_to(lambda s, **kw: removed.append(kw["type"]), app):
        page = client.get(ACCOUNT).get_data(as_text=True)
        path = page.split('action="/auth/account/passkeys/')[2].split('"')[0]
        token = csrf_token(client, ACCOUNT)
        client.post(f"{ACCOUNT}/{path}", data={"csrf_token": token})
    assert removed == ["passkey"]
    browser = app.test_client()
    refused = passkey_login(browser, soft)
    assert refused.status_code == 400 and "removed from your account" in flashed(refused)


def test_removing_a_passkey_ends_the_other_sessions(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    add_passkey(client, soft)
    other = app.test_client()
    passkey_login(other, soft)
    assert signed_in_as(other) == "alice@example.com"
    with app.app_context():
        row_id = passkey.state().authenticators.of_user("1", passkey.TYPE)[0].id
    client.post(f"{ACCOUNT}/{row_id}/remove", data={"csrf_token": csrf_token(client, ACCOUNT)})
    assert signed_in_as(other) == "nobody"
    assert signed_in_as(client) == "alice@example.com"


def test_a_passkey_is_renamed_only_by_its_owner(app, client, soft):
    make_user(app)
    make_user(app, "bob@example.com")
    email_sign_in(app, client)
    add_passkey(client, soft)
    with app.app_context():
        row_id = passkey.state().authenticators.of_user("1", passkey.TYPE)[0].id
    token = csrf_token(client, ACCOUNT)
    client.post(f"{ACCOUNT}/{row_id}/rename", data={"csrf_token": token, "name": "Phone"})
    assert ">Phone</strong>" in client.get(ACCOUNT).get_data(as_text=True)
    bob = app.test_client()
    email_sign_in(app, bob, "bob@example.com")
    token = csrf_token(bob, ACCOUNT)
    bob.post(f"{ACCOUNT}/{row_id}/rename", data={"csrf_token": token, "name": "Mine"})
    bob.post(f"{ACCOUNT}/{row_id}/remove", data={"csrf_token": token})
    assert ">Phone</strong>" in client.get(ACCOUNT).get_data(as_text=True)


def test_a_name_with_control_characters_is_saved_without_them(app, client, soft):
    """PostgreSQL refuses NUL in text: a name typed with one was a 500, on adding
    (after the challenge was used) and on renaming."""
    make_user(app)
    email_sign_in(app, client)
    added = add_passkey(client, soft, name="Lap\x00top\u202e")
    assert added.status_code == 302
    with app.app_context():
        row_id = passkey.state().authenticators.of_user("1", passkey.TYPE)[0].id
    assert ">Laptop</strong>" in client.get(ACCOUNT).get_data(as_text=True)
    token = csrf_token(client, ACCOUNT)
    data = {"csrf_token": token, "name": "Pho\x00né"}
    assert client.post(f"{ACCOUNT}/{row_id}/rename", data=data).status_code == 302
    assert ">Phoné</strong>" in client.get(ACCOUNT).get_data(as_text=True)


def test_an_id_past_the_columns_range_finds_nothing(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    add_passkey(client, soft)
    token = csrf_token(client, ACCOUNT)
    for action in ("rename", "remove"):
        url = f"{ACCOUNT}/{2**63}/{action}"
        response = client.post(url, data={"csrf_token": token, "name": "Mine"})
        assert response.status_code == 302
    assert client.get(ACCOUNT).get_data(as_text=True).count("Rename</button>") == 1


def test_wrong_answers_for_one_passkey_lead_to_the_lockout(make_app, clock):
    app = make_app(PASSWORDLESS_LOCKOUT_FREE_FAILURES=2)
    soft, client = SoftAuthenticator(), app.test_client()
    browser = with_passkey(app, client, soft)
    statuses = [passkey_login(browser, soft, bad_signature=True).status_code for _ in range(4)]
    assert statuses[:2] == [400, 400] and statuses[-1] == 429
    assert passkey_login(browser, soft).status_code == 429  # even the right one waits
    clock.advance(seconds=10)
    assert passkey_login(browser, soft).status_code == 302


def test_a_passkey_is_found_by_an_indexed_lookup(app):
    with app.app_context():
        table = passkey.state().models.Authenticator.__table__
        lookup_indexes = [ix for ix in table.indexes if list(ix.columns.keys()) == ["lookup"]]
        assert lookup_indexes and lookup_indexes[0].unique


# -- the second step and confirm-it-is-you -----------------------------------------


def step_answer(client, soft, path="/auth/two-factor"):
    token = csrf_token(client, path + "?method=passkey")
    options = client.post("/auth/two-factor/passkey/options", data={"csrf_token": token}).get_json()
    data = {"csrf_token": token, "method": "passkey", "credential": soft.get(options)}
    return options, client.post(path, data=data)


def test_a_passkey_passes_the_second_step_after_a_password(app, client, soft):
    make_user(app, phone=PHONE, two_factor=True)
    full_strength_sign_in(app, client, two_step=True)
    add_passkey(client, soft)
    browser = app.test_client()
    assert password_login(browser).headers["Location"] == "/auth/two-factor"
    options, passed = step_answer(browser, soft)
    assert [c["id"] for c in options["allowCredentials"]] == [b64(next(iter(soft.credentials)))]
    assert passed.status_code == 302
    assert auth_methods(app, browser) == ["password", "passkey", "user-verified"]


def test_a_passkey_of_another_account_never_passes_this_ones_second_step(app, client):
    alices, bobs = SoftAuthenticator(), SoftAuthenticator()
    make_user(app, phone=PHONE, two_factor=True)
    full_strength_sign_in(app, client, two_step=True)
    add_passkey(client, alices)
    bob = app.test_client()
    make_user(app, "bob@example.com")
    email_sign_in(app, bob, "bob@example.com")
    add_passkey(bob, bobs)
    browser = app.test_client()
    password_login(browser)  # Alice's password; the attacker holds Bob's passkey
    _, refused = step_answer(browser, bobs)
    assert refused.status_code == 200 and "belongs to another account" in flashed(refused)
    assert signed_in_as(browser) == "nobody"


def test_a_passkey_of_another_account_never_confirms_this_one(app, client):
    alices, bobs = SoftAuthenticator(), SoftAuthenticator()
    make_user(app, phone=PHONE, two_factor=True)
    full_strength_sign_in(app, client, two_step=True)
    add_passkey(client, alices)
    bob = app.test_client()
    make_user(app, "bob@example.com")
    email_sign_in(app, bob, "bob@example.com")
    add_passkey(bob, bobs)
    # Alice signed in by email (one factor): the confirm page asks for one more.
    browser = app.test_client()
    email_sign_in(app, browser)
    _, refused = step_answer(browser, bobs, "/auth/confirm")
    assert "belongs to another account" in flashed(refused)
    _, confirmed = step_answer(browser, alices, "/auth/confirm")
    assert confirmed.status_code == 302
    assert {"email", "passkey", "user-verified"} <= set(auth_methods(app, browser))


def test_step_options_need_a_step(app, client):
    token = csrf_token(client)
    assert (
        client.post("/auth/two-factor/passkey/options", data={"csrf_token": token}).status_code
        == 409
    )


# -- malformed answers ---------------------------------------------------------------

SHAPES = [
    "",
    "null",
    "[]",
    "{}",
    "42",
    '"text"',
    "not json",
    "\x00",
    '{"id": 1}',
    '{"id": "x", "rawId": "x", "response": {}}',
    '{"id": "x", "rawId": "x", "type": "public-key", "response": {"clientDataJSON": 5}}',
    '{"id": "x", "rawId": "!!", "type": "public-key", "response": {"clientDataJSON": "e30",'
    ' "authenticatorData": "AAAA", "signature": "AAAA", "attestationObject": "oA"}}',
    '{"id": "x", "rawId": "x", "type": "nope", "response": {"clientDataJSON": "e30"}}',
    json.dumps({"id": "x", "rawId": "x", "type": "public-key", "response": []}),
    "{" * 5000,
    "[" * 5000,
    '{"a": ' * 2000 + "1" + "}" * 2000,
    json.dumps(
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(b"[" * 5000),
                "authenticatorData": "AAAA",
                "signature": "AAAA",
                "attestationObject": "oA",
            },
        }
    ),
    "x" * 20_000,
]


@pytest.mark.parametrize("shape", SHAPES)
def test_malformed_answers_get_a_4xx_never_a_500(app, client, soft, shape):
    make_user(app)
    email_sign_in(app, client)
    add_passkey(client, soft)
    options, token = creation_options(client)
    created = client.post(ACCOUNT, data={"csrf_token": token, "credential": shape})
    assert created.status_code < 500
    assert client.get(ACCOUNT).get_data(as_text=True).count("Rename</button>") == 1
    browser = app.test_client()
    login_options(browser)
    token = csrf_token(browser)
    answered = browser.post("/auth/login/passkey", data={"csrf_token": token, "credential": shape})
    assert 400 <= answered.status_code < 500
    assert signed_in_as(browser) == "nobody"


def test_a_tampered_attestation_object_is_refused(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    options, token = creation_options(client)
    credential = json.loads(soft.create(options))
    credential["response"]["attestationObject"] = b64(b"\xa1\x63fmt\x64none")
    data = {"csrf_token": token, "credential": json.dumps(credential)}
    assert client.post(ACCOUNT, data=data).status_code == 200
    with app.app_context():
        table = passkey.state().models.Authenticator.__table__
        rows = db.session.execute(sa.select(table).where(table.c.type == "passkey")).all()
        assert rows == []


# -- races -------------------------------------------------------------------------


def test_one_answer_sent_many_times_at_once_signs_in_once(racing_app):
    app, soft = racing_app, SoftAuthenticator()
    browser = with_passkey(app, app.test_client(), soft)
    options, token = login_options(browser)
    answer = soft.get(options)
    cookies = {name: browser.get_cookie(name).value for name in ("session", passkey.CHALLENGES)}
    copies = []
    for _ in range(8):  # the same browser's cookies, eight times
        copy = app.test_client()
        for name, value in cookies.items():
            copy.set_cookie(name, value)
        copies.append(copy)
    data = {"csrf_token": token, "credential": answer}
    statuses = race(
        [lambda c=c: c.post("/auth/login/passkey", data=data).status_code for c in copies]
    )
    assert sorted(statuses) == [302] + [400] * 7


def test_passkeys_removed_at_once_never_leave_two_step_without_a_second_step(racing_app):
    """Each removal read "another passkey remains" before any of them deleted: all
    went, and a two-step account had no second step left."""
    app = racing_app
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    full_strength_sign_in(app, client, two_step=True)
    for name in ("One", "Two", "Three", "Four"):
        assert add_passkey(client, SoftAuthenticator(), name=name).status_code == 302
    with app.app_context():
        db.session.execute(sa.text("UPDATE users SET phone_number = NULL"))
        db.session.commit()
        ids = [row.id for row in passkey.state().authenticators.of_user("1", passkey.TYPE)]
    token, cookie = csrf_token(client, ACCOUNT), client.get_cookie("session").value
    copies = []
    for _ in ids:
        copy = app.test_client()
        copy.set_cookie("session", cookie)
        copies.append(copy)
    race(
        [
            lambda c=c, i=i: c.post(f"{ACCOUNT}/{i}/remove", data={"csrf_token": token})
            for c, i in zip(copies, ids, strict=True)
        ]
    )
    with app.app_context():
        assert len(passkey.state().authenticators.of_user("1", passkey.TYPE)) == 1


def test_the_account_page_counts_the_passkeys(app, client, soft):
    make_user(app)
    email_sign_in(app, client)
    page = " ".join(client.get("/auth/account").get_data(as_text=True).split())
    assert '<dt><a href="/auth/account/passkeys">Passkey</a></dt> <dd>Not set up</dd>' in page
    add_passkey(client, soft, name="Laptop")
    add_passkey(client, SoftAuthenticator(), name="Phone")
    page = " ".join(client.get("/auth/account").get_data(as_text=True).split())
    assert '<dt><a href="/auth/account/passkeys">Passkey</a></dt> <dd>2 passkeys</dd>' in page


@pytest.mark.parametrize("password", [PASSWORD, None])
def test_the_owners_notice_advises_a_new_password_only_to_who_has_one(app, client, soft, password):
    make_user(app, password=password)
    email_sign_in(app, client)
    add_passkey(client, soft)
    notice = last(app, "email")
    assert "sign out everywhere" in notice.text
    assert ("change your password" in notice.text) == (password is not None)
    assert ("change your password" in notice.html) == (password is not None)
