"""Authenticators: what a user enrolled and can prove, of every type.

``base`` says what a type is and holds the registry; one module per built-in
type (``email``, ``sms``, ``password``, ``passkey``, and ``app`` for the
authenticator app and recovery codes). Authenticators that do not live on the user row share one
table (``store``); the app's and the codes' checks are ``totp`` and
``recovery``; ``sealing`` keeps their secrets encrypted.
"""

from __future__ import annotations

from .app import RecoveryType, TotpType
from .base import ARE, HAVE, KNOW, AuthenticatorType, Registry
from .email import EmailType
from .passkey import PasskeyType
from .password import PasswordType
from .sms import SmsType


def builtin_registry() -> Registry:
    """The types every app starts with, in the order the second step offers them."""
    registry = Registry({})
    kinds = (PasskeyType(), TotpType(), SmsType(), EmailType(), PasswordType(), RecoveryType())
    for kind in kinds:
        registry.register(kind)
    return registry


__all__ = ["ARE", "HAVE", "KNOW", "AuthenticatorType", "Registry", "builtin_registry"]
