"""Authenticators proved by a code we send (email, SMS): the shared half.

The code of a second step lives in one browser's session (the step records its
secret's id): a sign-in started elsewhere, even by someone who knows the
password, never voids it, and a resend kills the code it replaces.
"""

from __future__ import annotations

from typing import Any

from .. import signals
from ..config import setting
from ..delivery import Message, send
from ..errors import TooManyMessages
from ..limits import spend
from ..signals import emit
from ..state import state
from .base import AuthenticatorType

PURPOSE = "two-factor"


class SentCodeType(AuthenticatorType):
    """A type whose second step sends a code to an address the user holds."""

    sends_code = True

    def address(self, user: Any) -> str | None:
        raise NotImplementedError

    def shown(self, address: str) -> str:
        """The address as the page shows it."""
        return address

    def message(self, to: str, code: str, minutes: int) -> Message:
        raise NotImplementedError

    def enrolled(self, user: Any) -> bool:
        return self.address(user) is not None

    def send(self, user: Any, step: Any) -> str:
        from ..signin import SecondFactorUnavailable

        to = self.address(user)
        if to is None:  # removed since the step began (another browser)
            raise SecondFactorUnavailable()
        if not spend("LIMIT_SEND_PER_IDENTIFIER", step.identifier):
            raise TooManyMessages()
        store = state().secrets
        # A resend: this browser's previous code dies (and only it: a sign-in started
        # elsewhere never voids this one).
        issued = store.issue(PURPOSE, to, link=False, replaces=step.id)
        step.id = None
        try:
            send(self.message(to, issued.code, setting("TOKEN_MAX_AGE") // 60), background=False)
        except Exception:
            store.discard(issued.id)
            raise
        step.channel, step.id, step.to = self.name, issued.id, self.shown(to)
        emit(signals.code_sent, channel=self.name, identifier=to)
        return step.to

    def verify(self, user: Any, value: str, step: Any) -> bool:
        """Raises CodeWrong (tries left) or SecretInvalid (no live code)."""
        from ..errors import SecretInvalid

        if step.channel != self.name or step.id is None:
            raise SecretInvalid()
        state().secrets.redeem_code(step.id, value, PURPOSE)
        step.id = None
        return True
