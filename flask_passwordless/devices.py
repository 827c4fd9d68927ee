"""Remembered devices: a signed cookie in the browser, a revocable row on the server.

The cookie (signed with itsdangerous) holds ``[row id, secret]`` pairs, one
per account remembered in this browser. A device counts only while its row
exists, belongs to the user, is not revoked or expired, and the cookie's
secret matches the row's HMAC: revoking the row forgets the browser whatever
its cookie says.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from flask import after_this_request, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

from . import clock, request_info
from .config import setting
from .state import state
from .tokens import candidate_hashes, hash_secret
from .user_agents import describe_user_agent

SALT = "flask-passwordless remembered device"
MAX_ACCOUNTS_PER_BROWSER = 5


def cookie_secure() -> bool:
    secure = setting("DEVICE_COOKIE_SECURE")
    return bool(current_app.config["SESSION_COOKIE_SECURE"] if secure is None else secure)


def cookie_name() -> str:
    """``__Host-`` when Secure: the browser then refuses it from subdomains or HTTP."""
    return ("__Host-" if cookie_secure() else "") + setting("DEVICE_COOKIE_NAME")


def _max_age() -> int:
    return int(setting("REMEMBER_DEVICE_DAYS") * 86400)


def _serializer() -> URLSafeTimedSerializer:
    config = current_app.config
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or ()), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=SALT)


def _entries() -> list[tuple[int, str]]:
    """The cookie's (id, secret) pairs; nothing at all if it is forged, old or odd."""
    raw = request.cookies.get(cookie_name())
    if not raw or len(raw) > 4000:
        return []
    try:
        data = _serializer().loads(raw, max_age=_max_age())
    except BadData:
        return []
    if not isinstance(data, list):
        return []
    return [
        (entry[0], entry[1])
        for entry in data[:MAX_ACCOUNTS_PER_BROWSER]
        if isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], int)
        and isinstance(entry[1], str)
    ]


def _valid_row(user: Any, device_id: int, secret: str) -> Any | None:
    row = state().devices.get(device_id)
    if row is None or row.user_key != state().adapter.key_of(user):
        return None
    if row.revoked_at is not None or row.expires_at <= clock.now():
        return None
    if not any(hmac.compare_digest(h, row.secret_hash) for h in candidate_hashes(secret)):
        return None
    return row


def this_device(user: Any) -> Any | None:
    """The row of this browser for ``user``, if it is a valid remembered device."""
    for device_id, secret in _entries():
        row = _valid_row(user, device_id, secret)
        if row is not None:
            return row
    return None


def touch(row: Any) -> None:
    """Record a use: last seen, from where."""
    state().devices.touch(row.id, clock.now(), request_info.client_address())


def remember(user: Any) -> Any:
    """Create a device row for ``user`` and add it to this browser's cookie."""
    now, secret = clock.now(), secrets.token_urlsafe(32)
    agent = request_info.user_agent()
    row = state().devices.add(
        user_key=state().adapter.key_of(user),
        secret_hash=hash_secret(secret),
        name=describe_user_agent(agent),
        user_agent=agent,
        ip=request_info.client_address(),
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=_max_age()),
    )
    others = [
        [device_id, entry_secret]
        for device_id, entry_secret in _entries()
        if _valid_row(user, device_id, entry_secret) is None
    ]
    entries = [[row.id, secret], *others][:MAX_ACCOUNTS_PER_BROWSER]
    value = _serializer().dumps(entries)

    @after_this_request
    def _set_cookie(response: Any) -> Any:
        response.set_cookie(
            cookie_name(),
            value,
            max_age=_max_age(),
            path="/",
            secure=cookie_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response

    return row


def devices_of(user: Any) -> list[Any]:
    """Live devices, most recently used first."""
    return state().devices.live_of(state().adapter.key_of(user), clock.now())


def revoke(user: Any, device_id: int | None = None) -> list[Any]:
    """Revoke one device of ``user`` (or all of them); returns the rows this call revoked.

    One conditional UPDATE: when several requests revoke the same device at once,
    exactly one of them gets it back (and signals it).
    """
    rows = [d for d in devices_of(user) if device_id is None or d.id == device_id]
    if not rows:
        return []
    won = state().devices.revoke([row.id for row in rows], clock.now())
    return [row for row in rows if row.id in won]


def cleanup(batch_size: int = 1000) -> int:
    """Delete expired and revoked device rows in short batches."""
    return state().devices.cleanup(clock.now(), batch_size)
