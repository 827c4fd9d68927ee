"""The three host apps the bench compares, built the same way on the same kind of database.

* ``bare``: Flask + Flask-SQLAlchemy + Flask-Login, a user loader doing one
  primary-key query. The floor any auth layer is measured against.
* ``ours``: the same host with flask-passwordless (``auth_required``).
* ``fst``: the same host with Flask-Security-Too 5.9 (``auth_required``,
  unified sign-in with the email method first).

Every app serves ``/private`` (protected, returns the same short text) and
``/hello`` (unprotected, the cost of Flask and the test client alone).
Each kind has its own ``SQLAlchemy`` object, so each has its own tables.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
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


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
) -> Flask:
    """Our rate limits off unless ``limits``: every bench sign-in comes from one IP,
    many times a minute, and FST has no limits to compare with. Off from the start,
    the Limiter the extension creates is off too. ``limits=True`` is the default
    deployment, whose Flask-Limiter hooks run on every request of the app."""
    app = _flask("ours", database_url, schema)
    app.config.update(
        PASSWORDLESS_BASE_URL=BASE_URL,
        PASSWORDLESS_MAIL_BACKEND=mail_backend,
        PASSWORDLESS_SITE_NAME="Bench",
        PASSWORDLESS_POST_LOGIN_URL="/private",
        PASSWORDLESS_LIMITER_ENABLED=limits,
        MAIL_DEFAULT_SENDER="noreply@bench.example",
        RATELIMIT_STORAGE_URI="memory://",
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

        # FST's relationships name these classes "Role" and "User".
        class Role(db.Model, fsqla.FsRoleMixin):
            __tablename__ = "role"

        class User(db.Model, fsqla.FsUserMixin):
            __tablename__ = "user"

        _Fst.db, _Fst.User, _Fst.Role = db, User, Role
    return _Fst


def make_fst(
    database_url: str,
    schema: str | None = None,
    outbox: Callable[[dict[str, Any]], None] | None = None,
) -> Flask:
    """Flask-Security-Too with unified sign-in, email method first, CSRF on (its forms
    are FlaskForms). Emails go to ``outbox`` (a callable) instead of SMTP."""
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
        app = make_ours(url, schema, mail_backend=file_outbox(outbox_dir, kind))
    elif kind == "fst":
        app = make_fst(url, schema, outbox=file_outbox(outbox_dir, kind))
    else:
        app = make_bare(url, schema)
    with app.app_context():
        # Tables the package gained since the database was filled (it is being worked on).
        app.extensions["bench"]["db"].create_all()
    return app
