"""Rate limits: which apply to sending and to checking, and whose budget each spends.

Keys are the client (``request.remote_addr``; put Werkzeug's ProxyFix in front
when behind a proxy) or the normalised identifier being targeted, so known and
unknown addresses are limited alike.

Send budgets per identifier are counted per client network as well: someone who
knows an address, but not its mailbox, spends only the budget of the networks
they ask from, never the owner's. A larger cap across all networks bounds what
many networks together can send to one inbox or phone. Each flow (sign-in,
reset, SMS sign-in, phone check, second step) has budgets of its own, so
spending one never blocks another.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial, wraps
from typing import Any

from email_validator import EmailNotValidError
from flask import Blueprint, Flask, current_app, request, session
from flask_limiter import Limiter
from flask_login import current_user
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from .config import setting
from .errors import RateLimited
from .forms import normalise_email
from .phone import PhoneRefused, parse_phone
from .session import PARTIAL, PENDING
from .state import state

log = logging.getLogger("flask_passwordless")
_lock = threading.Lock()


def client_ip() -> str:
    """The client of the per-IP limits: its IPv4 address, or its IPv6 /64
    (PASSWORDLESS_IPV6_CLIENT_PREFIX): one subscriber is handed a whole /64 and
    may use any address in it."""
    return _grouped(request.remote_addr, 32, setting("IPV6_CLIENT_PREFIX"))


def client_network() -> str:
    """The client's network for the per-identifier send budgets: its /24 or /48 by
    default (PASSWORDLESS_CLIENT_NETWORK_PREFIXES), what one home, office or
    hosting customer usually holds."""
    ipv4, ipv6 = setting("CLIENT_NETWORK_PREFIXES")
    return _grouped(request.remote_addr, ipv4, ipv6)


def _grouped(remote_addr: str | None, ipv4: int, ipv6: int) -> str:
    raw = remote_addr or ""
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])  # no zone: fe80::1%eth0
    except ValueError:
        return raw[:64] or "unknown"  # not an address (a proxy set-up's doing): as given
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = ipv4 if address.version == 4 else ipv6
    if prefix >= address.max_prefixlen:
        return address.compressed
    return ipaddress.ip_network((address, prefix), strict=False).compressed


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
        if found is None and current_user.is_authenticated:
            # Confirm-it-is-you before its step exists: the signed-in user's own key,
            # never one bucket that every account shares.
            found = "2fa:" + state().adapter.key_of(current_user._get_current_object())
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


def limits_on() -> bool:
    """The built-in limits apply: ours are on, and so is the Limiter."""
    return not _disabled() and state().limiter.enabled


def spend(limit_setting: str, key: str) -> bool:
    """Count one use against a limit outside any view (in the limiter's storage, so
    every process shares it); False once the budget is spent."""
    if not limits_on():
        return True
    budget = setting(limit_setting)
    return all(count_use(item, "passwordless", limit_setting, key) for item in parse_many(budget))


def spend_send_budget(flow: str, identifier: str) -> None:
    """Count one request to send ``flow``'s message to ``identifier``; raise RateLimited
    when a budget is spent.

    The budget of (identifier, client network) is spent first: a request it refuses
    touches nothing else, so one network asking in vain never spends the cap that
    all networks share.
    """
    if not limits_on():
        return
    budgets = (
        ("LIMIT_SEND_PER_IDENTIFIER", ("send", flow, identifier, client_network())),
        ("LIMIT_SEND_PER_IDENTIFIER_TOTAL", ("send-all", flow, identifier)),
    )
    for name, keys in budgets:
        items = parse_many(setting(name))
        for item in items:
            if not count_use(item, "passwordless", *keys):
                raise RateLimited(_wait(items, ("passwordless", *keys)), limit=str(item))


#: Flask-Limiter scopes of our own limits, and the setting each was made from.
_SCOPES = {
    "passwordless-send-ip": "LIMIT_SEND_PER_IP",
    "passwordless-check-ip": "LIMIT_CHECK_PER_IP",
    "passwordless-failed-checks": "LIMIT_FAILED_CHECKS_PER_IDENTIFIER",
}


def retry_after(breached: Any) -> int:
    """Seconds until a request that Flask-Limiter refused could pass.

    Flask-Limiter stops at the first limit breached, the shortest window, and
    reports that one; when a longer window of the same setting is spent too (the
    minute and the day), the day is the real wait.
    """
    scope = breached.scope if isinstance(breached.scope, str) else None
    items = [breached.limit]
    if scope in _SCOPES:
        items += [item for item in parse_many(setting(_SCOPES[scope])) if item != breached.limit]
    keys = (
        breached.key_func(),
        scope or breached.scope_for(request.endpoint or "", request.method),
    )
    return _wait(items, keys, breached=breached.limit)


def _wait(items: Iterable[RateLimitItem], keys: tuple[str, ...], breached: Any = None) -> int:
    """The longest wait among the spent windows of ``items`` under ``keys``."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    keys = (prefix, *keys) if prefix else keys
    counter, now, wait = _counter(state()), time.time(), 0.0
    for item in items:
        try:
            reset_at, remaining = counter.get_window_stats(item, *keys)
        except _storage_errors(counter):
            reset_at, remaining = now + item.get_expiry(), 0  # the storage went away
        if remaining <= 0 or item == breached:
            wait = max(wait, reset_at - now)
    return max(1, math.ceil(wait)) if wait else 60


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
    except _storage_errors(counter):
        log.warning("passwordless: rate limit storage unreachable; counting in memory meanwhile")
        with _lock:
            if current.memory_limiter is None:
                current.memory_limiter = FixedWindowRateLimiter(MemoryStorage())
        return current.memory_limiter.hit(limit, *keys)


def _storage_errors(counter: RateLimiter) -> tuple[type[BaseException], ...]:
    """What a storage failure raises, as one flat tuple. limits lets
    ``base_exceptions`` be a class or a tuple, and an except clause given a tuple
    inside a tuple raises TypeError instead (a 500 while the storage is down)."""
    own = counter.storage.base_exceptions
    return (StorageError, *(own if isinstance(own, tuple) else (own,)))


def _counter(current: Any) -> RateLimiter:
    """Flask-Limiter's own counter; while it is off (as it is when our limits are), one
    of ours on the same RATELIMIT_STORAGE_URI, so the daily SMS cap still holds and is
    still shared by every process."""
    if current.limiter.enabled:
        return current.limiter.limiter
    with _lock:
        if current.own_counter is None:
            config = current_app.config
            storage = storage_from_string(
                config.get("RATELIMIT_STORAGE_URI") or "memory://",
                **(config.get("RATELIMIT_STORAGE_OPTIONS") or {}),
            )
            current.own_counter = FixedWindowRateLimiter(storage)
        return current.own_counter


def _disabled() -> bool:
    return not setting("LIMITER_ENABLED")


#: Flask-Limiter settings whose limits apply to routes of the whole app: with any
#: of them set, a Limiter the extension creates keeps its hooks app-wide.
APP_WIDE_LIMITS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")

#: Flask-Limiter's three request hooks: before, after and teardown.
Hooks = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]


def take_request_hooks(app: Flask, limiter: Limiter) -> Hooks | None:
    """Take the before, after and teardown hooks that ``limiter`` put on every
    request of ``app``, so that the blueprint runs them on its own pages only.

    Every limit of a Limiter the extension creates is on the blueprint's views
    (the after hook is what applies ``deduct_when``), so the host's pages paid for
    hooks that had nothing to check: about a tenth of a signed-in page. Limits for
    the whole app (``APP_WIDE_LIMITS``) keep them app-wide, and so does a
    Flask-Limiter whose hooks are not where this version of it puts them: None.
    """
    if not limiter.enabled or any(app.config.get(name) for name in APP_WIDE_LIMITS):
        return None
    befores = app.before_request_funcs.get(None, [])
    afters = app.after_request_funcs.get(None, [])
    teardowns = app.teardown_request_funcs.get(None, [])
    before = limiter._check_request_limit
    after = next((f for f in afters if isinstance(f, partial) and f.args == (limiter,)), None)
    teardown = next((f for f in teardowns if getattr(f, "__self__", None) is limiter), None)
    if before not in befores or after is None or teardown is None:
        return None
    befores.remove(before)
    afters.remove(after)
    teardowns.remove(teardown)
    return before, after, teardown


class Limits:
    """Decorators for the blueprint's views, bound to one app's Limiter; ``hooks``
    are the Limiter's request hooks when they run on the blueprint only."""

    def __init__(self, limiter: Limiter, hooks: Hooks | None = None) -> None:
        self.limiter = limiter
        self.hooks = hooks

    def install_hooks(self, bp: Blueprint) -> None:
        """The Limiter's hooks on the blueprint's requests, registered before the
        blueprint's own (its before hook runs first, its after hook last, as when
        they were the app's)."""
        if self.hooks is not None:
            before, after, teardown = self.hooks
            bp.before_request(before)
            bp.after_request(after)
            bp.teardown_request(teardown)

    def sends(self, channel: str, flow: str | None = None) -> Callable[[Any], Any]:
        """A per-IP limit, and the budgets of the identifier typed (see
        spend_send_budget), on POSTs that send a message. ``flow`` names the budget
        (sign-in and reset each have their own); it defaults to the channel."""
        identifier_key = {"email": _email_key, "phone": _phone_key, "partial": _partial_key}[
            channel
        ]
        budget = flow or channel
        per_ip = self.limiter.shared_limit(
            lambda: setting("LIMIT_SEND_PER_IP"),
            scope="passwordless-send-ip",
            key_func=client_ip,
            methods=["POST"],
            exempt_when=_disabled,
        )

        def decorate(view: Any) -> Any:
            @wraps(view)
            def spending(*args: Any, **kwargs: Any) -> Any:
                if request.method == "POST":
                    spend_send_budget(budget, identifier_key())
                return view(*args, **kwargs)

            return per_ip(spending)

        return decorate

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
