"""The authenticator app and recovery codes as types of the registry.

Their storage and checks are ``totp`` and ``recovery``; this is what the second
step and confirm-it-is-you need to know of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import clock, signals
from ..delivery import tell_owner
from ..i18n import gettext, lazy_gettext, ngettext
from ..signals import emit
from ..state import state
from . import recovery, totp
from .base import HAVE, KNOW, AuthenticatorType


def _key(user: Any) -> str:
    return state().adapter.key_of(user)


class TotpType(AuthenticatorType):
    name = totp.TYPE
    label = lazy_gettext("Authenticator app")
    factor = HAVE
    quick_check = True
    prompt = lazy_gettext("Code from the app")
    missing = lazy_gettext("Enter the code from the app.")
    manage_endpoint = "passwordless.account_totp"

    def is_second(self) -> bool:
        return True

    def app_of(self, user: Any) -> Any | None:
        """The user's app (one per account)."""
        rows = state().authenticators.of_user(_key(user), totp.TYPE)
        return rows[0] if rows else None

    def enrolled(self, user: Any) -> bool:
        return self.app_of(user) is not None

    def summary(self, user: Any) -> str | None:
        return gettext("Set up") if self.enrolled(user) else None

    def last_used(self, user: Any) -> datetime | None:
        row = self.app_of(user)
        return row.last_used_at if row is not None else None

    def verify(self, user: Any, value: str, step: Any) -> bool:
        row = self.app_of(user)
        return totp.check(state().authenticators, row, value, clock.now(), _key(user))


class RecoveryType(AuthenticatorType):
    name = recovery.TYPE
    label = lazy_gettext("Recovery code")
    factor = KNOW
    last_resort = True
    quick_check = True
    field = "text"
    prompt = lazy_gettext("Recovery code")
    missing = lazy_gettext("Enter a recovery code.")
    manage_endpoint = "passwordless.recovery_codes"

    def is_second(self) -> bool:
        return True

    def enrolled(self, user: Any) -> bool:
        return recovery.remaining(state().authenticators, _key(user)) > 0

    def summary(self, user: Any) -> str | None:
        left = recovery.remaining(state().authenticators, _key(user))
        if not left:
            return None
        return ngettext("%(num)d recovery code left", "%(num)d recovery codes left", left)

    def verify(self, user: Any, value: str, step: Any) -> bool:
        return recovery.use(state().authenticators, _key(user), value, clock.now())

    def after_use(self, user: Any) -> None:
        """Using one is worth telling the owner about, with how many are left."""
        left = recovery.remaining(state().authenticators, _key(user))
        tell_owner(user, "recovery_code_used", remaining=left)
        emit(signals.recovery_code_used, user=user, remaining=left)
