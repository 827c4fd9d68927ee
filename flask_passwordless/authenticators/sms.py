"""A verified phone number: a first factor (SMS sign-in) and a second factor."""

from __future__ import annotations

from typing import Any

from ..config import setting
from ..delivery import Message, render_sms
from ..i18n import lazy_gettext
from ..phone import display_phone, masked_phone
from ..state import state
from ..wording import lifetime
from .base import HAVE
from .codes import SentCodeType


class SmsType(SentCodeType):
    name = "sms"
    label = lazy_gettext("Text message")
    factor = HAVE
    prompt = lazy_gettext("Code from the text message")
    missing = lazy_gettext("Enter the code from the text message.")
    manage_endpoint = "passwordless.account_phone"

    def is_first(self) -> bool:
        return bool(setting("SMS_ENABLED"))

    def is_second(self) -> bool:
        return bool(setting("SMS_ENABLED"))

    def address(self, user: Any) -> str | None:
        return state().adapter.phone_of(user)

    def summary(self, user: Any) -> str | None:
        number = self.address(user)
        return display_phone(number) if number else None

    def shown(self, address: str) -> str:
        return masked_phone(address)

    def message(self, to: str, code: str, minutes: int) -> Message:
        return render_sms("two_factor", to, code=code, **lifetime(setting("TOKEN_MAX_AGE")))
