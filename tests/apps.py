"""The host app the tests sign in to: a real Flask app with its own user model."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_login import current_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_passwordless import Passwordless, PasswordlessUserMixin, auth_required

db = SQLAlchemy()
passwordless = Passwordless()


class User(db.Model, PasswordlessUserMixin):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


class ClosingClient(FlaskClient):
    """Reads each response whole and closes it, as a WSGI server does, so work
    scheduled to run after the response (message delivery) runs."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def create_app(database_url: str, template_folder: str = "templates", **config) -> Flask:
    app = Flask(__name__, template_folder=template_folder)
    app.config.update(
        SECRET_KEY="test-secret-key",
        SQLALCHEMY_DATABASE_URI=database_url,
        PASSWORDLESS_BASE_URL="https://app.example.com",
        PASSWORDLESS_MAIL_BACKEND="memory",
        PASSWORDLESS_SITE_NAME="Test App",
        MAIL_DEFAULT_SENDER="noreply@example.com",
        RATELIMIT_STORAGE_URI="memory://",
    )
    app.config.update(config)
    app.test_client_class = ClosingClient
    db.init_app(app)
    passwordless.init_app(app, db=db, user_model=User)

    @app.route("/")
    def home():
        who = current_user.email if current_user.is_authenticated else "nobody"
        return render_template_string("<p>signed in: {{ who }}</p>", who=who)

    @app.route("/private")
    @auth_required
    def private():
        return f"private page of {current_user.email}"

    return app
