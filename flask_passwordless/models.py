"""The user mixin and the extension's own tables, bound to the host's ``db``.

The tables are declared on the host's ``db.Model`` so that its
``flask db migrate`` sees them next to its own.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column


def new_auth_id() -> str:
    """A fresh session identity; replacing it signs the user out everywhere."""
    return _secrets.token_urlsafe(24)


class PasswordlessUserMixin(UserMixin):
    """Columns the default :class:`UserAdapter` expects on the host's user model."""

    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    phone_number: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    two_factor_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    auth_id: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_auth_id)

    def get_id(self) -> str:
        """Flask-Login stores this in the session, so rotating it ends sessions."""
        return self.auth_id


@dataclass(frozen=True)
class Models:
    """The extension's mapped classes for one ``db``."""

    Secret: Any
    Device: Any
    Failure: Any
    Authenticator: Any
    Session: Any


def models_for(db: Any) -> Models:
    """Declare (once per ``db``, kept on it) the extension's tables on its metadata."""
    models = getattr(db, "_passwordless_models", None)
    if models is None:
        models = Models(
            Secret=_declare_secret(db),
            Device=_declare_device(db),
            Failure=_declare_failure(db),
            Authenticator=_declare_authenticator(db),
            Session=_declare_session(db),
        )
        db._passwordless_models = models
    return models


def _declare_secret(db: Any) -> Any:
    class Secret(db.Model):
        """One link token and its code; using either uses the row.

        Only HMACs of the secrets are stored. ``identifier`` is the normalised
        email or E.164 phone the secret was sent to.
        """

        __tablename__ = "passwordless_secret"
        __table_args__ = (sa.Index("ix_passwordless_secret_identifier", "identifier", "purpose"),)

        id: Mapped[int] = mapped_column(primary_key=True)
        purpose: Mapped[str] = mapped_column(sa.String(20))
        identifier: Mapped[str] = mapped_column(sa.String(320))
        token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
        code_hash: Mapped[str] = mapped_column(sa.String(64))
        next_url: Mapped[str | None] = mapped_column(sa.String(1024))
        created_at: Mapped[datetime] = mapped_column(sa.DateTime)
        expires_at: Mapped[datetime] = mapped_column(sa.DateTime, index=True)
        consumed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
        attempts: Mapped[int] = mapped_column(sa.Integer, default=0)

    return Secret


def _declare_device(db: Any) -> Any:
    class Device(db.Model):
        """A browser a user marked as trusted after passing a second factor.

        The browser holds a signed cookie with this row's id and a secret;
        only the secret's HMAC is stored. Revoking the row forgets the browser,
        whatever its cookie says. ``user_key`` is the user's primary key as text.
        """

        __tablename__ = "passwordless_device"

        id: Mapped[int] = mapped_column(primary_key=True)
        user_key: Mapped[str] = mapped_column(sa.String(64), index=True)
        secret_hash: Mapped[str] = mapped_column(sa.String(64))
        name: Mapped[str] = mapped_column(sa.String(80))
        user_agent: Mapped[str] = mapped_column(sa.String(512))
        ip: Mapped[str | None] = mapped_column(sa.String(64))
        created_at: Mapped[datetime] = mapped_column(sa.DateTime)
        last_used_at: Mapped[datetime] = mapped_column(sa.DateTime)
        expires_at: Mapped[datetime] = mapped_column(sa.DateTime, index=True)
        revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    return Device


def _declare_failure(db: Any) -> Any:
    class Failure(db.Model):
        """Consecutive failed checks for one identifier, across every code it was sent.

        A new code never resets it; only a success does. ``identifier`` is the
        normalised email or E.164 phone the checks were made against.
        """

        __tablename__ = "passwordless_failure"

        identifier: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
        count: Mapped[int] = mapped_column(sa.Integer, default=0)
        last_failure_at: Mapped[datetime] = mapped_column(sa.DateTime)
        locked_until: Mapped[datetime | None] = mapped_column(sa.DateTime)

    return Failure


def _declare_authenticator(db: Any) -> Any:
    class Authenticator(db.Model):
        """Something a user enrolled that does not live on the user row: an
        authenticator app, one recovery code, a passkey.

        ``data`` is the type's own JSON (a sealed TOTP secret, a recovery code's
        HMAC); nothing in it is a secret in clear. ``counter`` is the last
        accepted TOTP time step, or a passkey's signature count: checks
        advance it with one conditional UPDATE, so a step is used once.
        ``lookup`` finds a row by something the browser sends (the SHA-256 of a
        passkey's credential id) through a unique index, never a scan of ``data``.
        """

        __tablename__ = "passwordless_authenticator"
        __table_args__ = (
            sa.Index("ix_passwordless_authenticator_user_key_type", "user_key", "type"),
        )

        id: Mapped[int] = mapped_column(primary_key=True)
        user_key: Mapped[str] = mapped_column(sa.String(64), index=True)
        type: Mapped[str] = mapped_column(sa.String(20))
        name: Mapped[str] = mapped_column(sa.String(80), default="", server_default="")
        data: Mapped[dict] = mapped_column(sa.JSON)
        counter: Mapped[int | None] = mapped_column(sa.BigInteger)
        created_at: Mapped[datetime] = mapped_column(sa.DateTime)
        last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
        lookup: Mapped[str | None] = mapped_column(sa.String(64), unique=True, index=True)

    return Authenticator


def _declare_session(db: Any) -> Any:
    class Session(db.Model):
        """One signed-in browser: the server's half of the session cookie.

        The cookie holds this row's id and a secret; only the secret's HMAC is
        stored. The row decides: revoked, idle or past ``expires_at``, the cookie
        signs nobody in whatever it says. ``auth`` is the auth record (the
        methods proved and when, see ``strength``); ``user_key`` is the user's
        primary key as text, which never rotates.
        """

        __tablename__ = "passwordless_session"

        id: Mapped[int] = mapped_column(primary_key=True)
        user_key: Mapped[str] = mapped_column(sa.String(64), index=True)
        secret_hash: Mapped[str] = mapped_column(sa.String(64))
        created_at: Mapped[datetime] = mapped_column(sa.DateTime)
        last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime)
        expires_at: Mapped[datetime] = mapped_column(sa.DateTime, index=True)
        ip: Mapped[str | None] = mapped_column(sa.String(64))
        user_agent: Mapped[str] = mapped_column(sa.String(512), default="", server_default="")
        auth: Mapped[dict] = mapped_column(sa.JSON)
        revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    return Session
