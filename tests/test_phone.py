"""Phone parsing and the SMS policy over real-world input from many regions."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import csrf_token
from flask_passwordless.config import defaults
from flask_passwordless.phone import PhoneRefused, masked_phone, normalise_phone, parse_phone

FIXTURE_REUSED = HealthCheck.function_scoped_fixture  # the fixtures hold no per-example state
EVERYWHERE = ["US", "CA", "GB", "FR", "DE", "IN", "BR", "JP", "AU", "NG", "MX", "ES", "ZA", "SG"]


@pytest.fixture
def policy():
    """A bare app context carrying the phone settings, changed per test."""
    app = Flask(__name__)
    app.config.update(defaults(), PASSWORDLESS_PHONE_ALLOWED_REGIONS=EVERYWHERE)
    with app.app_context():
        yield app.config


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),
        ("1-415-555-2671", "US", "+14155552671"),
        ("(604) 555-0199", "CA", "+16045550199"),
        ("07400 123456", "GB", "+447400123456"),
        ("+44 (0)7400 123456", "US", "+447400123456"),
        ("0044 7400 123456", "FR", "+447400123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("098765 43210", "IN", "+919876543210"),
        ("+91 98765-43210", "US", "+919876543210"),
        ("(11) 96123-4567", "BR", "+5511961234567"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("0412 345 678", "AU", "+61412345678"),
        ("0803 123 4567", "NG", "+2348031234567"),
        ("55 1234 5678", "MX", "+525512345678"),
        ("612 34 56 78", "ES", "+34612345678"),
        ("071 123 4567", "ZA", "+27711234567"),
        ("8123 4567", "SG", "+6581234567"),
        ("+1\u00a0415\u00a0555\u00a02671", "US", "+14155552671"),  # no-break spaces
        ("＋１ ４１５ ５５５ ２６７１", "US", "+14155552671"),  # full-width digits
    ],
)
def test_real_world_mobile_numbers_normalise_to_e164(policy, typed, region, e164):
    policy["PASSWORDLESS_PHONE_DEFAULT_REGION"] = region
    assert normalise_phone(typed) == e164


@pytest.mark.parametrize(
    ("typed", "region", "why"),
    [
        ("", "US", "Enter a phone number"),
        ("   ", "US", "Enter a phone number"),
        ("call me", "US", "does not look like"),
        ("555-2671", "US", "not valid"),  # no area code
        ("+1 415 555 26711", "US", "not valid"),  # one digit too many
        ("07400 123456", "US", "not valid"),  # a UK number without +44, read as US
        ("+999 1234 5678", "US", "does not look like"),  # no such country code
        ("0", "FR", "does not look like"),
        ("+44 20 7946 0000", "GB", "cannot receive text"),  # London landline
        ("030 123456", "DE", "cannot receive text"),  # Berlin landline
        ("+1 900 234 5678", "US", "cannot receive text"),  # premium rate
        ("+1 800 234 5678", "US", "cannot receive text"),  # toll free
        ("0891 12 34 56", "FR", "cannot receive text"),  # premium rate
        ("0884 01 23 45", "FR", "cannot receive text"),  # shared cost
        ("+44 56 1234 5678", "GB", "cannot receive text"),  # VoIP
        ("+86 139 1234 5678", "US", "that country"),  # mobile, region not allowed
        ("+7 912 345 6789", "US", "that country"),
    ],
)
def test_numbers_that_cannot_be_texted_say_why(policy, typed, region, why):
    policy["PASSWORDLESS_PHONE_DEFAULT_REGION"] = region
    with pytest.raises(PhoneRefused, match=why):
        normalise_phone(typed)


def test_default_allowed_region_is_only_the_default_region(policy):
    policy["PASSWORDLESS_PHONE_ALLOWED_REGIONS"] = None
    policy["PASSWORDLESS_PHONE_DEFAULT_REGION"] = "FR"
    assert normalise_phone("06 12 34 56 78") == "+33612345678"
    with pytest.raises(PhoneRefused, match="that country"):
        normalise_phone("+44 7400 123456")


def test_masked_phone_keeps_only_the_last_four_digits():
    assert masked_phone("+447400123456").endswith("3456")
    assert "7400" not in masked_phone("+447400123456")


@settings(max_examples=300, deadline=None, suppress_health_check=[FIXTURE_REUSED])
@given(st.text(max_size=60))
def test_junk_never_escapes_as_anything_but_phone_refused(policy, junk):
    try:
        e164 = parse_phone(junk)
    except PhoneRefused as refused:
        assert refused.message
    else:
        assert e164.startswith("+") and e164[1:].isdigit() and len(e164) <= 16


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE_REUSED])
@given(st.text(max_size=60) | st.from_regex(r"\+?[0-9 ()\-.]{0,25}", fullmatch=True))
def test_phone_forms_never_answer_5xx(app, junk):
    app.config["PASSWORDLESS_LIMITER_ENABLED"] = False
    client = app.test_client()
    data = {"phone": junk, "csrf_token": csrf_token(client, "/auth/login/sms")}
    assert client.post("/auth/login/sms", data=data).status_code in (200, 302)
