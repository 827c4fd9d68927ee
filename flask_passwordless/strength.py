"""How strongly a session proved who it is: each method, when, and the level.

The auth record lists every method the session proved and when. Its level is
the number of *different* authenticators among them, at most 2, where a
password counts as the mailbox (a reset link sets it anew). A remembered
device stands in for the second factor it let the user skip, so a sign-in on
one is at level 2; it never counts as a fresh proof when an account change asks
the user to confirm it is them (``recent_methods``), because the device only
says "this browser passed a second step once", not "the owner is here now".

The record is read and written only through this module. It lives on this
browser's session row (``server_sessions``), not in the cookie: a copied cookie
carries no proof, and a proof added here is seen by the row's next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import clock, server_sessions
from .state import state

DEVICE = "device"


@dataclass
class AuthRecord:
    """The methods this session proved, in order, each with when it last did."""

    proofs: dict[str, float] = field(default_factory=dict)
    signed_in_at: float = 0.0

    @property
    def methods(self) -> list[str]:
        return list(self.proofs)

    def level(self) -> int:
        return min(2, len(state().registry.independent(self.methods)))

    def recent_methods(self, within: float) -> list[str]:
        """Methods proved in the last ``within`` seconds, remembered devices aside."""
        now = clock.timestamp()
        return [m for m, at in self.proofs.items() if m != DEVICE and now - at <= within]

    def recent_level(self, within: float) -> int:
        return min(2, len(state().registry.independent(self.recent_methods(within))))

    def add(self, method: str) -> None:
        self.proofs[method] = clock.timestamp()

    def to_session(self) -> dict[str, Any]:
        return {
            "methods": self.methods,
            "proofs": dict(self.proofs),
            "at": self.signed_in_at,
        }

    @classmethod
    def from_session(cls, raw: Any) -> AuthRecord | None:
        if not isinstance(raw, dict):
            return None
        proofs, at = raw.get("proofs"), raw.get("at")
        if not isinstance(proofs, dict) or not isinstance(at, (int, float)):
            return None
        clean = {str(m): float(t) for m, t in proofs.items() if isinstance(t, (int, float))}
        return cls(clean, float(at))


def start_record(methods: list[str]) -> AuthRecord:
    """The record of a sign-in that proved ``methods`` just now."""
    now = clock.timestamp()
    return AuthRecord({method: now for method in methods}, now)


def current_record() -> AuthRecord | None:
    row = server_sessions.current()
    return AuthRecord.from_session(row.auth) if row is not None else None


def save_record(record: AuthRecord) -> None:
    server_sessions.save_auth(record.to_session())


def add_proof(method: str) -> AuthRecord | None:
    """A signed-in user proved ``method`` again (confirm-it-is-you)."""
    record = current_record()
    if record is not None:
        record.add(method)
        save_record(record)
    return record
