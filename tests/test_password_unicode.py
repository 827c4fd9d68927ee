"""Passwords are NFKC-normalised before they are checked, hashed and compared."""

from __future__ import annotations

import unicodedata

import pytest
from factors import make_user, password_login
from werkzeug import security
from werkzeug.security import check_password_hash, generate_password_hash

from apps import User, db
from conftest import csrf_token, signed_in_as
from flask_passwordless import passwords
from flask_passwordless.passwords import PasswordRefused, Verdict, check_policy, verify_password

#: One password, as different keyboards and input methods type it.
COMPOSED = unicodedata.normalize("NFC", "ünïcødé pässwörd ✓")  # one code point per letter
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # letter + combining mark (macOS input)
FULL_WIDTH = (
    "ｃｏｒｒｅｃｔ　ｈｏｒｓｅ　ｂａｔｔｅｒｙ　ｓｔａｐｌｅ"  # a CJK IME in full-width mode
)
HALF_WIDTH = "correct horse battery staple"


def _stored_hash(app, email="alice@example.com"):
    with app.app_context():
        return db.session.execute(db.select(User.password_hash).filter_by(email=email)).scalar()


def _set_hash(app, password_hash, email="alice@example.com"):
    with app.app_context():
        row = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        row.password_hash = password_hash
        db.session.commit()


@pytest.mark.parametrize(
    ("set_as", "typed_as"),
    [(DECOMPOSED, COMPOSED), (COMPOSED, DECOMPOSED), (FULL_WIDTH, HALF_WIDTH)],
)
def test_the_same_password_typed_another_way_signs_in(app, client, set_as, typed_as):
    assert set_as != typed_as
    make_user(app, password=set_as)
    assert password_login(client, password=typed_as).status_code == 302
    assert signed_in_as(client) == "alice@example.com"


def test_a_password_set_on_the_account_page_is_stored_normalised(app, client):
    make_user(app)
    password_login(client)
    data = {"password": DECOMPOSED, "confirm": COMPOSED, "csrf_token": csrf_token(client)}
    assert client.post("/auth/account/password", data=data).status_code == 302  # same password
    assert check_password_hash(_stored_hash(app), COMPOSED)
    assert password_login(app.test_client(), password=COMPOSED).status_code == 302


def test_a_password_set_by_reset_is_stored_normalised(app, client):
    from test_reset import ask_reset, reset_token, set_password

    make_user(app)
    ask_reset(client)
    assert set_password(client, reset_token(app), FULL_WIDTH).status_code == 302
    assert check_password_hash(_stored_hash(app), HALF_WIDTH)
    assert password_login(app.test_client(), password=HALF_WIDTH).status_code == 302


@pytest.mark.parametrize(
    "typed", ["ｐａｓｓｗｏｒｄ１２３", "Ｐａｓｓｗｏｒｄ１！", "ｆｏｏｔｂａｌｌ１"]
)
def test_a_weak_password_in_full_width_letters_is_still_weak(app, typed):
    """Unnormalised, the estimator sees rare characters and scores these 3 or 4."""
    with app.app_context(), pytest.raises(PasswordRefused, match="too easy to guess"):
        check_policy(typed, "alice@example.com")


def test_a_hash_from_before_normalisation_signs_in_once_as_typed_and_is_rehashed(app, client):
    """A user who set DECOMPOSED before this change has a hash of those exact code
    points. The normalised try fails, the as-typed try matches, and the hash is
    replaced by one of the normalised password, so from then on any form works."""
    make_user(app)
    method = app.config["PASSWORDLESS_PASSWORD_HASH"]  # up to date but for normalising
    legacy = generate_password_hash(DECOMPOSED, method=method)
    _set_hash(app, legacy)
    with app.app_context():
        assert verify_password(legacy, DECOMPOSED) is Verdict.RIGHT_AS_TYPED
        assert verify_password(legacy, COMPOSED) is Verdict.WRONG  # what they did not type
    assert password_login(client, password=DECOMPOSED).status_code == 302
    upgraded = _stored_hash(app)
    assert upgraded != legacy and check_password_hash(upgraded, COMPOSED)
    with app.app_context():
        assert verify_password(upgraded, DECOMPOSED) is Verdict.RIGHT
    assert password_login(app.test_client(), password=COMPOSED).status_code == 302


def test_an_up_to_date_hash_is_not_rewritten_at_sign_in(app, client):
    make_user(app, password=DECOMPOSED)
    before = _stored_hash(app)
    assert password_login(client, password=DECOMPOSED).status_code == 302
    assert _stored_hash(app) == before


@pytest.mark.parametrize("typed", [HALF_WIDTH, DECOMPOSED])
def test_an_unknown_address_costs_the_same_hashing_as_a_wrong_password(app, monkeypatch, typed):
    """Structural, not timed: the same number of hash checks either way (two when
    the typed password is not normalised, one otherwise)."""
    make_user(app, password="a different passphrase entirely")
    checks = []
    real = security.check_password_hash

    def counting(password_hash, password):
        checks.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "check_password_hash", counting)
    counts = []
    for email in ["alice@example.com", "nobody@example.com"]:
        checks.clear()
        password_login(app.test_client(), email, typed)
        counts.append(len(checks))
    assert counts[0] == counts[1] == (1 if typed == unicodedata.normalize("NFKC", typed) else 2)
