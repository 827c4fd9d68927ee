"""The three host apps the bench compares, built the same way on the same kind of database.

* ``bare``: Flask + Flask-SQLAlchemy + Flask-Login, a user loader doing one
  primary-key query. The floor any auth layer is measured against.
* ``ours``: the same host with flask-passwordless (``auth_required``).
* ``fst``: the same host with Flask-Security-Too 5.9 (``auth_required``,
  unified sign-in with the email method first).

For the password + authenticator-app sign-in, ``make_ours(totp=True)`` and
``make_fst(totp=True)`` build a second app of each kind on the same database,
so the apps the other flows measure keep their configuration: ours with
password sign-in on, FST with its two-factor "authenticator" method. Both hash
passwords the same way there (PBKDF2-SHA256, 1,000 rounds): see ``TOTP_NOTE``.

Every app serves ``/private`` (protected, returns the same short text) and
``/hello`` (unprotected, the cost of Flask and the test client alone).
Each kind has its own ``SQLAlchemy`` object, so each has its own tables.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_passwordless import Passwordless, PasswordlessUserMixin, auth_required

SECRET_KEY = "bench-secret-key-not-for-production"
BASE_URL = "https://bench.example"
KINDS = ("bare", "ours", "fst")
LABELS = {"bare": "Flask-Login", "ours": "passwordless", "fst": "Flask-Security"}

bare_db = SQLAlchemy()
ours_db = SQLAlchemy()


class BareUser(bare_db.Model, UserMixin):
    """The same host user table as ours (the same columns), without the extension."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    phone_number: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    two_factor_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class OursUser(ours_db.Model, PasswordlessUserMixin):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


#: The password of the users who sign in with a password and an authenticator app.
TOTP_PASSWORD = "bench-password-7Lq2"
#: One password hash for both libraries in the TOTP flow: PBKDF2-HMAC-SHA256 at
#: 1,000 rounds (Werkzeug's and passlib's names for it). Their defaults (our
#: scrypt, FST's argon2) differ in cost by design; the bench times them apart.
OURS_TOTP_HASH = "pbkdf2:sha256:1000"
FST_TOTP_HASH = {
    "SECURITY_PASSWORD_HASH": "pbkdf2_sha256",
    "SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS": {"pbkdf2_sha256__rounds": 1000},
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SteppingClock:
    """Our extension's clock in the TOTP app: it moves one TOTP time step (30 s)
    per sign-in (``tick``), so every sign-in types the code of a fresh step (a
    step is accepted once per app), and stands still within a sign-in."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or utcnow()

    def __call__(self) -> datetime:
        return self.at

    def tick(self) -> datetime:
        self.at += timedelta(seconds=30)
        return self.at


def _flask(name: str, database_url: str, schema: str | None) -> Flask:
    app = Flask(f"bench_{name}", root_path=str(Path(__file__).parent))
    app.config.update(
        SECRET_KEY=SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url, schema),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    return app


def engine_options(database_url: str, schema: str | None) -> dict[str, Any]:
    """PostgreSQL runs in its own schema (search_path), never the test suite's tables."""
    if schema and database_url.startswith("postgresql"):
        return {"connect_args": {"options": f"-csearch_path={schema}"}}
    return {}


def _hello() -> str:
    return "hello"


def make_bare(database_url: str, schema: str | None = None) -> Flask:
    app = _flask("bare", database_url, schema)
    bare_db.init_app(app)
    manager = LoginManager(app)

    @manager.user_loader
    def load_user(user_id: str) -> Any:
        return bare_db.session.get(BareUser, int(user_id))

    @app.get("/private")
    @login_required
    def private() -> str:
        return f"private page of {current_user.email}"

    @app.get("/_bench/sign-in/<int:user_id>")
    def sign_in(user_id: int) -> str:
        """Bench only: the bare app has no sign-in flow of its own."""
        from flask_login import login_user

        login_user(bare_db.session.get(BareUser, user_id))
        return "ok"

    app.add_url_rule("/hello", view_func=_hello)
    app.extensions["bench"] = {"db": bare_db, "user": BareUser}
    return app


def make_ours(
    database_url: str,
    schema: str | None = None,
    mail_backend: str | Callable[[Any], None] = "memory",
    limits: bool = False,
    totp: bool = False,
    notify: bool = True,
) -> Flask:
    """Our rate limits off unless ``limits``: every bench sign-in comes from one IP,
    many times a minute, and FST has no limits to compare with. Off from the start,
    the Limiter the extension creates is off too. ``limits=True`` is the default
    deployment, whose Flask-Limiter hooks run on every request of the app.
    ``totp=True``: password sign-in on, and the clock a ``SteppingClock``.
    ``notify=False``: no new-browser email (FST sends none), for the same work."""
    app = _flask("ours", database_url, schema)
    app.config.update(
        PASSWORDLESS_BASE_URL=BASE_URL,
        PASSWORDLESS_MAIL_BACKEND=mail_backend,
        PASSWORDLESS_SITE_NAME="Bench",
        PASSWORDLESS_POST_LOGIN_URL="/private",
        PASSWORDLESS_LIMITER_ENABLED=limits,
        PASSWORDLESS_NOTIFY_NEW_DEVICE=notify,
        MAIL_DEFAULT_SENDER="noreply@bench.example",
        RATELIMIT_STORAGE_URI="memory://",
    )
    if totp:
        app.config.update(
            PASSWORDLESS_PASSWORD_LOGIN=True, PASSWORDLESS_PASSWORD_HASH=OURS_TOTP_HASH
        )
    ours_db.init_app(app)
    # Quiet only the start-up advice (cookie flags, https, limiter storage), which is
    # about deployments, not the bench; logging stays as it was for the requests.
    advice = logging.getLogger("flask_passwordless")
    level = advice.level
    advice.setLevel(logging.ERROR)
    try:
        Passwordless().init_app(app, db=ours_db, user_model=OursUser)
    finally:
        advice.setLevel(level)
    if totp:
        app.extensions["passwordless"].clock = SteppingClock()

    @app.get("/private")
    @auth_required
    def private() -> str:
        return f"private page of {current_user.email}"

    app.add_url_rule("/hello", view_func=_hello)
    app.extensions["bench"] = {"db": ours_db, "user": OursUser}
    return app


class _Fst:
    """Flask-Security-Too's models, declared once (FsModels keeps its db globally)."""

    db: Any = None
    User: Any = None
    Role: Any = None
    WebAuthn: Any = None  # kept here: SQLAlchemy's class registry holds classes weakly


def fst_available() -> bool:
    try:
        import flask_security  # noqa: F401
    except ImportError:
        return False
    return True


def _fst_models() -> _Fst:
    if _Fst.db is None:
        from flask_security.models import fsqla_v3 as fsqla

        db = SQLAlchemy()
        fsqla.FsModels.set_db_info(db)

        # FST's relationships name these classes "Role", "User" and "WebAuthn".
        class Role(db.Model, fsqla.FsRoleMixin):
            __tablename__ = "role"

        class User(db.Model, fsqla.FsUserMixin):
            __tablename__ = "user"

        # With py_webauthn installed (ours needs it for passkeys), FST's user model
        # has a relationship to this one, which must then exist.
        class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
            __tablename__ = "webauthn"

        _Fst.db, _Fst.User, _Fst.Role, _Fst.WebAuthn = db, User, Role, WebAuthn
    return _Fst


def make_fst(
    database_url: str,
    schema: str | None = None,
    outbox: Callable[[dict[str, Any]], None] | None = None,
    totp: bool = False,
) -> Flask:
    """Flask-Security-Too with unified sign-in, email method first, CSRF on (its forms
    are FlaskForms). Emails go to ``outbox`` (a callable) instead of SMTP.
    ``totp=True``: its two-factor sign-in with the authenticator method, for users
    with ``tf_primary_method = "authenticator"`` (others sign in as before)."""
    from flask_security import Security, SQLAlchemyUserDatastore
    from flask_security import auth_required as fst_auth_required
    from flask_security.mail_util import MailUtil

    models = _fst_models()
    app = _flask("fst", database_url, schema)
    app.config.update(
        SECURITY_PASSWORD_SALT="bench-salt",
        SECURITY_UNIFIED_SIGNIN=True,
        # Email first, so a code is checked before any password hash.
        SECURITY_US_ENABLED_METHODS=["email", "password"],
        SECURITY_TOTP_SECRETS={"1": "bench-totp-secret-not-for-production"},
        SECURITY_TOTP_ISSUER="Bench",
        SECURITY_POST_LOGIN_VIEW="/private",
        SECURITY_EMAIL_SENDER="noreply@bench.example",
        SERVER_NAME=None,
    )
    if totp:
        app.config.update(
            SECURITY_TWO_FACTOR=True,
            SECURITY_TWO_FACTOR_ENABLED_METHODS=["authenticator"],
            **FST_TOTP_HASH,
        )
    sent: list[dict[str, Any]] = []
    deliver = outbox or sent.append

    class CapturingMailUtil(MailUtil):
        """Like our memory backend: the rendered message is kept, not sent."""

        def send_mail(self, template, subject, recipient, sender, body, html, **kwargs):
            deliver(
                {
                    "to": recipient,
                    "subject": subject,
                    "text": body,
                    "html": html,
                    "code": kwargs.get("login_token"),
                    "link": kwargs.get("login_link"),
                }
            )

    models.db.init_app(app)
    datastore = SQLAlchemyUserDatastore(models.db, models.User, models.Role)
    Security(app, datastore, mail_util_cls=CapturingMailUtil)

    @app.get("/private")
    @fst_auth_required()
    def private() -> str:
        return f"private page of {current_user.email}"

    app.add_url_rule("/hello", view_func=_hello)
    app.extensions["bench"] = {
        "db": models.db,
        "user": models.User,
        "outbox": sent,
        "datastore": datastore,
    }
    return app


def make_app(kind: str, database_url: str, schema: str | None = None, **kwargs: Any) -> Flask:
    return {"bare": make_bare, "ours": make_ours, "fst": make_fst}[kind](
        database_url, schema, **kwargs
    )


def ours_totp_data(app: Flask, secret: str, user_key: str) -> dict[str, Any]:
    """An authenticator row's data as our enrolment stores it (the secret sealed)."""
    from flask_passwordless.authenticators import totp

    with app.app_context():
        return totp.data_for(secret, user_key)


def ours_totp_secret(app: Flask, data: dict[str, Any], user_key: str) -> str:
    """The secret in a stored row, opened as our check opens it: what the phone holds."""
    from flask_passwordless.authenticators import sealing

    with app.app_context():
        return sealing.open_sealed(data["secret"], user_key)


def ours_totp_code(app: Flask, secret: str) -> str:
    """The code an app shows at our extension's clock (RFC 6238, 6 digits, 30 s)."""
    import pyotp

    now = app.extensions["passwordless"].clock().replace(tzinfo=timezone.utc)
    return pyotp.TOTP(secret).at(now)


def fst_totp_user_values(app: Flask) -> tuple[str, Callable[[], str]]:
    """FST's own helpers: a password hash for TOTP_PASSWORD (``app`` built with
    ``totp=True``), and a maker of fresh (encrypted) authenticator secrets, as
    its tf-setup makes them."""
    from flask_security.utils import hash_password

    with app.app_context():
        password = hash_password(TOTP_PASSWORD)
    factory = app.extensions["security"].totp_factory
    return password, factory.generate_totp_secret


def fst_totp_code(app: Flask, totp_secret: str) -> str:
    """The code an app shows now, from FST's own helper (passlib, the real clock)."""
    with app.app_context():
        return app.extensions["security"].totp_factory.generate_totp_password(totp_secret)


def fst_email_secret(app: Flask) -> str:
    """A fresh (encrypted) TOTP secret for FST's email method, as us_setup_email makes."""
    with app.app_context():
        return json.dumps({"email": app.extensions["security"].totp_factory.generate_totp_secret()})


def wsgi_from_env() -> Flask:
    """For gunicorn: the app named by BENCH_KIND on BENCH_DATABASE_URL, emails to files."""
    from .server import file_outbox

    kind = os.environ["BENCH_KIND"]
    url = os.environ["BENCH_DATABASE_URL"]
    schema = os.environ.get("BENCH_SCHEMA") or None
    outbox_dir = os.environ["BENCH_OUTBOX"]
    if kind == "ours":
        limits = os.environ.get("BENCH_LIMITS") == "1"  # as deployed by default
        app = make_ours(url, schema, mail_backend=file_outbox(outbox_dir, kind), limits=limits)
    elif kind == "fst":
        app = make_fst(url, schema, outbox=file_outbox(outbox_dir, kind))
    else:
        app = make_bare(url, schema)
    with app.app_context():
        # Tables the package gained since the database was filled (it is being worked on).
        app.extensions["bench"]["db"].create_all()
    return app
