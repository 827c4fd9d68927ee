"""Passkeys (WebAuthn): the relying party, single-use challenges, and the checks.

Everything WebAuthn asks of a server (CBOR, COSE keys, attestation, signatures,
the client data and authenticator data checks) is py_webauthn's; this module
decides what it is asked and what its answer means here:

- A *challenge* is a one-time secret of the secrets table (``tokens``): 256
  random bits, only their HMAC stored, at most PASSWORDLESS_WEBAUTHN_TIMEOUT
  (5 minutes) old, used by the one conditional UPDATE that consumes a link. A
  signed cookie of this browser's holds the row's id, so a challenge issued to
  one browser is refused in another, even with the right value.
- A passkey's row is found by the SHA-256 of its credential id (the unique
  ``lookup`` column), never by reading every row's JSON, and must belong to the
  user being checked: a passkey of account A never confirms account B.
- The signature counter moves forward by one conditional UPDATE
  (``Authenticators.advance_counter``); a counter that does not (when either
  side is non-zero) is refused and signalled as a possible clone.
- The user handle is random and kept in a row of its own, so it never changes
  with the ``auth_id`` or the address.

A row's ``data`` is ``{"public_key", "aaguid", "backed_up", "multi_device",
"transports"}``; nothing in it is secret.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import webauthn
from flask import after_this_request, current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import clock, signals
from ..config import setting
from ..delivery import base_url, site_name
from ..errors import CheckRefused, SecretInvalid
from ..i18n import lazy_gettext, ngettext
from ..request_info import printable
from ..signals import emit
from ..state import state
from .base import HAVE, AuthenticatorType

TYPE = "passkey"
#: The row that holds a user's random user handle.
HANDLE_TYPE = "passkey-handle"
#: The extra proof of a passkey that verified its user (PIN, fingerprint, face):
#: a second, independent authenticator in the auth record, so the session is at
#: level 2 (NIST SP 800-63B-4: a multi-factor cryptographic authenticator).
VERIFIED = "user-verified"
#: Challenge purposes (rows of the secrets table), one per journey.
LOGIN, ADD, STEP = "passkey-login", "passkey-add", "passkey-step"
#: The cookie that keeps the id of this browser's challenge for each journey.
CHALLENGES = "passwordless_passkey"
#: The longest credential JSON a form may carry (a big attestation fits easily).
MAX_JSON = 16_384
_UV = "_passwordless_passkey_uv"

UNKNOWN = lazy_gettext(
    "This passkey is not known here: it may have been removed from your account. "
    "Sign in another way, then create a new one."
)
NOT_THIS_ACCOUNT = lazy_gettext(
    "That passkey belongs to another account. Use a passkey of this account."
)
EXPIRED = lazy_gettext("The passkey request took too long or was already used. Please try again.")
BROKEN = lazy_gettext("The browser sent a passkey answer we could not read. Please try again.")
REFUSED = lazy_gettext("The passkey could not be checked. Please try again.")
CLONED = lazy_gettext(
    "This passkey was refused: its use counter went backwards, which can mean a copy of it "
    "exists. Sign in another way and remove it."
)
ALREADY_SAVED = lazy_gettext("This passkey is already saved.")


class PasskeyRefused(CheckRefused):
    """A passkey answer that did not pass; the message says what to do."""


# -- relying party -----------------------------------------------------------


def rp_id() -> str:
    """PASSWORDLESS_WEBAUTHN_RP_ID, else the base URL's host (never the request's)."""
    return setting("WEBAUTHN_RP_ID") or (base_url().hostname or "")


def origins() -> list[str]:
    """The base URL's origin, and PASSWORDLESS_WEBAUTHN_ORIGINS."""
    base = base_url()
    return [f"{base.scheme}://{base.netloc}", *(setting("WEBAUTHN_ORIGINS") or ())]


def _timeout() -> int:
    return max(1, min(int(setting("WEBAUTHN_TIMEOUT")), 300))


def lookup_of(credential_id: bytes) -> str:
    return hashlib.sha256(credential_id).hexdigest()


# -- challenges ---------------------------------------------------------------


def _issue_challenge(purpose: str, identifier: str) -> bytes:
    """A new challenge for ``purpose``, this browser's only one for it."""
    kept = _kept_challenges()
    issued = state().secrets.issue(
        purpose, identifier, link=True, max_age=_timeout(), replaces=kept.get(purpose)
    )
    kept[purpose] = issued.id
    _keep_challenges(kept)
    return base64url_to_bytes(issued.token or "")


def _take_challenge(purpose: str, client_data: bytes) -> bytes:
    """Use the challenge the browser signed: it must be this browser's live one for
    ``purpose``. Consumed before the signature is checked, so it is tried once."""
    kept = _kept_challenges()
    expected_id = kept.pop(purpose, None)
    _keep_challenges(kept)
    try:
        challenge = parse_client_data_json(client_data).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError, RecursionError):
        raise PasskeyRefused(BROKEN) from None
    if not isinstance(expected_id, int):
        raise PasskeyRefused(EXPIRED)
    try:
        redeemed = state().secrets.redeem_link(bytes_to_base64url(challenge), purpose)
    except SecretInvalid:
        raise PasskeyRefused(EXPIRED) from None
    if redeemed.id != expected_id:  # another browser's challenge
        raise PasskeyRefused(EXPIRED)
    return challenge


# The ids live in a signed cookie of their own, not in Flask's session: the page
# asks for options in the background while a form on it may be posted, and both
# answers would set Flask's one session cookie; the later would undo the other's
# change (say, the pending sign-in code of the email just sent).


def _signer() -> URLSafeSerializer:
    config = current_app.config
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or ()), config["SECRET_KEY"]]  # newest last
    return URLSafeSerializer(keys, salt="flask-passwordless passkey challenges")


def _cookie() -> tuple[str, str, bool]:
    """The challenge cookie's name, path and Secure flag, as the session cookie's.
    ``__Host-`` when Secure at ``/`` (the prefix needs both): the browser then takes
    it from no subdomain and over no plain HTTP."""
    config = current_app.config
    path = config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/"
    secure = bool(config.get("SESSION_COOKIE_SECURE"))
    return ("__Host-" if secure and path == "/" else "") + CHALLENGES, path, secure


def _kept_challenges() -> dict[str, int]:
    """This browser's challenge id for each journey (read once per request)."""
    if "_passwordless_challenges" not in g:
        try:
            raw = _signer().loads(request.cookies.get(_cookie()[0], ""))
        except BadSignature:
            raw = None
        kept = raw if isinstance(raw, dict) else {}
        g._passwordless_challenges = {
            purpose: found
            for purpose, found in kept.items()
            if isinstance(found, int) and not isinstance(found, bool)
        }
    return dict(g._passwordless_challenges)


def _keep_challenges(kept: dict[str, int]) -> None:
    """Send the challenge ids back with this response (as the session cookie would)."""
    first = "_passwordless_challenges_sent" not in g
    g._passwordless_challenges = dict(kept)
    g._passwordless_challenges_sent = True
    if first:

        @after_this_request
        def set_cookie(response: Any) -> Any:
            now_kept, (name, path, secure) = g._passwordless_challenges, _cookie()
            response.set_cookie(
                name,
                _signer().dumps(now_kept) if now_kept else "",
                max_age=_timeout() if now_kept else 0,
                path=path,
                secure=secure,
                httponly=True,
                samesite=current_app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
            )
            return response


def _parsed(raw: Any, parse: Any) -> Any:
    """The credential JSON as py_webauthn's structure, or a refusal (never a 500)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_JSON:
        raise PasskeyRefused(BROKEN)
    try:
        if not isinstance(json.loads(raw), dict):
            raise PasskeyRefused(BROKEN)
        return parse(raw)
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # RecursionError: JSON nested a few thousand deep is still short enough to send.
        raise PasskeyRefused(BROKEN) from None


# -- the user's passkeys -------------------------------------------------------


def _key(user: Any) -> str:
    return state().adapter.key_of(user)


def passkeys_of(user: Any) -> list[Any]:
    return state().authenticators.of_user(_key(user), TYPE)


def user_handle(user: Any, *, create: bool = False) -> bytes | None:
    """The user's random WebAuthn user handle (64 bytes), made on first need."""
    rows = state().authenticators.of_user(_key(user), HANDLE_TYPE)
    if rows:
        return base64url_to_bytes(rows[0].data["handle"])
    if not create:
        return None
    handle = secrets.token_bytes(64)
    data = {"handle": bytes_to_base64url(handle)}
    state().authenticators.add(_key(user), HANDLE_TYPE, data, now=clock.now())
    return handle


def _descriptor(row: Any) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    names = row.data.get("transports") or ()
    transports = [AuthenticatorTransport(name) for name in names if name in known]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(row.data["credential_id"]), transports=transports or None
    )


def registration_options(user: Any) -> str:
    """Creation options as JSON: a discoverable credential, user verification
    preferred, no attestation, the user's own passkeys excluded."""
    email = state().adapter.email_of(user)
    options = webauthn.generate_registration_options(
        rp_id=rp_id(),
        rp_name=site_name(),
        user_id=user_handle(user, create=True),
        user_name=email,
        user_display_name=email,
        challenge=_issue_challenge(ADD, "user:" + _key(user)),
        timeout=_timeout() * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(row) for row in passkeys_of(user)],
    )
    return webauthn.options_to_json(options)


def register(user: Any, raw: Any, name: str) -> int:
    """Save the passkey the browser created; returns its row id."""
    credential = _parsed(raw, parse_registration_credential_json)
    challenge = _take_challenge(ADD, credential.response.client_data_json)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origins(),
            require_user_verification=False,
        )
    except WebAuthnException:
        raise PasskeyRefused(REFUSED) from None
    lookup = lookup_of(verified.credential_id)
    store = state().authenticators
    if store.find(lookup) is not None:
        raise PasskeyRefused(ALREADY_SAVED)
    data = {
        "credential_id": bytes_to_base64url(verified.credential_id),
        "public_key": bytes_to_base64url(verified.credential_public_key),
        "aaguid": verified.aaguid,
        "backed_up": bool(verified.credential_backed_up),
        "multi_device": verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        "transports": [t.value for t in credential.response.transports or ()],
    }
    try:
        return store.add(
            _key(user),
            TYPE,
            data,
            name=printable(name, 80),  # PostgreSQL refuses NUL; no bidi overrides either
            now=clock.now(),
            counter=verified.sign_count,
            lookup=lookup,
        )
    except sa.exc.IntegrityError:  # the same passkey saved in parallel
        state().db.session.rollback()
        raise PasskeyRefused(ALREADY_SAVED) from None


def authentication_options(user: Any | None, purpose: str) -> str:
    """Request options as JSON: for a user (their passkeys allowed), or for anyone
    (usernameless: nothing in them depends on who asks, so nothing is enumerated)."""
    rows = passkeys_of(user) if user is not None else []
    identifier = "user:" + _key(user) if user is not None else "usernameless"
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(),
        challenge=_issue_challenge(purpose, identifier),
        timeout=_timeout() * 1000,
        allow_credentials=[_descriptor(row) for row in rows],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(options)


@dataclass(frozen=True)
class Asserted:
    """A passkey that passed: whose, which row, and whether it verified its user."""

    user: Any
    row: Any
    user_verified: bool


def credential_owner(raw: Any) -> tuple[Any, Any] | None:
    """The (user, row) a credential JSON names, without checking anything else: for
    the lockout key of a sign-in. None when it names no passkey here."""
    try:
        credential = _parsed(raw, parse_authentication_credential_json)
    except PasskeyRefused:
        return None
    row = state().authenticators.find(lookup_of(credential.raw_id))
    if row is None or row.type != TYPE:
        return None
    user = state().adapter.get_by_key(row.user_key)
    return (user, row) if user is not None else None


def authenticate(raw: Any, purpose: str, user: Any | None = None) -> Asserted:
    """Check a passkey answer for ``purpose``; with ``user``, it must be theirs."""
    credential = _parsed(raw, parse_authentication_credential_json)
    challenge = _take_challenge(purpose, credential.response.client_data_json)
    row = state().authenticators.find(lookup_of(credential.raw_id))
    if row is None or row.type != TYPE:
        raise PasskeyRefused(UNKNOWN)
    if user is not None and row.user_key != _key(user):
        raise PasskeyRefused(NOT_THIS_ACCOUNT)
    owner = user if user is not None else state().adapter.get_by_key(row.user_key)
    if owner is None:
        raise PasskeyRefused(UNKNOWN)
    handle = credential.response.user_handle
    if handle is not None and handle != user_handle(owner):
        raise PasskeyRefused(UNKNOWN)
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origins(),
            credential_public_key=base64url_to_bytes(row.data["public_key"]),
            credential_current_sign_count=0,  # compared below, in SQL, after the signature
            require_user_verification=False,
        )
    except WebAuthnException:
        raise PasskeyRefused(REFUSED) from None
    _count(owner, row, verified.new_sign_count, clock.now())
    return Asserted(owner, row, bool(verified.user_verified))


def _count(user: Any, row: Any, new: int, now: datetime) -> None:
    """Move the signature counter forward, or refuse a counter that went backwards
    (an authenticator that counts nothing sends 0 every time: that is fine)."""
    store = state().authenticators
    stored = row.counter or 0
    if new == 0 and stored == 0:
        store.touch(row.id, now)
        return
    if not store.advance_counter(row.id, new, now):
        current_app.logger.warning(
            "flask-passwordless: passkey %s: counter %s after %s (cloned?)", row.id, new, stored
        )
        emit(signals.passkey_cloned, user=user, authenticator_id=row.id, counter=new)
        raise PasskeyRefused(CLONED)


def rename(user: Any, passkey_id: Any, name: str) -> bool:
    return state().authenticators.rename(_key(user), passkey_id, printable(name, 80))


def remove(user: Any, passkey_id: Any) -> bool:
    """Remove one of the user's passkeys; False when it was none of theirs. Only in
    the user's turn (``factor_removal``), which decides whether it may go."""
    store = state().authenticators
    row = store.get(_key(user), passkey_id)
    if row is None or row.type != TYPE:
        return False
    return store.remove(_key(user), passkey_id)


# -- the type ------------------------------------------------------------------


class PasskeyType(AuthenticatorType):
    """A first factor, a second step and a confirmer; with user verification it
    proves two factors at once (``proofs``)."""

    name = TYPE
    label = lazy_gettext("Passkey")
    factor = HAVE
    field = "passkey"
    prompt = lazy_gettext("Passkey")
    manage_endpoint = "passwordless.account_passkeys"

    def is_first(self) -> bool:
        return bool(setting("PASSKEYS"))

    def is_second(self) -> bool:
        return bool(setting("PASSKEYS"))

    def enrolled(self, user: Any) -> bool:
        return bool(passkeys_of(user))

    def summary(self, user: Any) -> str | None:
        count = len(passkeys_of(user))
        if not count:
            return None
        return ngettext("%(num)d passkey", "%(num)d passkeys", count)

    def last_used(self, user: Any) -> datetime | None:
        used = [row.last_used_at for row in passkeys_of(user) if row.last_used_at]
        return max(used) if used else None

    def verify(self, user: Any, value: str, step: Any) -> bool:
        asserted = authenticate(value, STEP, user)
        g.setdefault(_UV, set())
        if asserted.user_verified:
            g.get(_UV).add(_key(user))
        return True

    def proofs(self, user: Any) -> list[str]:
        """The passkey, and user verification when this request's check did it."""
        verified = _key(user) in g.get(_UV, ())
        return [TYPE, VERIFIED] if verified else [TYPE]
