"""One-time secrets: generate, store as HMAC, and consume exactly once.

The plain link token and code exist only in the message that carries them.
Every state change is a single conditional UPDATE, so that any number of
concurrent redeemers (threads, processes, hosts) see exactly one winner. Only
the browser that asked for a secret may replace it by asking again; a password
reset retires them all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from . import clock
from .batches import delete_in_batches
from .config import setting
from .errors import CodeWrong, SecretInvalid

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_HASH_CONTEXT = b"flask-passwordless one-time secret v1"


@dataclass(frozen=True)
class Issued:
    """A freshly issued secret: the only time the plain values exist.

    They stay out of ``repr()``: reprs end up in logs and tracebacks.
    """

    id: int
    token: str | None = field(repr=False)
    code: str = field(repr=False)


@dataclass(frozen=True)
class Redeemed:
    """What a consumed row tells the flow that used it."""

    id: int
    purpose: str
    identifier: str
    next_url: str | None


def generate_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _keys() -> list[bytes]:
    """HMAC keys derived from SECRET_KEY, then each SECRET_KEY_FALLBACKS entry."""
    config = current_app.config
    raw = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return [_derive(key) for key in raw if key]


_derived: dict[Any, bytes] = {}


def _derive(secret_key: str | bytes) -> bytes:
    if secret_key not in _derived:
        material = secret_key.encode() if isinstance(secret_key, str) else secret_key
        _derived[secret_key] = hmac.new(material, _HASH_CONTEXT, hashlib.sha256).digest()
    return _derived[secret_key]


def hash_secret(value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of a secret, under the current key unless one is given."""
    key = key if key is not None else _keys()[0]
    return hmac.digest(key, value.encode(), "sha256").hex()


def candidate_hashes(value: str) -> list[str]:
    return [hash_secret(value, key) for key in _keys()]


class Secrets:
    """The secrets service for one app: the only code that touches the Secret table.

    Its statements are Core statements on the table, built once: this runs on
    every sign-in, and building an ORM statement (and its cache key) per call
    costs more than the indexed lookup it asks for.
    """

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        self.Secret = model
        t = self.table = model.__table__
        live = sa.and_(t.c.consumed_at.is_(None), t.c.expires_at > sa.bindparam("now"))
        under_limit = t.c.attempts < sa.bindparam("max_attempts")
        used: dict[str, Any] = {"consumed_at": sa.bindparam("used_at")}
        self._insert = sa.insert(t)
        self._replace = (
            sa.update(t)
            .where(
                t.c.id == sa.bindparam("secret_id"),
                t.c.purpose == sa.bindparam("of_purpose"),
                t.c.consumed_at.is_(None),
            )
            .values(used)
        )
        self._by_token = sa.select(t).where(
            t.c.token_hash.in_(sa.bindparam("hashes", expanding=True)),
            t.c.purpose == sa.bindparam("of_purpose"),
        )
        self._codes_of = sa.select(t.c.code_hash).where(
            t.c.id.in_(sa.bindparam("ids", expanding=True)),
            t.c.purpose == sa.bindparam("of_purpose"),
        )
        self._claim = (
            sa.update(t)
            .where(t.c.id == sa.bindparam("secret_id"), t.c.purpose == sa.bindparam("of_purpose"))
            .where(live, under_limit)
            .values(attempts=t.c.attempts + 1)
            .returning(t.c.code_hash, t.c.attempts, t.c.identifier, t.c.next_url)
        )
        by_id = sa.update(t).where(t.c.id == sa.bindparam("secret_id")).values(used)
        # A link is found and used in one statement: only the single winner gets its row.
        self._redeem_link = (
            sa.update(t)
            .where(
                t.c.token_hash.in_(sa.bindparam("hashes", expanding=True)),
                t.c.purpose == sa.bindparam("of_purpose"),
            )
            .where(live, under_limit)
            .values(used)
            .returning(t.c.id, t.c.purpose, t.c.identifier, t.c.next_url, t.c.token_hash)
        )
        # A code's own try was already counted by its claim, so consuming it does
        # not recheck the attempt limit (the fifth try may be the right one).
        self._consume_code = by_id.where(live)
        self._discard = by_id.where(t.c.consumed_at.is_(None))
        # Sent to the address or number, or issued for the account (an address change,
        # whose identifier starts with the account's key). Only live rows matter, and
        # ``expires_at`` is indexed, so a big table of old rows is never scanned.
        owned = sa.func.substr(t.c.identifier, 1, sa.bindparam("prefix_length"))
        # The address after the key holds no space: a longer key that starts with
        # this one and a space ('ann' / 'ann lee') is another account's.
        address = sa.func.substr(t.c.identifier, sa.bindparam("prefix_length") + 1)
        self._retire_all = (
            sa.update(t)
            .where(live)
            .where(
                sa.or_(
                    t.c.identifier.in_(sa.bindparam("identifiers", expanding=True)),
                    sa.and_(owned == sa.bindparam("prefix"), ~address.contains(" ")),
                )
            )
            .values(used)
        )

    def _run(self, statement: Any, **params: Any) -> Any:
        return self.db.session.execute(statement, params)

    def issue(
        self,
        purpose: str,
        identifier: str,
        *,
        link: bool = True,
        next_url: str | None = None,
        max_age: int | None = None,
        replaces: int | None = None,
    ) -> Issued:
        """Add a new live row; retire ``replaces``, the row this same browser asked for
        before, if it is still live.

        Nothing else is retired: a request from another browser (anyone who knows the
        address) must not void the owner's link or code. Live rows add no guessing
        surface, as a code is checked only against the row its own browser's session
        points at, and the send budgets bound how many rows there can be.
        """
        now = clock.now()
        token = secrets.token_urlsafe(32) if link else None
        code = generate_code(setting("CODE_LENGTH"))
        if isinstance(replaces, int):
            self._run(self._replace, secret_id=replaces, of_purpose=purpose, used_at=now)
        inserted = self._run(
            self._insert,
            purpose=purpose,
            identifier=identifier,
            token_hash=hash_secret(token) if token else None,
            code_hash=hash_secret(code),
            next_url=next_url,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age or setting("TOKEN_MAX_AGE")),
            attempts=0,
        )
        issued = Issued(id=inserted.inserted_primary_key[0], token=token, code=code)
        self.db.session.commit()
        return issued

    def _link_hashes(self, token: str) -> list[str]:
        if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
            raise SecretInvalid()
        return candidate_hashes(token)

    def _find_link(self, token: str, purpose: str) -> Any:
        hashes = self._link_hashes(token)
        row = self._run(self._by_token, hashes=hashes, of_purpose=purpose).first()
        if row is None or not any(hmac.compare_digest(h, row.token_hash) for h in hashes):
            raise SecretInvalid()
        return row

    def check_link(self, token: str, purpose: str) -> Redeemed:
        """Read-only: is this link usable now? (For GET pages; consumes nothing.)"""
        row = self._find_link(token, purpose)
        alive = (
            row.consumed_at is None
            and row.expires_at > clock.now()
            and row.attempts < setting("MAX_ATTEMPTS")
        )
        if not alive:
            raise SecretInvalid()
        return _redeemed(row)

    def redeem_link(self, token: str, purpose: str) -> Redeemed:
        """Consume the row behind a link; exactly one caller ever succeeds (one
        conditional UPDATE that finds the live row and uses it)."""
        hashes = self._link_hashes(token)
        now = clock.now()
        row = self._run(
            self._redeem_link,
            hashes=hashes,
            of_purpose=purpose,
            now=now,
            used_at=now,
            max_attempts=setting("MAX_ATTEMPTS"),
        ).first()
        self.db.session.commit()
        if row is None or not any(hmac.compare_digest(h, row.token_hash) for h in hashes):
            raise SecretInvalid()
        return _redeemed(row)

    def redeem_code(self, secret_id: Any, code: str, purpose: str) -> Redeemed:
        """Check a code against one row; count the try first so parallel guesses cannot
        exceed the limit, then consume on a match.

        Claim and consume share one transaction: the claim's row lock (PostgreSQL)
        or write lock (SQLite) holds the other redeemers until it commits.
        """
        if not isinstance(secret_id, int):
            raise SecretInvalid()
        max_attempts = setting("MAX_ATTEMPTS")
        claimed = self._run(
            self._claim,
            secret_id=secret_id,
            of_purpose=purpose,
            now=clock.now(),
            max_attempts=max_attempts,
        ).first()
        if claimed is None:
            self.db.session.commit()
            raise SecretInvalid()
        if not any(hmac.compare_digest(h, claimed.code_hash) for h in candidate_hashes(code)):
            self.db.session.commit()  # the wrong try counts
            raise CodeWrong(max(0, max_attempts - claimed.attempts))
        if not self._consume(self._consume_code, secret_id):
            raise SecretInvalid()
        return Redeemed(secret_id, purpose, claimed.identifier, claimed.next_url)

    def was_one_of(self, secret_ids: list[int], code: str, purpose: str) -> bool:
        """Read-only: is ``code`` the code of one of these (replaced) rows? Only to
        say "a newer message replaced it"; it signs nobody in and uses nothing."""
        if not secret_ids:
            return False
        hashes = candidate_hashes(code)
        rows = self._run(self._codes_of, ids=secret_ids, of_purpose=purpose).scalars()
        self.db.session.commit()
        return any(hmac.compare_digest(h, stored) for stored in rows for h in hashes)

    def _consume(self, statement: Any, secret_id: int) -> bool:
        """The one conditional UPDATE that uses a row; True for the single winner."""
        now = clock.now()
        result = self._run(
            statement,
            secret_id=secret_id,
            now=now,
            used_at=now,
            max_attempts=setting("MAX_ATTEMPTS"),
        )
        self.db.session.commit()
        return result.rowcount == 1

    def retire_all_of(self, owner: str, identifiers: list[str]) -> None:
        """Kill, in one statement, every live link and code sent to these identifiers
        or issued for the account ``owner`` (``owned_identifier``), for any purpose: a
        password reset ends whatever was under way, an address change included."""
        prefix = owned_identifier(owner, "")
        now = clock.now()
        self._run(
            self._retire_all,
            identifiers=identifiers,
            prefix=prefix,
            prefix_length=len(prefix),
            now=now,
            used_at=now,
        )
        self.db.session.commit()

    def discard(self, secret_id: int) -> None:
        """Retire a row whose message could not be sent, so nothing is left half-done."""
        self._run(self._discard, secret_id=secret_id, used_at=clock.now())
        self.db.session.commit()

    def cleanup(self, batch_size: int = 1000) -> int:
        """Delete used and expired rows in short batches (``batches``); how many went."""
        t = self.table
        dead = sa.or_(t.c.consumed_at.is_not(None), t.c.expires_at <= sa.bindparam("now"))
        return delete_in_batches(self.db, t, dead, {"now": clock.now()}, batch_size)


def owned_identifier(owner: str, address: str) -> str:
    """The identifier of a secret sent to ``address`` on behalf of the account whose
    key is ``owner`` (an address change): the key, a space, the address. Normalised
    addresses hold no space, so the key is what comes before the last one."""
    return f"{owner} {address}"


def owner_and_address(identifier: str) -> tuple[str, str]:
    """The two halves of an ``owned_identifier``."""
    owner, _, address = identifier.rpartition(" ")
    return owner, address


def _redeemed(row: Any) -> Redeemed:
    return Redeemed(row.id, row.purpose, row.identifier, row.next_url)
