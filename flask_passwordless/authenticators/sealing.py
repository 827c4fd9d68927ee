"""Small secrets encrypted at rest, bound to the user who owns them.

A TOTP secret must be readable by the server (it computes the codes), so it
cannot be hashed like a one-time code; it is sealed instead: AES-256-GCM under
a key derived from ``SECRET_KEY`` with HKDF. A stolen database alone then
holds no usable secret. Opening tries ``SECRET_KEY_FALLBACKS`` too, so the key
can be rotated; :func:`unseal` says when a fallback was needed, so the caller
can seal the secret again under the current key.

The owner's user key is the associated data: a sealed value copied onto
another user's row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

VERSION = "v1"
_INFO = b"flask-passwordless totp v1"
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """A sealed value that no current or fallback key opens for this owner
    (tampered, copied from another user, or sealed under a key since dropped)."""


_derived: dict[Any, AESGCM] = {}


def _cipher(secret_key: str | bytes) -> AESGCM:
    if secret_key not in _derived:
        material = secret_key.encode() if isinstance(secret_key, str) else secret_key
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
        _derived[secret_key] = AESGCM(key)
    return _derived[secret_key]


def _ciphers() -> list[AESGCM]:
    """The current key first, then each SECRET_KEY_FALLBACKS entry."""
    config = current_app.config
    raw = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return [_cipher(key) for key in raw if key]


def _associated(user_key: str) -> bytes:
    return _INFO + b"\x00" + str(user_key).encode()


def seal(plaintext: str, user_key: str) -> str:
    """``v1.<base64url(nonce + ciphertext + tag)>`` under the current key."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _ciphers()[0].encrypt(nonce, plaintext.encode(), _associated(user_key))
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode()}"


def unseal(sealed: str, user_key: str) -> tuple[str, bool]:
    """The plaintext, and whether it was sealed under the current key.

    Raises :class:`SealBroken` when no key opens it for this owner.
    """
    version, _, body = sealed.partition(".") if isinstance(sealed, str) else ("", "", "")
    if version != VERSION:
        raise SealBroken("unknown sealing version")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as error:
        raise SealBroken("not base64url") from error
    nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    if len(nonce) != _NONCE_BYTES or not ciphertext:
        raise SealBroken("too short")
    associated = _associated(user_key)
    for position, cipher in enumerate(_ciphers()):
        try:
            plain = cipher.decrypt(nonce, ciphertext, associated)
        except InvalidTag:
            continue
        return plain.decode(), position == 0
    raise SealBroken("no key opens it for this owner")


def open_sealed(sealed: str, user_key: str) -> str:
    """The plaintext alone (see :func:`unseal`)."""
    return unseal(sealed, user_key)[0]
