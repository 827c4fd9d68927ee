"""Authenticator apps (TOTP, RFC 6238): secrets, the QR code, and the check.

The codes come from ``pyotp`` (HOTP truncation, base32): a small, widely
used implementation checked here against RFC 6238's own test vectors. What
pyotp leaves to us is done here: the time step is computed from the
extension's clock (naive UTC; pyotp would read a naive datetime as local
time), the window is searched with constant-time compares so the step that
matched is known, and that step is accepted at most once per app by one
conditional UPDATE (``Authenticators.advance_counter``).

A row's ``data`` is ``{"secret": <sealed>}``; the secret is never stored in
clear (see ``sealing``).
"""

from __future__ import annotations

import hmac
import io
import logging
from datetime import datetime, timezone
from typing import Any

import pyotp
import segno

from . import sealing
from .store import Authenticators

log = logging.getLogger("flask_passwordless")

TYPE = "totp"
INTERVAL = 30
DIGITS = 6
#: 32 base32 characters: 160 bits, the HMAC-SHA1 key length RFC 4226 recommends.
SECRET_LENGTH = 32


def new_secret() -> str:
    """A fresh 160-bit secret in base32 (from ``secrets``, through pyotp)."""
    return pyotp.random_base32(length=SECRET_LENGTH)


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def qr_svg(uri: str, title: str = "QR code to add this account to an authenticator app") -> str:
    """The QR code as inline SVG markup: no script, no image request, so it works
    under a strict CSP. segno escapes the title; the rest is paths it drew, so
    the result is safe to mark as Markup."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        title=title,
        scale=4,
        nl=False,
        svgclass="passwordless-qr",
        lineclass=None,
    )
    return buffer.getvalue().decode().replace("<svg ", '<svg role="img" ', 1)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it by hand (apps ignore the spaces)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def time_step(at: datetime) -> int:
    """The RFC 6238 step of a moment; naive datetimes are UTC, as in the tables."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return int(at.timestamp()) // INTERVAL


def matching_step(
    secret: str, code: str, at: datetime, window: int = 1, *, digits: int = DIGITS
) -> int | None:
    """The time step whose code this is, looking ``window`` steps either side of
    ``at``; None when it matches none. Every candidate is compared, in constant
    time, so the answer does not leak through timing which one matched."""
    if not isinstance(code, str):
        return None
    code = "".join(code.split())
    if len(code) != digits or not code.isascii() or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=digits, interval=INTERVAL)
    now_step, found = time_step(at), None
    for step in range(now_step - window, now_step + window + 1):
        if step >= 0 and hmac.compare_digest(otp.generate_otp(step), code):
            found = step  # the latest match wins: it refuses more later codes, never fewer
    return found


def data_for(secret: str, user_key: str) -> dict:
    """A new row's data: the secret sealed for its owner."""
    return {"secret": sealing.seal(secret, user_key)}


def enrol(
    store: Authenticators, user_key: str, secret: str, code: str, now: datetime, name: str = ""
) -> int | None:
    """Save an app once a code from it is confirmed; returns the new row's id, or
    None when the code does not match. The confirming step is recorded, so the
    same code cannot then sign in."""
    step = matching_step(secret, code, now)
    if step is None:
        return None
    return store.add(user_key, TYPE, data_for(secret, user_key), name=name, now=now, counter=step)


def check(store: Authenticators, row: Any, code: str, now: datetime, user_key: str) -> bool:
    """Is this the app's code now, and the first use of its time step? At most one
    of any number of parallel submissions of one code gets True.

    A secret still sealed under a fallback key is sealed again under the
    current one after a success, so dropping the old key later loses nothing.
    """
    if row is None or row.type != TYPE or row.user_key != user_key:
        return False
    try:
        secret, current = sealing.unseal(row.data["secret"], user_key)
    except (sealing.SealBroken, KeyError, TypeError):
        log.warning("flask-passwordless: authenticator %s: its secret does not open", row.id)
        return False
    step = matching_step(secret, code, now)
    if step is None or not store.advance_counter(row.id, step, now):
        return False
    if not current:
        store.set_data(row.id, {**row.data, "secret": sealing.seal(secret, user_key)})
    return True
