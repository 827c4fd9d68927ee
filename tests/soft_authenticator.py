"""A small software WebAuthn authenticator (and browser) for the server tests.

Keys are P-256 from ``cryptography``; the attestation object and COSE key are
CBOR from ``cbor2``. It answers the options JSON the server sends exactly as a
browser with a platform authenticator would, and each knob breaks one thing
the server must check (origin, RP ID hash, signature, counter, user handle).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "https://app.example.com"
RP_ID = "app.example.com"
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    counter: int = 0


class SoftAuthenticator:
    """``create(options)`` and ``get(options)`` return the credential JSON the
    page's script would POST. ``counting=False`` is an authenticator that always
    reports 0 (as many synced passkeys do)."""

    def __init__(self, *, user_verified: bool = True, counting: bool = True) -> None:
        self.user_verified = user_verified
        self.counting = counting
        self.credentials: dict[bytes, Credential] = {}

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | BE | BS | extra

    def create(self, options: dict, *, origin: str = ORIGIN, rp_id: str | None = None) -> str:
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = os.urandom(32)
        handle = unb64(options["user"]["id"])
        rp_of_options = options["rp"]["id"]
        self.credentials[credential_id] = Credential(credential_id, key, handle, rp_of_options)
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(credential_id)) + credential_id + cose
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(AT)])
            + struct.pack(">I", 0)
            + attested
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64(credential_id),
                "rawId": b64(credential_id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(attestation),
                    "transports": ["internal"],
                },
            }
        )

    def get(
        self,
        options: dict,
        credential_id: bytes | None = None,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        counter: int | None = None,
        bad_signature: bool = False,
        user_handle: bytes | None = None,
    ) -> str:
        """Sign the challenge with ``credential_id`` (else the only/first one)."""
        credential = self.credentials[credential_id or next(iter(self.credentials))]
        if counter is None:
            if self.counting:
                credential.counter += 1
            counter = credential.counter
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", counter)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if bad_signature:
            signature = credential.key.sign(signed + b"x", ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64(credential.id),
                "rawId": b64(credential.id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": b64(user_handle or credential.user_handle),
                },
            }
        )

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()
