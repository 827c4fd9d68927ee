"""Helpers for tests of passwords, the second factor and remembered devices."""

from __future__ import annotations

from apps import User, db
from conftest import code_in, csrf_token
from flask_passwordless.clock import utcnow
from flask_passwordless.passwords import hash_password

PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"


def make_user(app, email="alice@example.com", *, password=PASSWORD, phone=None, two_factor=False):
    with app.app_context():
        user = User(
            email=email,
            password_hash=hash_password(password) if password else None,
            phone_number=phone,
            phone_verified_at=utcnow() if phone else None,
            two_factor_enabled=two_factor,
        )
        db.session.add(user)
        db.session.commit()
        return db.session.get(User, user.id)


def password_login(client, email="alice@example.com", password=PASSWORD, next_url=None):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client)}
    if next_url:
        data["next"] = next_url
    return client.post("/auth/login/password", data=data)


def last(app, channel):
    messages = [m for m in app.extensions["passwordless"].outbox if m.channel == channel]
    return messages[-1] if messages else None


def count(app, channel):
    return sum(1 for m in app.extensions["passwordless"].outbox if m.channel == channel)


def pass_second_factor(app, client, channel="sms", remember=False):
    data = {"code": code_in(last(app, channel)), "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/two-factor", data=data)


def sign_out(client):
    return client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
