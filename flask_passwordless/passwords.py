"""Password hashing and the password policy.

Hashing uses Werkzeug's scrypt by default (PASSWORDLESS_PASSWORD_HASH); hashes
made with an older method are upgraded at the next successful sign-in.
Unknown emails are checked against a dummy hash, so a wrong address costs the
same time as a wrong password.
"""

from __future__ import annotations

import secrets
from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash

from .config import setting
from .errors import PasswordlessError

#: Passwords people choose first; refused whatever the length rules say.
COMMON = frozenset(
    [
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "87654321",
        "987654321",
        "11111111",
        "00000000",
        "12341234",
        "11223344",
        "12121212",
        "88888888",
        "99999999",
        "147258369",
        "123123123",
        "qwertyuiop",
        "qwerty123",
        "qwertyui",
        "qwerty12",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "zaq12wsx",
        "1qaz2wsx",
        "asdfghjkl",
        "asdfasdf",
        "abcd1234",
        "abc12345",
        "abcdefgh",
        "abcdefg1",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "basketball",
        "superman",
        "batman123",
        "starwars",
        "pokemon",
        "dragon123",
        "monkey123",
        "letmein1",
        "letmein123",
        "welcome1",
        "welcome123",
        "trustno1",
        "whatever",
        "changeme",
        "changeme1",
        "default1",
        "admin123",
        "administrator",
        "secret123",
        "computer",
        "internet",
        "michael1",
        "jennifer",
        "charlie1",
        "shadow12",
        "master12",
        "freedom1",
        "liverpool",
        "chelsea1",
        "arsenal1",
        "mustang1",
        "jordan23",
        "loveyou1",
        "hello123",
        "goodluck",
        "summer2024",
        "winter2024",
        "summer2025",
        "winter2025",
        "summer2026",
        "autumn2026",
        "spring2026",
        "google123",
        "facebook",
    ]
)


class PasswordRefused(PasswordlessError):
    title = "Choose another password"


def check_policy(password: str, email: str | None = None) -> None:
    """Raise PasswordRefused with the reason a person can act on."""
    low, high = setting("PASSWORD_MIN_LENGTH"), setting("PASSWORD_MAX_LENGTH")
    if len(password) < low:
        raise PasswordRefused(f"Use at least {low} characters.")
    if len(password) > high:
        raise PasswordRefused(f"Use at most {high} characters.")
    folded = password.casefold()
    if folded in COMMON or len(set(folded)) <= 2:
        raise PasswordRefused("That password is too common. Choose one that is hard to guess.")
    if email and folded in {email.casefold(), email.casefold().split("@")[0]}:
        raise PasswordRefused("Your password must not be your email address.")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=setting("PASSWORD_HASH"))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash to check."""
    if not password_hash:
        check_password_hash(_dummy_hash(setting("PASSWORD_HASH")), password)
        return False
    return check_password_hash(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with another method *or other parameters*
    (``scrypt:32768:8:1`` versus ``scrypt:16384:8:1``)."""
    return password_hash.split("$", 1)[0] != _method_prefix(setting("PASSWORD_HASH"))


def _method_prefix(method: str) -> str:
    """The method as Werkzeug writes it in full, defaults expanded."""
    return _dummy_hash(method).split("$", 1)[0]


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)
