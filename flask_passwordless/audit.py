"""The audit trail: one structured log line per security event, from the signals.

Lines go to the ``flask_passwordless.audit`` logger, as ``key=value`` pairs.
They never hold a secret, a code or a token; an email or phone appears only
as a short keyed fingerprint, enough to follow one identifier through the log.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import current_app, has_request_context

from . import request_info, signals
from .state import state

log = logging.getLogger("flask_passwordless.audit")

EVENTS = {
    "login_link_sent": signals.login_link_sent,
    "code_sent": signals.code_sent,
    "user_logged_in": signals.user_logged_in,
    "login_failed": signals.login_failed,
    "login_locked": signals.login_locked,
    "user_registered": signals.user_registered,
    "password_reset_requested": signals.password_reset_requested,
    "password_changed": signals.password_changed,
    "device_remembered": signals.device_remembered,
    "device_revoked": signals.device_revoked,
    "phone_verified": signals.phone_verified,
    "phone_removed": signals.phone_removed,
    "two_factor_changed": signals.two_factor_changed,
    "sessions_revoked": signals.sessions_revoked,
    "session_started": signals.session_started,
    "session_ended": signals.session_ended,
    "authenticator_added": signals.authenticator_added,
    "authenticator_removed": signals.authenticator_removed,
    "recovery_code_used": signals.recovery_code_used,
    "rate_limited": signals.rate_limited,
}
_PERSONAL = {"email", "identifier", "phone_number"}


def fingerprint(value: str) -> str:
    """A short keyed hash of an email or phone: stable per app, not reversible."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.digest(key, value.encode(), "sha256").hex()[:12]


def _describe(data: dict[str, Any]) -> str:
    adapter = state().adapter
    fields = []
    for name, value in sorted(data.items()):
        if value is None:
            continue
        if name == "user":
            value = adapter.key_of(value)
        elif name == "device":
            value = value.id
        elif name in _PERSONAL:
            value = fingerprint(str(value))
            name += "_fp"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        fields.append(f"{name}={value}")
    if has_request_context():
        fields.append(f"ip={request_info.client_address()}")
    return " ".join(fields)


def _receiver(event: str) -> Any:
    def record(sender: Any, **data: Any) -> None:
        if log.isEnabledFor(logging.INFO) and "passwordless" in getattr(sender, "extensions", {}):
            log.info("event=%s %s", event, _describe(data))

    return record


_receivers = [(signal, _receiver(event)) for event, signal in EVENTS.items()]


def connect() -> None:
    """Subscribe the audit log to every signal (idempotent: blinker keeps one of each)."""
    for signal, receiver in _receivers:
        signal.connect(receiver, weak=False)
