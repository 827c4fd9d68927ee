"""Authenticator apps: RFC 6238 codes, the window, single use per time step, the
secret sealed at rest, and one winner when one code is submitted in parallel."""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
import sqlalchemy as sa

from apps import db
from conftest import race
from flask_passwordless.authenticators import sealing, totp
from flask_passwordless.state import state

RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
# RFC 6238 appendix B, the SHA1 column: (T, code).
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
# 12:00:10 UTC: ten seconds into a step, so "one step either side" is unambiguous.
AT = datetime(2026, 12, 1, 12, 0, 10)
RACERS = 20


def utc(seconds: int) -> datetime:
    """A naive UTC datetime, as the extension's clock gives them."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def step_of(at: datetime) -> int:
    return int(at.replace(tzinfo=timezone.utc).timestamp()) // 30


def enrolled(store, user_key="1", at=AT):
    """An app enrolled at ``at`` with the code it showed then; returns (secret, row)."""
    secret = totp.new_secret()
    new_id = totp.enrol(store, user_key, secret, code_at_step(secret, step_of(at)), at)
    return secret, store.get(user_key, new_id)


@pytest.mark.parametrize(("seconds", "code"), RFC_VECTORS)
def test_rfc_6238_test_vectors_match_their_time_step(seconds, code):
    step = totp.matching_step(RFC_SEED, code, utc(seconds), window=0, digits=8)
    assert step == seconds // 30


def test_a_wrong_code_matches_no_step():
    assert totp.matching_step(RFC_SEED, "94287083", utc(59), digits=8) is None


def test_naive_datetimes_are_read_as_utc_whatever_the_servers_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: any local reading is far off
    time.tzset()
    try:
        assert totp.matching_step(RFC_SEED, "14050471", utc(1111111111), digits=8) is not None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_codes_of_the_previous_and_next_step_are_accepted():
    secret, step = totp.new_secret(), step_of(AT)
    assert totp.matching_step(secret, code_at_step(secret, step - 1), AT) == step - 1
    assert totp.matching_step(secret, code_at_step(secret, step), AT) == step
    assert totp.matching_step(secret, code_at_step(secret, step + 1), AT) == step + 1


def test_a_code_that_two_steps_share_counts_as_the_later_one():
    """Steps 59061240 and 59061241 of the RFC seed both show 963181; taking the later
    step refuses the earlier one's code afterwards, never the reverse."""
    at = utc(59061240 * 30 + 10)
    assert totp.matching_step(RFC_SEED, "963181", at) == 59061241


def test_codes_two_steps_away_are_refused():
    secret, step = totp.new_secret(), step_of(AT)
    for other in (step - 2, step + 2):
        code = code_at_step(secret, other)
        assert code != code_at_step(secret, step)  # a one-in-a-million collision would lie
        assert totp.matching_step(secret, code, AT) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "１２３４５６", None, 123456])
def test_malformed_codes_match_nothing(typed):
    assert totp.matching_step(totp.new_secret(), typed, AT) is None


def test_a_code_typed_with_spaces_still_matches():
    secret = totp.new_secret()
    code = code_at_step(secret, step_of(AT))
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]} ", AT) == step_of(AT)


def test_a_new_secret_has_160_random_bits_in_base32():
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20


def test_the_key_is_grouped_by_four_for_typing():
    secret = totp.new_secret()
    shown = totp.grouped(secret)
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown)
    assert shown.replace(" ", "") == secret


def test_the_provisioning_uri_names_the_issuer_and_account():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice@example.com", "Test App")
    assert uri.startswith("otpauth://totp/Test%20App:alice%40example.com?")
    assert f"secret={secret}" in uri and "issuer=Test%20App" in uri


def test_the_qr_code_is_inline_svg_with_a_title_and_nothing_active():
    uri = totp.provisioning_uri(totp.new_secret(), "alice@example.com", "Test App")
    svg = totp.qr_svg(uri, title="Scan <this> & go")
    assert svg.startswith('<svg role="img" ') and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<script" not in svg and "href" not in svg
    assert "<title>Scan &lt;this&gt; &amp; go</title>" in svg
    assert "secret=" not in svg  # the key is drawn, not written


def test_the_code_that_confirmed_an_app_cannot_then_sign_in(store):
    secret, row = enrolled(store)
    assert row.counter == step_of(AT)
    assert not totp.check(store, row, code_at_step(secret, step_of(AT)), AT, "1")


def test_a_wrong_code_does_not_enrol_an_app(store):
    secret = totp.new_secret()
    wrong = next(c for c in ("000000", "111111", "222222") if not totp.matching_step(secret, c, AT))
    assert totp.enrol(store, "1", secret, wrong, AT) is None
    assert store.of_user("1", totp.TYPE) == []


def test_a_time_step_is_accepted_once_then_later_steps_but_never_earlier_ones(store):
    secret, row = enrolled(store)
    later = AT + timedelta(seconds=30)
    step = step_of(later)
    assert totp.check(store, row, code_at_step(secret, step), later, "1")
    assert not totp.check(store, row, code_at_step(secret, step), later, "1")  # replay
    # The previous step's code is still inside the window, but comes after a later one.
    assert not totp.check(store, row, code_at_step(secret, step - 1), later, "1")
    assert totp.check(store, row, code_at_step(secret, step + 1), later, "1")
    row = store.get("1", row.id)
    assert row.counter == step + 1 and row.last_used_at == later


def test_a_code_checked_against_another_users_row_is_refused(store):
    secret, row = enrolled(store, user_key="1")
    later = AT + timedelta(seconds=30)
    assert not totp.check(store, row, code_at_step(secret, step_of(later)), later, "2")


def test_the_database_never_holds_the_secret_in_clear(store):
    secret, row = enrolled(store)
    raw = db.session.execute(sa.text("SELECT * FROM passwordless_authenticator")).all()
    dumped = repr(raw)
    assert secret not in dumped and totp.grouped(secret) not in dumped
    assert base64.b32decode(secret).hex() not in dumped
    assert re.fullmatch(r"v1\.[A-Za-z0-9_-]+", row.data["secret"])


def test_a_sealed_secret_does_not_open_for_another_user(store):
    secret, row = enrolled(store, user_key="1")
    assert sealing.open_sealed(row.data["secret"], "1") == secret
    with pytest.raises(sealing.SealBroken):
        sealing.open_sealed(row.data["secret"], "2")


def test_a_sealed_secret_copied_onto_another_users_row_gives_no_sign_in(store):
    secret, row = enrolled(store, user_key="1")
    copy_id = store.add("2", totp.TYPE, dict(row.data), now=AT)
    copy = store.get("2", copy_id)
    later = AT + timedelta(seconds=30)
    assert not totp.check(store, copy, code_at_step(secret, step_of(later)), later, "2")


@pytest.mark.parametrize(
    "broken", ["", "v1.", "v2.AAAA", "v1.!!!!", "v1.AAAAAAAAAAAAAAAA", "no-dot-at-all"]
)
def test_a_damaged_sealed_value_does_not_open(ctx, broken):
    with pytest.raises(sealing.SealBroken):
        sealing.open_sealed(broken, "1")


def test_a_tampered_sealed_value_does_not_open(ctx):
    sealed = sealing.seal("JBSWY3DPEHPK3PXP", "1")
    body = bytearray(base64.urlsafe_b64decode(sealed[3:] + "=="))
    body[-1] ^= 1
    tampered = "v1." + base64.urlsafe_b64encode(bytes(body)).rstrip(b"=").decode()
    with pytest.raises(sealing.SealBroken):
        sealing.open_sealed(tampered, "1")


def test_after_key_rotation_the_old_secret_opens_with_the_fallback_and_is_sealed_again(ctx, store):
    secret, row = enrolled(store)
    ctx.config["SECRET_KEY_FALLBACKS"] = [ctx.config["SECRET_KEY"]]
    ctx.config["SECRET_KEY"] = "a-new-secret-key"
    assert sealing.unseal(row.data["secret"], "1") == (secret, False)
    later = AT + timedelta(seconds=30)
    assert totp.check(store, row, code_at_step(secret, step_of(later)), later, "1")
    resealed = store.get("1", row.id).data["secret"]
    assert resealed != row.data["secret"]
    ctx.config["SECRET_KEY_FALLBACKS"] = []
    assert sealing.unseal(resealed, "1") == (secret, True)


def test_a_secret_whose_key_was_dropped_refuses_codes_without_an_error(ctx, store):
    secret, row = enrolled(store)
    ctx.config["SECRET_KEY"] = "a-new-secret-key"
    later = AT + timedelta(seconds=30)
    assert not totp.check(store, row, code_at_step(secret, step_of(later)), later, "1")


def test_parallel_submissions_of_one_code_have_exactly_one_winner(racing_app):
    later = AT + timedelta(seconds=30)

    def submit():
        with racing_app.app_context():
            return totp.check(state().authenticators, row, code, later, "1")

    with racing_app.app_context():
        store = state().authenticators
        secret, row = enrolled(store)
        code = code_at_step(secret, step_of(later))
        results = race([submit] * RACERS)
        assert results.count(True) == 1, results
        assert store.get("1", row.id).counter == step_of(later)
