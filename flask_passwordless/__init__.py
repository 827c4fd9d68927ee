"""flask-passwordless: safe, server-rendered sign-in for Flask."""

from __future__ import annotations

from .adapter import UserAdapter
from .authenticators import AuthenticatorType
from .delivery import Message
from .errors import PasswordlessError
from .extension import Passwordless
from .models import PasswordlessUserMixin
from .session import auth_required
from .signals import (
    authenticator_added,
    authenticator_removed,
    code_sent,
    device_remembered,
    device_revoked,
    email_changed,
    login_failed,
    login_link_sent,
    login_locked,
    passkey_cloned,
    password_changed,
    password_reset_requested,
    phone_removed,
    phone_verified,
    rate_limited,
    recovery_code_used,
    session_ended,
    session_started,
    sessions_revoked,
    two_factor_changed,
    user_logged_in,
    user_registered,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticatorType",
    "Message",
    "Passwordless",
    "PasswordlessError",
    "PasswordlessUserMixin",
    "UserAdapter",
    "auth_required",
    "authenticator_added",
    "authenticator_removed",
    "code_sent",
    "device_remembered",
    "device_revoked",
    "email_changed",
    "login_failed",
    "login_locked",
    "login_link_sent",
    "password_changed",
    "password_reset_requested",
    "phone_removed",
    "phone_verified",
    "rate_limited",
    "passkey_cloned",
    "recovery_code_used",
    "session_ended",
    "session_started",
    "sessions_revoked",
    "two_factor_changed",
    "user_logged_in",
    "user_registered",
]
