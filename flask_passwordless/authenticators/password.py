"""The password: a first factor, and a way to confirm it is you before an account
change (never a second step: it is the first factor a second step exists for)."""

from __future__ import annotations

from typing import Any

from ..config import setting
from ..i18n import gettext, lazy_gettext
from ..passwords import verify_password
from ..state import state
from .base import KNOW, AuthenticatorType


class PasswordType(AuthenticatorType):
    name = "password"
    label = lazy_gettext("Password")
    factor = KNOW
    field = "password"
    prompt = lazy_gettext("Password")
    missing = lazy_gettext("Enter your password.")
    derived_from = "email"  # a reset link sets it from the mailbox
    manage_endpoint = "passwordless.account_password"

    def is_first(self) -> bool:
        return bool(setting("PASSWORD_LOGIN"))

    def confirms(self) -> bool:
        return self.is_first()

    def enrolled(self, user: Any) -> bool:
        return state().adapter.password_hash_of(user) is not None

    def summary(self, user: Any) -> str | None:
        return gettext("Set") if self.enrolled(user) else None

    def verify(self, user: Any, value: str, step: Any) -> bool:
        return bool(verify_password(state().adapter.password_hash_of(user), value))
