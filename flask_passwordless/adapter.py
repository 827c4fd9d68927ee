"""UserAdapter: the only code that reads or writes the host's user model.

A host with its own user table subclasses this and passes it as
``adapter=``; everything else in the extension goes through these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

from .models import models_for, new_auth_id
from .reads import reading
from .session_store import auth_text

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy


class AddressLookup(NamedTuple):
    """What a password sign-in reads of an address (``UserAdapter.find_for_password``)."""

    user: Any | None
    #: The user's authenticators, oldest first; None: not read here (read apart).
    authenticators: list[Any] | None
    #: The lockout row's ``(last_failure_at, locked_until)``, NULLs as None when
    #: there is none; None: not read here (``Failures.check_allowed`` reads it).
    lockout: tuple[datetime | None, datetime | None] | None


class UserAdapter:
    """Default adapter for a model that uses :class:`PasswordlessUserMixin`."""

    def __init__(self, db: SQLAlchemy, user_model: type[Any]) -> None:
        self.db = db
        self.model = user_model

    # Built once, on first use (a subclass that overrides a lookup needs no such
    # column): these run on every signed-in request and every sign-in, and building
    # a select (and its cache key) each time costs more than the indexed lookup.

    @cached_property
    def _by_auth_id(self) -> sa.Select[Any]:
        return sa.select(self.model).where(self.model.auth_id == sa.bindparam("auth_id"))

    @cached_property
    def _session_checked(self) -> list[Any]:
        """What a signed-in request checks of its session row. Each column costs its
        decoding on every request, so not the id (the cookie has it), nor the address
        and browser kept for the sessions page; and the auth record comes as its JSON
        text (``auth_text``), parsed only by the pages that ask for it."""
        sessions = models_for(self.db).Session.__table__
        unread = ("id", "ip", "user_agent", "auth")
        kept = [column for column in sessions.c if column.name not in unread]
        return [*kept, auth_text(sessions)]

    @cached_property
    def _with_session(self) -> sa.Select[Any]:
        sessions = models_for(self.db).Session.__table__
        return self._by_auth_id.add_columns(*self._session_checked).join_from(
            self.model, sessions, sessions.c.id == sa.bindparam("session_id")
        )

    @cached_property
    def _session_by_id(self) -> sa.Select[Any]:
        sessions = models_for(self.db).Session.__table__
        return sa.select(*self._session_checked).where(sessions.c.id == sa.bindparam("session_id"))

    def _joined_authenticators(self, owner: Any, base: Any = None) -> sa.Select[Any]:
        """The user's row once per authenticator whose key is ``owner`` (one row of
        NULLs for none): the rows the authenticator store reads, as a Bundle named
        ``authenticator``. ``base``: a select of the user to join them onto (by
        default, the user's table alone)."""
        authenticators = models_for(self.db).Authenticator.__table__
        rows: sa.orm.Bundle[Any] = sa.orm.Bundle("authenticator", *authenticators.c)
        base = sa.select(self.model) if base is None else base
        return (
            base.add_columns(rows)
            .outerjoin(authenticators, authenticators.c.user_key == owner)
            .order_by(authenticators.c.id)
            # A relationship the host loads eagerly by a join would repeat each row
            # once more per related row (and need ``unique()``, which these rows'
            # JSON data cannot be hashed for): here it loads when first used.
            .options(sa.orm.lazyload("*"))
        )

    @cached_property
    def _with_authenticators(self) -> sa.Select[Any]:
        key = sa.inspect(self.model).primary_key[0]
        joined = self._joined_authenticators(sa.bindparam("owner"))
        return joined.where(key == sa.bindparam("key"))

    @cached_property
    def _by_email_with_lockout(self) -> sa.Select[Any]:
        """By address, with the lockout row of ``identifier``; the key as SQL writes
        it (``key_of``'s ``str`` of an integer). The FROM begins with one row of its
        own, so that an unknown address gets a row too (the same statement and work
        as a known one): NULLs where there is no lockout row or no user. The user
        comes in by the ORM's own outer join, so that what the host's mapping adds
        to every read of it (a subclass's discriminator, loader criteria) goes into
        its ON clause, never a WHERE that would drop that row."""
        key = sa.inspect(self.model).primary_key[0]
        failures = models_for(self.db).Failure.__table__
        one = sa.select(sa.literal_column("1").label("one")).subquery("one")
        base = (
            sa.select(self.model, failures.c.last_failure_at, failures.c.locked_until)
            .select_from(one)
            .outerjoin(failures, failures.c.identifier == sa.bindparam("identifier"))
            .outerjoin(self.model, self.model.email == sa.bindparam("email"))
        )
        return self._joined_authenticators(sa.cast(key, sa.String), base)

    @cached_property
    def _by_email(self) -> sa.Select[Any]:
        return sa.select(self.model).where(self.model.email == sa.bindparam("email"))

    @cached_property
    def _by_verified_phone(self) -> sa.Select[Any]:
        return sa.select(self.model).where(
            self.model.phone_number == sa.bindparam("phone_number"),
            self.model.phone_verified_at.is_not(None),
        )

    def load_user(self, auth_id: str) -> Any | None:
        """Flask-Login's user loader: one indexed query per signed-in request."""
        if not auth_id:
            return None
        with reading(self.db, self.model) as session:
            found = session.execute(self._by_auth_id, {"auth_id": auth_id})
            return found.unique().scalar_one_or_none()

    def load_user_and_session(self, auth_id: str, session_id: int) -> tuple[Any, Any] | None:
        """The user loader's statement joined with this browser's session row: a
        signed-in request still costs one statement. Returns ``(user, row)``.

        A subclass with its own ``load_user`` keeps it: the row is then read apart
        (two statements), unless the subclass overrides this method too. An override
        may return the session model's object as the row.
        """
        if not auth_id:
            return None
        if type(self).load_user is not UserAdapter.load_user:
            user = self.load_user(auth_id)
            if user is None:
                return None
            row = self.db.session.execute(self._session_by_id, {"session_id": session_id})
            return user, row.first()
        params = {"auth_id": auth_id, "session_id": session_id}
        with reading(self.db, self.model) as session:
            found = session.execute(self._with_session, params).first()
        return None if found is None else (found[0], found)

    def reread(self, user: Any) -> None:
        """Read the user's row again: a decision taken in the user's turn (removing a
        second step) must see what another request committed since this one loaded it."""
        self.db.session.refresh(user)

    def find_by_email(self, email: str) -> Any | None:
        with reading(self.db, self.model) as session:
            found = session.execute(self._by_email, {"email": email})
            return found.unique().scalar_one_or_none()

    def find_by_phone(self, phone_number: str) -> Any | None:
        """The user whose *verified* number this is (unverified numbers sign nobody in)."""
        found = self.db.session.execute(self._by_verified_phone, {"phone_number": phone_number})
        return found.unique().scalar_one_or_none()

    # A model without the columns of an optional feature (phone, password, two-step)
    # has none of it: the readers answer "none", so it signs in with email alone, and
    # the writers refuse loudly rather than set an attribute that is never stored.

    def phone_of(self, user: Any) -> str | None:
        if getattr(user, "phone_verified_at", None) is None:
            return None
        return user.phone_number

    def set_phone(
        self, user: Any, phone_number: str | None, verified_at: datetime | None = None
    ) -> bool:
        """Save a verified number (or remove it); False if another account holds it."""
        verified_at = verified_at if phone_number else None
        _assign(user, phone_number=phone_number, phone_verified_at=verified_at)
        try:
            self.db.session.commit()
        except sa.exc.IntegrityError:
            self.db.session.rollback()
            return False
        return True

    def create_user(self, email: str) -> Any:
        """Create an account for a verified email address."""
        user = self.model(email=email, auth_id=new_auth_id())
        self.db.session.add(user)
        try:
            self.db.session.commit()
        except sa.exc.IntegrityError:
            # Two sign-up secrets for one address redeemed at once: one insert wins.
            self.db.session.rollback()
            return self.find_by_email(email)
        return user

    def key_of(self, user: Any) -> str:
        """A stable identity for rows that belong to a user (unlike auth_id, it never rotates)."""
        return str(sa.inspect(user).identity[0])

    def get_by_key(self, key: str) -> Any | None:
        column = sa.inspect(self.model).primary_key[0]
        try:
            return self.db.session.get(self.model, column.type.python_type(key))
        except (TypeError, ValueError):
            return None

    def get_with_authenticators(self, key: str) -> tuple[Any, list[Any] | None] | None:
        """``get_by_key`` and the user's authenticators in one statement: each request
        of a second step needs both. Returns ``(user, rows)``, rows oldest first. A
        subclass with its own ``get_by_key`` keeps it: rows are then None (the store
        reads them apart)."""
        if type(self).get_by_key is not UserAdapter.get_by_key:
            user = self.get_by_key(key)
            return None if user is None else (user, None)
        column = sa.inspect(self.model).primary_key[0]
        try:
            params = {"key": column.type.python_type(key), "owner": key}
        except (TypeError, ValueError):
            return None
        with reading(self.db, self.model) as session:
            found = session.execute(self._with_authenticators, params).all()
        return _user_and_rows(found, key)

    def find_for_password(self, email: str, lockout_of: str) -> AddressLookup:
        """What a password sign-in reads of an address: ``find_by_email``, the user's
        authenticators (the second step, if it is on, offers them) and the lockout
        row of ``lockout_of``, in one statement. Only for the stock lookups on an
        integer key (whose text SQL writes as ``key_of`` does); otherwise the user
        comes from ``find_by_email`` and the rest is left unread (None)."""
        stock = all(
            getattr(type(self), name) is getattr(UserAdapter, name)
            for name in ("find_by_email", "key_of")
        )
        if not stock or sa.inspect(self.model).primary_key[0].type.python_type is not int:
            return AddressLookup(self.find_by_email(email), None, None)
        params = {"email": email, "identifier": lockout_of}
        with reading(self.db, self.model) as session:
            found = session.execute(self._by_email_with_lockout, params).all()
        if not found:  # a host's hook filtered the driving row away: read apart
            return AddressLookup(self.find_by_email(email), None, None)
        first = found[0]
        user, lockout = first[0], (first.last_failure_at, first.locked_until)
        if user is None:
            return AddressLookup(None, None, lockout)
        return AddressLookup(user, _rows_of(found, self.key_of(user)), lockout)

    def password_hash_of(self, user: Any) -> str | None:
        return getattr(user, "password_hash", None)

    def set_password_hash(self, user: Any, password_hash: str | None) -> None:
        _assign(user, password_hash=password_hash)
        self.db.session.commit()

    def two_factor_enabled(self, user: Any) -> bool:
        return bool(getattr(user, "two_factor_enabled", False))

    def two_factor_required(self, user: Any) -> bool:
        """A per-user rule for two-step sign-in (say, for staff); PASSWORDLESS_TWO_FACTOR_REQUIRED
        is the rule for everyone. Override it to require two-step for some users."""
        return False

    def set_two_factor(self, user: Any, enabled: bool) -> None:
        _assign(user, two_factor_enabled=enabled)
        self.db.session.commit()

    def locale(self, user: Any) -> str | None:
        """The language of a message sent to ``user`` outside a request (a CLI
        command, a task), e.g. ``"de"``; None: the default. In a request the
        request's language wins, so this never shows on a page."""
        return None

    def email_of(self, user: Any) -> str:
        return user.email

    def set_email(self, user: Any, email: str) -> bool:
        """Store a verified new address (already normalised, as ``find_by_email`` is
        given it); False, and nothing changed, if another account holds it now."""
        _assign(user, email=email)
        try:
            self.db.session.commit()
        except sa.exc.IntegrityError:
            self.db.session.rollback()
            return False
        return True

    def rotate_auth_id(self, user: Any) -> None:
        """Give the user a new session identity, ending every existing session."""
        user.auth_id = new_auth_id()
        self.db.session.commit()


def _assign(user: Any, **values: Any) -> None:
    """Set mapped attributes; a missing one means the host must override the setter."""
    mapped = sa.inspect(type(user)).attrs
    for name, value in values.items():
        if name not in mapped:
            raise NotImplementedError(
                f"{type(user).__name__} has no {name!r} column: override this method of "
                "UserAdapter to store it, or leave the feature off."
            )
        setattr(user, name, value)


def _user_and_rows(found: Sequence[Any], key: str) -> tuple[Any, list[Any]] | None:
    """``(user, the authenticator rows of key)`` from the rows of a joined read (its
    first user: a lookup that is unique finds one)."""
    return (found[0][0], _rows_of(found, key)) if found else None


def _rows_of(found: Sequence[Any], key: str) -> list[Any]:
    """The authenticator rows of ``key`` in a joined read (an outer join's NULLs
    are nobody's)."""
    return [row.authenticator for row in found if row.authenticator.user_key == key]
