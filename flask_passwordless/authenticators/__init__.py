"""Authenticators: the registry of types, and one module per built-in type."""

from __future__ import annotations

from .app import RecoveryType, TotpType
from .base import ARE, HAVE, KNOW, AuthenticatorType, Registry
from .email import EmailType
from .password import PasswordType
from .sms import SmsType


def builtin_registry() -> Registry:
    """The types every app starts with, in the order the second step offers them."""
    registry = Registry({})
    for kind in (TotpType(), SmsType(), EmailType(), PasswordType(), RecoveryType()):
        registry.register(kind)
    return registry


__all__ = ["ARE", "HAVE", "KNOW", "AuthenticatorType", "Registry", "builtin_registry"]
