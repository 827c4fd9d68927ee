"""Flask-Limiter wiring: which limits apply to sending and to checking.

Keys are the client IP (``request.remote_addr``; put Werkzeug's ProxyFix in
front when behind a proxy) or the normalised identifier being targeted, so
known and unknown addresses are limited alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request, session
from flask_limiter import Limiter

from .config import setting
from .phone import PhoneRefused, parse_phone
from .session import PARTIAL, PENDING


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _typed_email() -> str:
    return " ".join(request.form.get("email", "").split()).lower()[:320]


def _email_key() -> str:
    return "email:" + _typed_email()


def _phone_key() -> str:
    """E.164 when it parses, so "(415) 555-2671" and "+14155552671" share a budget."""
    raw = request.form.get("phone", "")
    try:
        return "phone:" + parse_phone(raw)
    except PhoneRefused:
        return "phone:" + "".join(ch for ch in raw if ch.isdigit())[:20]


def _partial_key() -> str:
    """The half-signed-in user, so resending second-factor codes has a budget per user."""
    partial = session.get(PARTIAL)
    return "user:" + str(partial.get("key") if isinstance(partial, dict) else None)


def _checked_identifier() -> str:
    """Whose secret this check targets: the code this browser waits for, or the
    email typed with a password."""
    for key in (PENDING, PARTIAL):
        waiting = session.get(key)
        if isinstance(waiting, dict) and waiting.get("identifier"):
            return "checked:" + str(waiting["identifier"])
    return "checked:" + _typed_email()


def _failed(response: Any) -> bool:
    """A check failed unless it redirected onwards (success is always a redirect)."""
    return response.status_code not in (302, 303)


def _disabled() -> bool:
    return not setting("LIMITER_ENABLED")


class Limits:
    """Decorators for the blueprint's views, bound to one app's Limiter."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def sends(self, channel: str) -> Callable[[Any], Any]:
        """Per-IP and per-identifier limits on POSTs that send a message."""
        identifier_key = {"email": _email_key, "phone": _phone_key, "partial": _partial_key}[
            channel
        ]
        per_ip = self.limiter.shared_limit(
            lambda: setting("LIMIT_SEND_PER_IP"),
            scope="passwordless-send-ip",
            key_func=client_ip,
            methods=["POST"],
            exempt_when=_disabled,
        )
        per_identifier = self.limiter.shared_limit(
            lambda: setting("LIMIT_SEND_PER_IDENTIFIER"),
            scope=f"passwordless-send-{channel}",
            key_func=identifier_key,
            methods=["POST"],
            exempt_when=_disabled,
        )
        return lambda view: per_ip(per_identifier(view))

    def checks(self, view: Any) -> Any:
        """Per-IP limit on every request that checks a code, link or password."""
        return self.limiter.shared_limit(
            lambda: setting("LIMIT_CHECK_PER_IP"),
            scope="passwordless-check-ip",
            key_func=client_ip,
            exempt_when=_disabled,
        )(view)

    def failed_checks(self, view: Any) -> Any:
        """Per-identifier limit that counts only failed POSTs (Flask-Limiter's deduct_when)."""
        return self.limiter.shared_limit(
            lambda: setting("LIMIT_FAILED_CHECKS_PER_IDENTIFIER"),
            scope="passwordless-failed-checks",
            key_func=_checked_identifier,
            methods=["POST"],
            deduct_when=_failed,
            exempt_when=_disabled,
        )(view)
