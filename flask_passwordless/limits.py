"""Flask-Limiter wiring: which limits apply to sending and to checking.

Keys are the client IP (``request.remote_addr``; put Werkzeug's ProxyFix in
front when behind a proxy) or the normalised identifier being targeted, so
known and unknown addresses are limited alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError
from flask import current_app, request, session
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from .config import setting
from .forms import normalise_email
from .phone import PhoneRefused, parse_phone
from .session import PARTIAL, PENDING
from .state import state

log = logging.getLogger("flask_passwordless")
_lock = threading.Lock()


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _typed_email() -> str:
    """The address as it will be stored, so every spelling of it shares one budget."""
    raw = request.form.get("email", "")[:320]
    try:
        return normalise_email(raw)
    except EmailNotValidError:
        return " ".join(raw.split()).lower()


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


def _waiting_for(key: str) -> Callable[[], str]:
    """Whose code a check targets: the identifier this browser waits on under ``key``
    (each page reads only its own record, so another flow cannot move the key)."""

    def identifier() -> str:
        waiting = session.get(key)
        found = waiting.get("identifier") if isinstance(waiting, dict) else None
        return "checked:" + str(found)

    return identifier


_CHECKED = {
    "pending": _waiting_for(PENDING),
    "partial": _waiting_for(PARTIAL),
    "email": lambda: "checked:" + _typed_email(),
}


def _failed(response: Any) -> bool:
    """A check failed unless it redirected onwards (success is always a redirect)."""
    return response.status_code not in (302, 303)


def spend(limit_setting: str, key: str) -> bool:
    """Count one use against a limit outside any view (in the limiter's storage, so
    every process shares it); False once the budget is spent."""
    limiter = state().limiter
    if _disabled() or not limiter.enabled:
        return True
    budget = setting(limit_setting)
    return all(count_use(item, "passwordless", limit_setting, key) for item in parse_many(budget))


def count_use(limit: RateLimitItem, *keys: str) -> bool:
    """Count one use against ``limit`` in the limiter's storage, under the app's
    RATELIMIT_KEY_PREFIX as the limiter's own keys are; False once it is spent.

    Should the storage fail before Flask-Limiter has noticed that it is down, this
    process counts in memory meanwhile, with a warning, as Flask-Limiter's own
    fallback does: never a 500, never an uncounted use.
    """
    current = state()
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    keys = (prefix, *keys) if prefix else keys
    counter = _counter(current)
    try:
        return counter.hit(limit, *keys)
    except (StorageError, counter.storage.base_exceptions):
        log.warning("passwordless: rate limit storage unreachable; counting in memory meanwhile")
        with _lock:
            if getattr(current, "memory_limiter", None) is None:
                current.memory_limiter = FixedWindowRateLimiter(MemoryStorage())
        return current.memory_limiter.hit(limit, *keys)


def _counter(current: Any) -> RateLimiter:
    """Flask-Limiter's own counter; while it is off (as it is when our limits are), one
    of ours on the same RATELIMIT_STORAGE_URI, so the daily SMS cap still holds and is
    still shared by every process."""
    if current.limiter.enabled:
        return current.limiter.limiter
    with _lock:
        if getattr(current, "own_counter", None) is None:
            config = current_app.config
            storage = storage_from_string(
                config.get("RATELIMIT_STORAGE_URI") or "memory://",
                **(config.get("RATELIMIT_STORAGE_OPTIONS") or {}),
            )
            current.own_counter = FixedWindowRateLimiter(storage)
        return current.own_counter


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

    def failed_checks(self, source: str) -> Callable[[Any], Any]:
        """Per-identifier limit that counts only failed POSTs (Flask-Limiter's
        deduct_when); ``source`` says where the view finds the identifier."""
        return self.limiter.shared_limit(
            lambda: setting("LIMIT_FAILED_CHECKS_PER_IDENTIFIER"),
            scope="passwordless-failed-checks",
            key_func=_CHECKED[source],
            methods=["POST"],
            deduct_when=_failed,
            exempt_when=_disabled,
        )
