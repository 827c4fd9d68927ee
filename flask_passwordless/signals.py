"""Blinker signals, sent with the app as sender (like Flask's own)."""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal
from flask import current_app

_signals = Namespace()

#: A sign-in email with a link and a code was sent (``user``, ``email``).
login_link_sent = _signals.signal("login-link-sent")
#: A one-time code was sent (``channel``: "email" or "sms", ``identifier``).
code_sent = _signals.signal("code-sent")
#: A user signed in (``user``, ``method``).
user_logged_in = _signals.signal("user-logged-in")
#: A link or code was refused (``identifier`` when known, ``reason``).
login_failed = _signals.signal("login-failed")
#: An identifier reached PASSWORDLESS_LOCKOUT_MAX_FAILURES (``identifier``, ``failures``).
login_locked = _signals.signal("login-locked")
#: An account was created by a sign-up link or code (``user``).
user_registered = _signals.signal("user-registered")
#: A password reset link was requested (``email``).
password_reset_requested = _signals.signal("password-reset-requested")
#: A password was set or changed (``user``).
password_changed = _signals.signal("password-changed")
#: A browser was remembered as a trusted device (``user``, ``device``).
device_remembered = _signals.signal("device-remembered")
#: A remembered device was forgotten (``user``, ``device``).
device_revoked = _signals.signal("device-revoked")
#: Two-step sign-in was turned on or off (``user``, ``enabled``).
two_factor_changed = _signals.signal("two-factor-changed")
#: The phone number was removed (``user``).
phone_removed = _signals.signal("phone-removed")
#: Every session of a user was ended ("sign out everywhere") (``user``).
sessions_revoked = _signals.signal("sessions-revoked")
#: A session started: a browser signed in (``user``, ``session_id``).
session_started = _signals.signal("session-started")
#: A session ended (``user``, ``session_id``, ``reason``: "sign-out", "revoked", "idle"
#: or "expired").
session_ended = _signals.signal("session-ended")
#: The account's address changed, once the new one proved it (``user``, ``old``, ``new``).
email_changed = _signals.signal("email-changed")
#: A phone number was verified (``user``, ``phone_number``).
phone_verified = _signals.signal("phone-verified")
#: An authenticator was enrolled (``user``, ``type``: "totp", "recovery", ...).
authenticator_added = _signals.signal("authenticator-added")
#: An authenticator was removed (``user``, ``type``).
authenticator_removed = _signals.signal("authenticator-removed")
#: A recovery code was used at the second step (``user``, ``remaining``).
recovery_code_used = _signals.signal("recovery-code-used")
#: A passkey's signature counter went backwards: it may have been cloned; the use was
#: refused (``user``, ``authenticator_id``, ``counter``).
passkey_cloned = _signals.signal("passkey-cloned")
#: A rate limit was hit (``limit``, ``endpoint``).
rate_limited = _signals.signal("rate-limited")


def emit(signal: Signal, **data: Any) -> None:
    """Send ``signal`` with the current app as sender, as Flask's own signals do."""
    signal.send(current_app._get_current_object(), **data)  # type: ignore[attr-defined]
