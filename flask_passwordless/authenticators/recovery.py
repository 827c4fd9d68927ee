"""Recovery codes: the second factor of last resort, each usable once.

A code is 16 characters of Crockford's base32 alphabet (80 random bits from
``secrets``), shown as ``xxxx-xxxx-xxxx-xxxx``. The alphabet has no I, L, O or
U, and typing is forgiving: case, spaces and dashes are ignored, O reads as
0 and I or L as 1, and full-width characters (from an IME) as their ASCII.

Each code is one row whose data is ``{"hash": HMAC}`` under a key derived from
``SECRET_KEY`` (``tokens.hash_secret``), over a label, the owner's user key
and the code. The database alone therefore neither reveals a code nor lets
anyone test guesses (that needs the key), and a row copied onto another
user's account matches nothing there. A use is one conditional UPDATE
(``Authenticators.use_once``): of parallel submissions of one code, one wins.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import datetime

from ..tokens import candidate_hashes, hash_secret
from .store import Authenticators

TYPE = "recovery"
COUNT = 10
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: 5 bits a character
LENGTH = 16
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: Hyphen-minus, underscore, and the dashes a phone or word processor puts in instead.
_DASHES = "-_\u2010\u2011\u2012\u2013\u2014\u2212"
_LABEL = "flask-passwordless recovery code v1"
#: Far longer than any code typed with spaces; longer input is not worth reading.
_MAX_INPUT = 64


def new_codes(n: int = COUNT) -> list[str]:
    """``n`` fresh codes, ``xxxx-xxxx-xxxx-xxxx``, 80 random bits each."""
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, LENGTH, 4)))
    return codes


def normalise(text: str) -> str:
    """The code as stored: without case, spaces or dashes, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text).upper()
    kept = "".join(ch for ch in text if not ch.isspace() and ch not in _DASHES)
    return kept.translate(_LOOK_ALIKES)


def _message(user_key: str, code: str) -> str:
    return f"{_LABEL}\x00{user_key}\x00{code}"


def _well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)


def data_for(user_key: str, code: str) -> dict:
    return {"hash": hash_secret(_message(user_key, normalise(code)))}


def replace(store: Authenticators, user_key: str, now: datetime) -> list[str]:
    """A new set of codes for the user, in place of the old one (now void).

    Returns the plain codes: the only time they exist; show them once.
    """
    codes = new_codes()
    store.replace_type(user_key, TYPE, [data_for(user_key, code) for code in codes], now=now)
    return codes


def use(store: Authenticators, user_key: str, code: str, now: datetime) -> bool:
    """Is this one of the user's unused codes? Uses it: True for exactly one of any
    number of parallel submissions."""
    if not isinstance(code, str) or len(code) > _MAX_INPUT:
        return False
    code = normalise(code)
    if not _well_formed(code):
        return False
    hashes = candidate_hashes(_message(user_key, code))
    found = None
    for row in store.of_user(user_key, TYPE):
        if row.last_used_at is not None:
            continue
        stored = str((row.data or {}).get("hash", ""))
        # Every row and every key is compared, so timing does not say which matched.
        if any([hmac.compare_digest(stored, h) for h in hashes]) and found is None:
            found = row
    return found is not None and store.use_once(found.id, now)


def remaining(store: Authenticators, user_key: str) -> int:
    """How many of the user's codes are still unused."""
    return sum(1 for row in store.of_user(user_key, TYPE) if row.last_used_at is None)
