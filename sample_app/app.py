"""The sample host app: its own user model, layout and pages, plus the extension.

Settings are defaults that suit a laptop; every one can be overridden from the
environment with a ``FLASK_`` prefix (values are parsed as JSON when they can
be), e.g. ``FLASK_SECRET_KEY``, ``FLASK_SQLALCHEMY_DATABASE_URI``,
``FLASK_MAIL_SERVER``, ``FLASK_PASSWORDLESS_MAIL_BACKEND=flask_mail`` or
``FLASK_PASSWORDLESS_REGISTER_UNKNOWN=false``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, render_template
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_passwordless import Passwordless, PasswordlessUserMixin, auth_required

# !!! DEVELOPMENT ONLY !!! This key signs sessions and derives the key that
# hashes sign-in secrets: anyone who knows it can forge a session. It is public
# (it is in this file), so set FLASK_SECRET_KEY to a long random value
# (python -c "import secrets; print(secrets.token_hex(32))") anywhere but
# your own machine.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-deploy"  # noqa: S105

# Named constraints, so later (batch) migrations can drop or alter them by name.
db = SQLAlchemy(
    metadata=sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
)
migrate = Migrate()
passwordless = Passwordless()


def _utcnow() -> datetime:
    """Naive UTC, like the extension's own timestamps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(db.Model, PasswordlessUserMixin):
    """The host's user: the mixin brings email, auth_id and the other sign-in columns."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=_utcnow)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=DEV_SECRET_KEY,
        # A relative SQLite path is resolved inside the instance folder.
        SQLALCHEMY_DATABASE_URI="sqlite:///sample_app.sqlite3",
        # Print each email (with its link and code) on the server's stdout.
        PASSWORDLESS_MAIL_BACKEND="console",
        PASSWORDLESS_BASE_URL="http://127.0.0.1:5000",
        # The extension's pages render inside this app's own layout.
        PASSWORDLESS_BASE_TEMPLATE="layout.html",
        PASSWORDLESS_SITE_NAME="Sample app",
        # Anyone can try the sample: a first sign-in creates the account.
        PASSWORDLESS_REGISTER_UNKNOWN=True,
        # Every flow on: texts are printed too, unless Twilio is configured (below).
        PASSWORDLESS_SMS_ENABLED=True,
        PASSWORDLESS_SMS_BACKEND="console",
        PASSWORDLESS_PASSWORD_LOGIN=True,
        MAIL_DEFAULT_SENDER="Sample app <noreply@localhost>",
        # Say so explicitly: one process, limits kept in memory.
        RATELIMIT_STORAGE_URI="memory://",
    )
    app.config.from_prefixed_env()
    if app.config.get("PASSWORDLESS_TWILIO_ACCOUNT_SID") and (
        "FLASK_PASSWORDLESS_SMS_BACKEND" not in os.environ
    ):
        app.config["PASSWORDLESS_SMS_BACKEND"] = "twilio"
    if app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        app.logger.warning("Using the development SECRET_KEY; set FLASK_SECRET_KEY.")

    db.init_app(app)
    # Batch mode lets later migrations alter columns on SQLite too.
    migrate.init_app(
        app, db, directory=str(Path(__file__).with_name("migrations")), render_as_batch=True
    )
    passwordless.init_app(app, db=db, user_model=User)

    @app.get("/")
    def home():
        return render_template("home.html")

    @app.get("/private")
    @auth_required
    def private():
        return render_template("private.html")

    return app
