"""The email address: a first factor (links and codes), and a second factor only
when PASSWORDLESS_EMAIL_SECOND_FACTOR is on.

NIST SP 800-63B-4 (3.1.3.1) rules email out as an out-of-band authenticator: a
mailbox is reachable from many places and often shares the password's fate.
"""

from __future__ import annotations

from typing import Any

from ..config import setting
from ..delivery import Message, render_email
from ..i18n import lazy_gettext
from ..state import state
from ..wording import lifetime
from .base import HAVE
from .codes import SentCodeType


class EmailType(SentCodeType):
    name = "email"
    label = lazy_gettext("Email")
    factor = HAVE
    prompt = lazy_gettext("Code from the email")
    missing = lazy_gettext("Enter the code from the email.")
    manage_endpoint = "passwordless.account_email"

    def is_first(self) -> bool:
        return True

    def is_second(self) -> bool:
        return bool(setting("EMAIL_SECOND_FACTOR"))

    def address(self, user: Any) -> str | None:
        return state().adapter.email_of(user)

    def summary(self, user: Any) -> str | None:
        return state().adapter.email_of(user)

    def message(self, to: str, code: str, minutes: int) -> Message:
        return render_email("two_factor", to, code=code, **lifetime(setting("TOKEN_MAX_AGE")))
