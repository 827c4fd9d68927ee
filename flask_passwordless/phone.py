"""Phone numbers: parse what people type, normalise to E.164, apply the SMS policy.

The policy exists to stop SMS pumping: only mobile numbers, only in allowed
regions, never premium-rate or shared-cost, checked before anything is sent.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from .config import setting
from .errors import PasswordlessError
from .i18n import gettext, lazy_gettext

#: Types that can receive an SMS. FIXED_LINE_OR_MOBILE covers countries
#: (such as the US) where the two share number ranges.
SMS_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class PhoneRefused(PasswordlessError):
    """A number that cannot be parsed or may not receive our SMS."""

    title = lazy_gettext("That phone number cannot be used")


def allowed_regions() -> set[str]:
    """PASSWORDLESS_PHONE_ALLOWED_REGIONS, or only the default region when unset."""
    regions = setting("PHONE_ALLOWED_REGIONS") or [setting("PHONE_DEFAULT_REGION")]
    return {region.upper() for region in regions}


def parse_phone(text: str) -> str:
    """E.164 form of any valid number, or PhoneRefused with a message for the form."""
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        raise PhoneRefused(gettext("Enter a phone number, like +1 415 555 2671."))
    try:
        number = phonenumbers.parse(text, setting("PHONE_DEFAULT_REGION"))
    except NumberParseException:
        raise PhoneRefused(gettext("That does not look like a phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneRefused(
            gettext("That phone number is not valid. Check the digits and the country code.")
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_sms_policy(e164: str) -> None:
    """Raise PhoneRefused unless we may text this number (region, then type)."""
    number = phonenumbers.parse(e164)
    if phonenumbers.region_code_for_number(number) not in allowed_regions():
        raise PhoneRefused(gettext("We cannot send text messages to numbers in that country."))
    if phonenumbers.number_type(number) not in SMS_TYPES:
        raise PhoneRefused(
            gettext("That number cannot receive text messages. Use a mobile number.")
        )


def may_text(e164: str) -> bool:
    try:
        check_sms_policy(e164)
    except PhoneRefused:
        return False
    return True


def normalise_phone(text: str) -> str:
    """E.164 of a number we may text, or PhoneRefused saying why not."""
    e164 = parse_phone(text)
    check_sms_policy(e164)
    return e164


def display_phone(e164: str) -> str:
    """International format for pages: ``+44 7911 123456``."""
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def masked_phone(e164: str) -> str:
    """Enough to recognise your own number, not enough to learn someone else's."""
    return "•" * max(0, len(e164) - 4 - 2) + e164[-4:] if len(e164) > 6 else e164
