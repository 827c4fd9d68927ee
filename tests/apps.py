"""The host app the tests sign in to: a real Flask app with its own user model."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_login import current_user
from flask_sqlalchemy import SQLAlchemy
from jinja_cache import share_compiled_templates
from sqlalchemy.orm import Mapped, mapped_column

from flask_passwordless import Passwordless, PasswordlessUserMixin, auth_required

db = SQLAlchemy()
passwordless = Passwordless()


class User(db.Model, PasswordlessUserMixin):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


class DeliveringClient(FlaskClient):
    """Waits after each request for the messages it queued to be delivered
    (they go out on a background thread), so tests read a settled outbox."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        self.application.extensions["passwordless"].dispatcher.wait()
        return response


def create_app(database_url: str, template_folder: str = "templates", **config) -> Flask:
    app = share_compiled_templates(Flask(__name__, template_folder=template_folder))
    app.config.update(
        SECRET_KEY="test-secret-key",
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=database_url,
        PASSWORDLESS_BASE_URL="https://app.example.com",
        PASSWORDLESS_MAIL_BACKEND="memory",
        PASSWORDLESS_SMS_BACKEND="memory",
        PASSWORDLESS_SMS_ENABLED=True,
        PASSWORDLESS_PASSWORD_LOGIN=True,
        PASSWORDLESS_PASSWORD_HASH="scrypt:1024:8:1",  # cheap for tests; the default is strong
        PASSWORDLESS_PHONE_ALLOWED_REGIONS=["US", "GB", "FR", "DE"],
        PASSWORDLESS_SITE_NAME="Test App",
        MAIL_DEFAULT_SENDER="noreply@example.com",
        RATELIMIT_STORAGE_URI="memory://",
    )
    app.config.update(config)
    app.test_client_class = DeliveringClient
    db.init_app(app)
    passwordless.init_app(app, db=db, user_model=User)

    @app.route("/")
    def home():
        who = current_user.email if current_user.is_authenticated else "nobody"
        return render_template_string(
            '{% from "passwordless/macros.html" import logout_button %}'
            "<p>signed in: {{ who }}</p>{{ logout_button() }}",
            who=who,
        )

    @app.route("/private")
    @auth_required
    def private():
        return f"private page of {current_user.email}"

    @app.route("/vault")
    @auth_required(level=2)
    def vault():
        return f"vault of {current_user.email}"

    return app
