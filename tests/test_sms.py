"""SMS sign-in and the phone page, with the memory SMS backend."""

from __future__ import annotations

import pytest

from conftest import add_user, code_in, csrf_token, signed_in_as, submit_code
from flask_passwordless import code_sent, phone_verified, user_logged_in

ALICE_PHONE = "+14155552671"


@pytest.fixture
def alice(app):
    return add_user(app, "alice@example.com", phone=ALICE_PHONE)


def texts(app):
    return [m for m in app.extensions["passwordless"].outbox if m.channel == "sms"]


def emails(app):
    return [m for m in app.extensions["passwordless"].outbox if m.channel == "email"]


def ask_sms(client, phone, next_url=None):
    data = {"phone": phone, "csrf_token": csrf_token(client, "/auth/login/sms")}
    if next_url:
        data["next"] = next_url
    return client.post("/auth/login/sms", data=data)


def sign_in_by_email(app, client, email="alice@example.com"):
    data = {"email": email, "csrf_token": csrf_token(client)}
    client.post("/auth/login", data=data)
    submit_code(client, code_in(emails(app)[-1]))


def test_sms_code_signs_in_a_verified_number(app, client, alice):
    methods = []
    with user_logged_in.connected_to(lambda s, **kw: methods.append(kw["method"]), app):
        response = ask_sms(client, "(415) 555-2671", next_url="/private")
        assert response.headers["Location"] == "/auth/login/code"
        [text] = texts(app)
        assert text.to == ALICE_PHONE
        assert text.text.endswith(f"@app.example.com #{code_in(text)}")
        assert len(text.text) <= 160
        assert submit_code(client, code_in(text)).headers["Location"] == "/private"
    assert signed_in_as(client) == "alice@example.com"
    assert methods == ["sms"]


def test_code_page_for_sms_asks_for_the_texted_code(app, client, alice):
    ask_sms(client, ALICE_PHONE)
    html = client.get("/auth/login/code").get_data(as_text=True)
    assert "Check your phone" in html and "+1 415-555-2671" in html
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert "otp.js" in html


def test_unknown_number_gets_no_text_and_the_same_answer(app, alice):
    known, unknown = app.test_client(), app.test_client()
    first = ask_sms(known, ALICE_PHONE)
    second = ask_sms(unknown, "+14155552672")
    assert (first.status_code, first.headers["Location"]) == (
        second.status_code,
        second.headers["Location"],
    )
    assert [t.to for t in texts(app)] == [ALICE_PHONE]
    assert unknown.get("/auth/login/code").status_code == 200


def test_unverified_number_gets_no_text(app, client):
    from apps import User, db

    with app.app_context():
        db.session.add(User(email="bob@example.com", phone_number="+14155550100"))
        db.session.commit()
    ask_sms(client, "+14155550100")
    assert texts(app) == []


def test_sms_code_is_single_use_and_dies_after_five_wrong_tries(app, alice):
    client = app.test_client()
    ask_sms(client, ALICE_PHONE)
    code = code_in(texts(app)[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        submit_code(client, wrong)
    assert submit_code(client, code).status_code != 200 or "signed in" not in client.get("/")
    assert signed_in_as(client) == "nobody"


def test_asking_again_in_the_same_browser_retires_the_old_sms_code(app, client, alice, clock):
    ask_sms(client, ALICE_PHONE)
    ask_sms(client, ALICE_PHONE)
    old, new = texts(app)
    with app.app_context():
        rows = app.extensions["passwordless"].models.Secret.query.order_by("id").all()
        assert [row.consumed_at is None for row in rows] == [False, True]
    assert "a newer one replaced it" in submit_code(client, code_in(old)).get_data(as_text=True)
    assert submit_code(client, code_in(new)).status_code == 302


def test_sms_code_expires(app, client, alice, clock):
    ask_sms(client, ALICE_PHONE)
    clock.advance(minutes=11)
    assert submit_code(client, code_in(texts(app)[0])).status_code == 400


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter your phone number."),
        ("hello", "does not look like a phone number"),
        ("+1 415 555", "not valid"),
        ("9" * 50, "too long"),
    ],
)
def test_malformed_numbers_get_a_clear_message(app, client, typed, message):
    response = ask_sms(client, typed)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert texts(app) == []


REFUSED = {
    "premium rate": "+19002345678",
    "shared cost": "+33884012345",
    "toll free": "+448001234567",
    "VoIP": "+445612345678",
    "landline": "+442079460000",
    "region not allowed": "+8613912345678",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_numbers_we_may_not_text_never_get_one_and_look_unknown(app, case):
    add_user(app, "dora@example.com", phone=REFUSED[case])  # even if an account holds it
    refused, unknown = app.test_client(), app.test_client()
    first, second = ask_sms(refused, REFUSED[case]), ask_sms(unknown, "+14155550199")
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert texts(app) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("premium rate", "cannot receive text messages"),
        ("shared cost", "cannot receive text messages"),
        ("toll free", "cannot receive text messages"),
        ("VoIP", "cannot receive text messages"),
        ("landline", "cannot receive text messages"),
        ("region not allowed", "that country"),
    ],
)
def test_phone_page_says_why_a_number_is_refused(app, client, case, message):
    add_user(app, "carol@example.com")
    sign_in_by_email(app, client, "carol@example.com")
    page = add_phone(client, REFUSED[case])
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert texts(app) == []


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 7400 123456", "US", "+447400123456"),
        ("07400 123456", "GB", "+447400123456"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
    ],
)
def test_numbers_are_normalised_to_e164(make_app, typed, region, e164):
    app = make_app(PASSWORDLESS_PHONE_DEFAULT_REGION=region)
    add_user(app, "alice@example.com", phone=e164)
    ask_sms(app.test_client(), typed)
    assert [t.to for t in texts(app)] == [e164]


def test_only_the_default_region_when_no_regions_are_listed(make_app):
    app = make_app(PASSWORDLESS_PHONE_ALLOWED_REGIONS=None)
    add_user(app, "gb@example.com", phone="+447400123456")
    add_user(app, "us@example.com", phone=ALICE_PHONE)
    ask_sms(app.test_client(), "+447400123456")
    ask_sms(app.test_client(), ALICE_PHONE)
    assert [t.to for t in texts(app)] == [ALICE_PHONE]


def test_sms_pages_are_absent_unless_enabled(make_app):
    app = make_app(PASSWORDLESS_SMS_ENABLED=False)
    client = app.test_client()
    assert client.get("/auth/login/sms").status_code == 404
    assert "text message" not in client.get("/auth/login").get_data(as_text=True)


def test_phone_limit_is_per_number_however_it_is_typed(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="2/minute")
    client = app.test_client()
    assert ask_sms(client, "(415) 555-2671").status_code == 302
    assert ask_sms(client, "+1 415 555 2671").status_code == 302
    assert ask_sms(client, "+14155552671").status_code == 429


# The phone page -----------------------------------------------------------


def add_phone(client, phone):
    return client.post(
        "/auth/account/phone",
        data={"phone": phone, "csrf_token": csrf_token(client, "/auth/account/phone")},
    )


def confirm_phone(client, code):
    return client.post(
        "/auth/account/phone/verify",
        data={"code": code, "csrf_token": csrf_token(client, "/auth/account/phone")},
    )


def test_phone_is_saved_only_after_its_code_comes_back(app, client):
    add_user(app, "carol@example.com")
    sign_in_by_email(app, client, "carol@example.com")
    verified = []
    with phone_verified.connected_to(lambda s, **kw: verified.append(kw["phone_number"]), app):
        assert add_phone(client, "07400 123456").status_code == 200  # US default: invalid
        response = add_phone(client, "+44 7400 123456")
        assert response.headers["Location"] == "/auth/account/phone/verify"
        from apps import User

        with app.app_context():
            assert User.query.filter_by(email="carol@example.com").one().phone_number is None
        [text] = texts(app)
        assert confirm_phone(client, code_in(text)).headers["Location"] == "/auth/account/phone"
    assert verified == ["+447400123456"]
    assert "+44 7400 123456" in client.get("/auth/account/phone").get_data(as_text=True)
    notice = emails(app)[-1]
    assert notice.template == "phone_changed" and notice.to == "carol@example.com"
    assert "3456" in notice.text and "+447400123456" not in notice.text
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    other = app.test_client()
    ask_sms(other, "+447400123456")
    submit_code(other, code_in(texts(app)[-1]))
    assert signed_in_as(other) == "carol@example.com"


def test_wrong_verification_code_saves_nothing(app, client):
    add_user(app, "carol@example.com")
    sign_in_by_email(app, client, "carol@example.com")
    add_phone(client, ALICE_PHONE)
    code = code_in(texts(app)[0])
    page = confirm_phone(client, f"{(int(code) + 1) % 1_000_000:06d}")
    assert "not right" in page.get_data(as_text=True)
    from apps import User

    with app.app_context():
        assert User.query.filter_by(email="carol@example.com").one().phone_number is None


def test_number_of_another_account_cannot_be_taken_nor_probed(app, client, alice):
    add_user(app, "mallory@example.com")
    sign_in_by_email(app, client, "mallory@example.com")
    free = add_phone(client, "+14155550177")
    taken = add_phone(client, ALICE_PHONE)  # answered exactly like a free number...
    assert (free.status_code, free.headers["Location"]) == (
        taken.status_code,
        taken.headers["Location"],
    )
    response = confirm_phone(client, code_in(texts(app)[-1]))  # ...until the code comes back
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "belongs to another account" in page and "alice" not in page
    from apps import User

    with app.app_context():
        assert User.query.filter_by(email="mallory@example.com").one().phone_number is None


def test_removing_the_number_tells_the_owner(app, client, alice):
    sign_in_by_email(app, client)
    client.post(
        "/auth/account/phone/remove", data={"csrf_token": csrf_token(client), "confirmed": "1"}
    )
    assert emails(app)[-1].template == "phone_changed"
    assert "removed" in emails(app)[-1].text
    other = app.test_client()
    ask_sms(other, ALICE_PHONE)
    assert texts(app) == []


def test_phone_page_needs_a_recent_sign_in(app, client, alice, clock):
    sign_in_by_email(app, client)
    assert client.get("/auth/account/phone").status_code == 200
    clock.advance(minutes=11)
    response = client.get("/auth/account/phone")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/account/phone"


def test_phone_page_needs_sign_in(client):
    assert client.get("/auth/account/phone").status_code == 302


def test_code_sent_signal_names_the_channel(app, client, alice):
    seen = []
    with code_sent.connected_to(lambda s, **kw: seen.append(kw["channel"]), app):
        ask_sms(client, ALICE_PHONE)
    assert seen == ["sms"]
