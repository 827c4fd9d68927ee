"""What the pages and messages say, read as a newcomer reads them."""

from __future__ import annotations

import re

import pytest
from factors import last, make_user, password_login
from test_reset import ask_reset, reset_token, set_password
from test_sms import ALICE_PHONE, alice, ask_sms  # noqa: F401 (alice is a fixture)

from conftest import code_in, csrf_token, request_login, submit_code
from flask_passwordless.wording import duration


def words(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" .", ".")


def test_the_sms_code_page_starts_a_sentence_with_a_capital(app, client, alice):  # noqa: F811
    ask_sms(client, ALICE_PHONE)
    text = words(client.get("/auth/login/code").get_data(as_text=True))
    assert "No text after a minute? Ask for a new code." in text


def test_the_email_code_page_still_reads_as_one_sentence(app, client, user):
    request_login(client, "alice@example.com")
    text = words(client.get("/auth/login/code").get_data(as_text=True))
    assert "No message after a minute? Check your spam folder, or ask for a new code." in text


def test_a_used_reset_link_offers_a_new_reset_link(app, client):
    make_user(app)
    ask_reset(client)
    token = reset_token(app)
    set_password(client, token)
    html = client.get(f"/auth/reset/confirm?token={token}", follow_redirects=True).get_data(
        as_text=True
    )
    assert "This link or code no longer works" in html
    assert '<a href="/auth/reset">Ask for a new reset link</a>' in html
    assert "Ask for a new sign-in link" not in html


def test_a_dead_sign_in_link_still_offers_a_new_sign_in_link(client):
    html = client.get("/auth/login/link?token=nope", follow_redirects=True).get_data(as_text=True)
    assert '<a href="/auth/login">Ask for a new sign-in link</a>' in html


def test_an_unknown_address_asking_for_a_reset_is_told_about_a_reset(app, client):
    ask_reset(client, "nobody@example.com")
    message = last(app, "email")
    assert message.template == "unknown_account"
    assert message.subject == "Password reset request at Test App"
    assert "asked to reset the password for Test App" in " ".join(message.text.split())
    assert "Password reset request" in message.html


def test_an_unknown_address_asking_to_sign_in_is_told_about_a_sign_in(app, client):
    request_login(client, "nobody@example.com")
    message = last(app, "email")
    assert message.subject == "Sign-in attempt at Test App"
    assert "reset" not in message.text


@pytest.mark.parametrize(
    ("path", "off"),
    [
        ("/auth/login/sms", {"PASSWORDLESS_SMS_ENABLED": False}),
        ("/auth/login/password", {"PASSWORDLESS_PASSWORD_LOGIN": False}),
        ("/auth/reset", {"PASSWORDLESS_PASSWORD_LOGIN": False}),
    ],
)
def test_a_feature_that_is_off_answers_our_own_404_page(make_app, path, off):
    response = make_app(**off).test_client().get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found · Test App" in html  # our page, in the app's layout
    assert "passwordless.css" in html
    assert "The requested URL was not found on the server" not in html  # Werkzeug's


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (30, "30 seconds"), (60, "1 minute"), (90, "1 minute"), (600, "10 minutes")]
    + [(3600, "1 hour"), (5400, "90 minutes"), (7200, "2 hours")],
)
def test_a_lifetime_is_said_with_its_unit_and_plural(seconds, words):
    assert duration(seconds) == words


@pytest.mark.parametrize(("max_age", "said"), [(30, "30 seconds"), (60, "1 minute")])
def test_a_short_lived_code_never_says_0_minutes(make_app, max_age, said):
    app = make_app(PASSWORDLESS_TOKEN_MAX_AGE=max_age)
    make_user(app)
    request_login(app.test_client(), "alice@example.com")
    message = last(app, "email")
    for part in (" ".join(message.text.split()), " ".join(message.html.split())):
        assert f"The link and the code work once, for {said}." in part


def test_the_reset_page_and_email_say_how_long_the_link_lives(app, client):
    make_user(app)
    ask_reset(client)
    page = words(client.get("/auth/reset/sent").get_data(as_text=True))
    assert "The link works once, for 1 hour." in page
    assert "It works once, for 1 hour." in " ".join(last(app, "email").text.split())


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("alice@example.com.", "check it for typos."),
        ("alice@example.com>", "check it for typos."),
        ("alice example.com", "it cannot contain spaces."),
        ("alice", "it needs an @, as in name@example.com."),
        ("a@b@example.com", "it can have only one @."),
        ("@example.com", "add the part before the @."),
        ("alice@", "add the part after the @, as in name@example.com."),
        ("alice@localhost", "the part after the @ needs a dot, as in example.com."),
    ],
)
def test_a_bad_address_is_explained_in_our_words(client, typed, said):
    html = client.post(
        "/auth/login", data={"email": typed, "csrf_token": csrf_token(client)}
    ).get_data(as_text=True)
    assert f"That email address is not valid: {said}" in words(html)
    for theirs in ("There can't be", "The email address", "must have", "An email address"):
        assert theirs not in html


def test_asking_for_a_reset_redirects_so_a_reload_sends_nothing(app, client):
    make_user(app)
    sent = ask_reset(client)
    assert sent.status_code == 302 and sent.headers["Location"] == "/auth/reset/sent"
    outbox = app.extensions["passwordless"].outbox
    for _ in range(2):  # reloading the page after the redirect is a GET: nothing is sent
        page = client.get("/auth/reset/sent")
        assert "If alice@example.com belongs to an account" in words(page.get_data(as_text=True))
    assert [m.template for m in outbox] == ["reset"]


def test_the_reset_sent_page_without_a_request_goes_back_to_the_form(client):
    assert client.get("/auth/reset/sent").headers["Location"] == "/auth/reset"


def test_a_code_from_a_replaced_email_says_a_newer_one_replaced_it(app, client, user):
    outbox = app.extensions["passwordless"].outbox
    request_login(client, "alice@example.com")
    first = code_in(outbox[-1])
    request_login(client, "alice@example.com")  # "ask for a new code": the first one dies
    newest = code_in(outbox[-1])
    if first == newest:
        pytest.skip("the two random codes happen to be equal")
    said = words(submit_code(client, first).get_data(as_text=True))
    assert "That code is from an earlier message: a newer one replaced it." in said
    assert "tries left" not in said
    typo = str((int(newest) + 1) % 10**6).zfill(6)  # neither code: a plain wrong one
    if typo != first:
        assert "That code is not right." in words(submit_code(client, typo).get_data(as_text=True))
    assert submit_code(client, newest).status_code == 302  # the newest still signs in


def test_a_replaced_code_from_another_address_is_just_wrong(app, client, user):
    make_user(app, "bob@example.com")
    outbox = app.extensions["passwordless"].outbox
    request_login(client, "bob@example.com")
    bobs = code_in(outbox[-1])
    request_login(client, "alice@example.com")
    said = words(submit_code(client, bobs).get_data(as_text=True))
    if bobs != code_in(outbox[-1]):
        assert "That code is not right." in said and "replaced" not in said


def test_a_first_password_was_set_and_a_second_one_changed(app, client):
    make_user(app, password=None)
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))

    def save(password, current=""):
        token = csrf_token(client, "/auth/account/password")
        data = {"password": password, "confirm": password, "csrf_token": token}
        data["current"] = current
        response = client.post("/auth/account/password", data=data)
        return words(client.get(response.headers["Location"]).get_data(as_text=True))

    assert "Your password was set." in save("a first horse, a first staple")
    changed = save("a second horse, a new staple", current="a first horse, a first staple")
    assert "Your password was changed." in changed


@pytest.mark.parametrize(("password", "told"), [(None, False), ("a horse, a staple", True)])
def test_the_new_device_email_says_change_your_password_only_to_who_has_one(
    app,
    client,
    alice,  # noqa: F811
    password,
    told,  # noqa: F811
):
    if password:
        set_password_of(app, password)
    ask_sms(client, ALICE_PHONE)
    submit_code(client, code_in(last(app, "sms")))
    message = last(app, "email")
    assert message.template == "new_device"
    for part in (" ".join(message.text.split()), words(message.html)):
        assert "sign out everywhere" in part
        assert ("change your password" in part) is told


def set_password_of(app, password):
    from apps import User, db
    from flask_passwordless.passwords import hash_password

    with app.app_context():
        user = User.query.filter_by(email="alice@example.com").one()
        user.password_hash = hash_password(password)
        db.session.commit()


def test_turning_two_step_on_says_so_once(make_app):
    app = make_app(PASSWORDLESS_PASSWORD_LOGIN=True)
    make_user(app, phone=ALICE_PHONE)
    client = app.test_client()
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))
    token = csrf_token(client, "/auth/account/two-factor")
    page = client.post(
        "/auth/account/two-factor",
        data={"enable": "1", "csrf_token": token},
        follow_redirects=True,
    )
    assert words(page.get_data(as_text=True)).count("Two-step sign-in is on") == 1


def test_confirm_it_is_you_shows_the_signed_in_address_for_the_password(make_app, clock):
    app = make_app(PASSWORDLESS_PASSWORD_LOGIN=True)
    make_user(app)
    client = app.test_client()
    password_login(client)
    clock.advance(seconds=app.config["PASSWORDLESS_REAUTH_WITHIN"] + 1)
    page = client.get("/auth/confirm?method=password").get_data(as_text=True)
    field = re.search(r'<input type="email" id="pl-account-email"[^>]*>', page)
    assert field and 'value="alice@example.com"' in field.group(0)
    assert 'autocomplete="username"' in field.group(0) and "readonly" in field.group(0)


@pytest.mark.parametrize(
    ("steps", "said"),
    [
        ([1801], "You were signed out after a time without activity."),
        ([1700] * 17, "You were signed out: you had been signed in for a long time."),
    ],
)
def test_a_timed_out_session_says_so_once(make_app, clock, steps, said):
    app = make_app(PASSWORDLESS_SESSION_IDLE_TIMEOUT=1800, PASSWORDLESS_SESSION_MAX_AGE=8 * 3600)
    make_user(app)
    client = app.test_client()
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))
    for seconds in steps[:-1]:  # active all along, while the max age runs out
        clock.advance(seconds=seconds)
        assert client.get("/private").status_code == 200
    clock.advance(seconds=steps[-1])
    bounced = client.get("/private")
    assert bounced.status_code == 302
    assert words(client.get(bounced.headers["Location"]).get_data(as_text=True)).count(said) == 1
    assert said not in client.get("/auth/login").get_data(as_text=True)  # not again later


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/auth/logout", "You are signed out."),
        (
            "/auth/logout/everywhere",
            "You are signed out of every browser where you were signed in.",
        ),
    ],
)
def test_signing_out_says_so(app, client, user, path, said):
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))
    out = client.post(path, data={"csrf_token": csrf_token(client)})
    assert out.status_code == 302
    assert said in words(client.get("/auth/login").get_data(as_text=True))


def test_removing_the_number_asks_first_and_works_without_script(app, client, alice):  # noqa: F811
    request_login(client, "alice@example.com")
    submit_code(client, code_in(last(app, "email")))
    token = csrf_token(client, "/auth/account/phone")
    asked = client.post("/auth/account/phone/remove", data={"csrf_token": token})
    assert asked.status_code == 200
    page = words(asked.get_data(as_text=True))
    assert "Remove your phone number?" in page and "Yes, remove this number" in page
    assert '<input type="hidden" name="confirmed" value="1">' in asked.get_data(as_text=True)
    assert "<script" not in asked.get_data(as_text=True).split("</form>")[0]
    with app.app_context():
        assert app.extensions["passwordless"].adapter.find_by_email(alice.email).phone_number
    assert last(app, "email").template == "login"  # nobody told of a change yet
    done = client.post("/auth/account/phone/remove", data={"csrf_token": token, "confirmed": "1"})
    assert done.headers["Location"] == "/auth/account/phone"
    with app.app_context():
        assert (
            app.extensions["passwordless"].adapter.find_by_email(alice.email).phone_number is None
        )
    assert last(app, "email").template == "phone_changed"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(1, "1 second"), (61, "61 seconds"), (120, "2 minutes"), (121, "3 minutes")]
    + [(3600, "60 minutes"), (7200, "2 hours"), (7201, "3 hours"), (86400, "24 hours")],
)
def test_a_wait_is_rounded_up_so_nobody_comes_back_too_soon(seconds, said):
    assert duration(seconds, wait=True) == said


def test_the_lockout_and_the_429_page_say_their_wait_with_the_one_helper(make_app):
    from flask_passwordless.failures import LockedOut

    assert "Try again in 1 second." in LockedOut(1).message
    assert "Try again in 3 minutes." in LockedOut(121).message
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="1/day")
    client = app.test_client()
    request_login(client, "nobody@example.com")
    page = request_login(client, "nobody@example.com")
    assert page.status_code == 429
    wait = int(page.headers["Retry-After"])
    assert f"Please wait {duration(wait, wait=True)} and try again." in words(
        page.get_data(as_text=True)
    )
