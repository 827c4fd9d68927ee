"""A host app written against the public API, for mypy only (never run).

``make test`` checks this file with the package's ``[mypy]`` settings. Each
``assert_type`` pins what an annotation promises, and each ``type: ignore[...]``
marks a call the annotations must refuse: with ``warn_unused_ignores`` on, an
annotation loosened to ``Any`` (or a wrong one) fails the check either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase
from typing_extensions import assert_type

from flask_passwordless import (
    AuthenticatorType,
    Message,
    Passwordless,
    PasswordlessError,
    PasswordlessUserMixin,
    UserAdapter,
    auth_required,
    session_started,
    user_logged_in,
)
from flask_passwordless.extension import PasswordlessState
from flask_passwordless.steps import Step


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
passwordless = Passwordless()


class User(db.Model, PasswordlessUserMixin):  # type: ignore[name-defined]
    pass


class StaffAdapter(UserAdapter):
    """A host's adapter: staff always take two steps."""

    def two_factor_required(self, user: Any) -> bool:
        return bool(getattr(user, "is_staff", False))


class BadgeType(AuthenticatorType):
    name, label, prompt = "badge", "Office badge", "Badge code"

    def is_second(self) -> bool:
        return True

    def enrolled(self, user: Any) -> bool:
        return getattr(user, "badge_id", None) is not None

    def verify(self, user: Any, value: str, step: Step) -> bool:
        return value == "1234"

    def last_used(self, user: Any) -> datetime | None:
        return None


def create_app() -> Flask:
    app = Flask(__name__)
    db.init_app(app)
    passwordless.init_app(app, db=db, user_model=User)
    Passwordless.register_authenticator(app, BadgeType())
    assert_type(Passwordless.state(app), PasswordlessState)
    assert_type(Passwordless.state(app).adapter, UserAdapter)
    return app


def create_app_with_adapter() -> Flask:
    app = Flask(__name__)
    Passwordless(app, db=db, adapter=StaffAdapter(db, User))
    return app


# Wrong arguments the annotations refuse.
Passwordless(db="not a db")  # type: ignore[arg-type]
Passwordless(user_model="User")  # type: ignore[arg-type]
Passwordless.register_authenticator(Flask(__name__), "badge")  # type: ignore[arg-type]
UserAdapter("db", User)  # type: ignore[arg-type]
UserAdapter(db, "User")  # type: ignore[arg-type]
UserAdapter(db, User).set_phone(User(), "+14155552671", verified_at="now")  # type: ignore[arg-type]


# The decorator keeps the view's type, bare or with arguments.
def dashboard() -> str:
    return "hello"


def invoice(number: int) -> str:
    return f"invoice {number}"


recent_invoice = auth_required(within=timedelta(minutes=5))(invoice)
assert_type(auth_required(dashboard)(), str)
assert_type(recent_invoice(3), str)
assert_type(auth_required(methods=["totp"], level=2)(invoice)(3), str)
recent_invoice("3")  # type: ignore[arg-type]
auth_required(within=lambda: timedelta(minutes=5))(dashboard)
auth_required(within=300)  # type: ignore[call-overload]
auth_required(methods="totp", level="2")  # type: ignore[call-overload]


@auth_required
def settings() -> str:
    return "settings"


@auth_required(level=2)
def payout(amount: int) -> str:
    return f"paid {amount}"


assert_type(settings(), str)
assert_type(payout(3), str)
payout("3")  # type: ignore[arg-type]


# Signals are blinker signals, sent with the app as sender.
def on_login(sender: Flask, **data: Any) -> None:
    print(data["user"], data["method"])


user_logged_in.connect(on_login)
session_started.connect(on_login, sender=Flask(__name__))


# A message handed to a host's sender, and the errors the pages render.
def deliver(message: Message) -> None:
    assert_type(message.to, str)
    assert_type(message.html, str | None)
    assert_type(message.links, tuple[str, ...])


def status_of(error: PasswordlessError) -> int:
    return error.status
