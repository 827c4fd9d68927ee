"""What an authenticator type is, and the registry of the types an app offers.

An *authenticator* is something a user enrolled and can prove: an address, a
phone, a password, an authenticator app, a set of recovery codes. A *type*
says which factor it proves, whether it may be a first factor, a second factor
or both, whether it must send something before it can be checked, and how a
value typed by the user is checked. The sign-in and confirm-it-is-you steps ask
the registry, never a list of names, so a host adds its own type with
``passwordless.register_authenticator(app, MyType())``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..i18n import lazy_gettext

if TYPE_CHECKING:
    from ..steps import Step

HAVE, KNOW, ARE = "have", "know", "are"


class AuthenticatorType:
    """Base of every type. Subclasses set the class attributes and override the
    methods their kind needs; the defaults describe a type that checks a typed
    value without sending anything (like an authenticator app)."""

    #: Unique name, stored in auth records ("totp").
    name: str = ""
    #: What the pages call it ("Authenticator app").
    label: str = ""
    #: The factor it proves: HAVE, KNOW or ARE.
    factor: str = HAVE
    #: Offered last, and only as a way back in (recovery codes).
    last_resort: bool = False
    #: The second step must send a code before it can be checked (SMS).
    sends_code: bool = False
    #: ``verify`` is quick (no slow hash) and writes only through the authenticator
    #: store: its check and the lockout hold around it then commit once
    #: (``writes.together``). Off for a host's type unless it says so.
    quick_check: bool = False
    #: The field the step shows: "code" (digits of CODE_LENGTH) or "text".
    field: str = "code"
    #: Label of the field on the second-step page.
    prompt: str = lazy_gettext("Code")
    #: What the second-step page says when nothing was typed.
    missing: str = lazy_gettext("Enter the code.")
    #: The authenticator that can set this one anew (a reset link from the mailbox
    #: sets the password): the two then count as one towards a session's level.
    derived_from: str | None = None
    #: The endpoint of the page that manages it, linked from the account page
    #: (``None``: the account page does not list it).
    manage_endpoint: str | None = None

    def is_first(self) -> bool:
        """May prove who someone is on its own (a sign-in page exists for it)."""
        return False

    def is_second(self) -> bool:
        """May be the second step after a different first factor."""
        return False

    def confirms(self) -> bool:
        """May confirm a signed-in user before an account change."""
        return self.is_second()

    def enrolled(self, user: Any) -> bool:
        """Whether ``user`` has this authenticator now."""
        raise NotImplementedError

    def offered(self) -> bool:
        """This app uses the type at all (SMS and passwords can be switched off)."""
        return self.is_first() or self.is_second() or self.confirms()

    def summary(self, user: Any) -> str | None:
        """One line for the account page ("7 recovery codes left"); None says only
        whether it is set up. Keep it cheap: the page asks every type."""
        return None

    def last_used(self, user: Any) -> datetime | None:
        """When it last proved the user (for the order of the second step's offers)."""
        return None

    def send(self, user: Any, step: Step) -> str:
        """Send a code for ``step`` and record it there; returns where it went, for
        the page. Only for types with ``sends_code``."""
        raise NotImplementedError

    def verify(self, user: Any, value: str, step: Step) -> bool:
        """Check ``value``. Raise ``CodeWrong`` or ``SecretInvalid`` to say more than
        "wrong"; each check must be single use (a conditional UPDATE)."""
        raise NotImplementedError

    def proofs(self, user: Any) -> list[str]:
        """What the auth record gains from this request's passed check: the type
        itself, and more when one check proved more (a passkey that verified its
        user proves something it has and something it knows or is)."""
        return [self.name]

    def after_use(self, user: Any) -> None:
        """Called once the step this type proved is passed (notices, signals)."""


@dataclass
class Registry:
    """The types one app offers, in the order the second step lists them."""

    types: dict[str, AuthenticatorType]

    def register(self, kind: AuthenticatorType) -> None:
        if not kind.name or kind.name in self.types:
            raise ValueError(f"authenticator type needs a new, non-empty name: {kind.name!r}")
        self.types[kind.name] = kind

    def get(self, name: Any) -> AuthenticatorType | None:
        return self.types.get(name) if isinstance(name, str) else None

    def root(self, method: str) -> str:
        """The authenticator that ``method`` really proved: a reset link or a password
        proves the mailbox, since the mailbox can always set a new password."""
        if method == "reset":
            return "email"
        kind = self.get(method)
        return kind.derived_from if kind is not None and kind.derived_from else method

    def independent(self, methods: list[str]) -> set[str]:
        """The different authenticators among ``methods``, derived ones folded in."""
        return {self.root(method) for method in methods}

    def second_factors(self, user: Any, besides: str | None = None) -> list[AuthenticatorType]:
        """Second factors ``user`` has, other than ``besides``: the one used last
        first, last resorts at the end, else in registry order."""
        kinds = [
            kind
            for kind in self.types.values()
            if kind.name != besides and kind.is_second() and kind.enrolled(user)
        ]
        return _preferred_first(kinds, user)

    def confirmers(self, user: Any, besides: list[str]) -> list[AuthenticatorType]:
        """What ``user`` can prove to confirm it is them, independent of ``besides``
        (the mailbox never confirms a session that the mailbox opened, even through a
        password it could have reset)."""
        proved = self.independent(besides)
        kinds = [
            kind
            for kind in self.types.values()
            if self.root(kind.name) not in proved and kind.confirms() and kind.enrolled(user)
        ]
        return _preferred_first(kinds, user)

    def managed(self) -> list[AuthenticatorType]:
        """The types the account page lists: offered here, with a page of their own."""
        return [kind for kind in self.types.values() if kind.manage_endpoint and kind.offered()]

    def has_second_factor(self, user: Any) -> bool:
        """A second factor that can carry two-step sign-in (recovery codes cannot)."""
        return any(not kind.last_resort for kind in self.second_factors(user))

    def has_independent_second_factor(self, user: Any) -> bool:
        """A second factor that the mailbox cannot stand in for (not an emailed code)."""
        return any(
            not kind.last_resort and self.root(kind.name) != "email"
            for kind in self.second_factors(user)
        )


def _preferred_first(kinds: list[AuthenticatorType], user: Any) -> list[AuthenticatorType]:
    used = {kind.name: kind.last_used(user) for kind in kinds}
    order = {kind.name: index for index, kind in enumerate(kinds)}

    def rank(kind: AuthenticatorType) -> tuple[bool, float, int]:
        when = used[kind.name]
        return (kind.last_resort, -(when.timestamp() if when else 0.0), order[kind.name])

    return sorted(kinds, key=rank)
