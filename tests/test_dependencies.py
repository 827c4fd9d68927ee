"""Dependency floors: the lowest versions setup.cfg accepts have the known security fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from setuptools.config.setupcfg import read_configuration

from apps import User, create_app, db
from conftest import code_in, request_login, submit_code

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = read_configuration(ROOT / "setup.cfg")["options"]
REQUIREMENTS = {
    Requirement(line).name.lower(): Requirement(line)
    for line in [*OPTIONS["install_requires"], *OPTIONS["extras_require"]["test"]]
}


@pytest.mark.parametrize(
    ("package", "vulnerable", "fixed"),
    [
        ("flask", ["3.0.0", "3.1.0", "3.1.2"], "3.1.3"),  # CVE-2025-47278, CVE-2026-27205
        ("werkzeug", ["3.0.0", "3.0.5", "3.1.3", "3.1.5"], "3.1.6"),  # see setup.cfg
        ("gunicorn", ["22.0.0"], "23.0.0"),  # CVE-2024-1135, CVE-2024-6827
        ("requests", ["2.31.0", "2.32.3"], "2.32.4"),  # CVE-2024-47081
    ],
)
def test_floors_refuse_the_releases_with_known_flaws(package, vulnerable, fixed):
    specifier = REQUIREMENTS[package].specifier
    assert [v for v in vulnerable if specifier.contains(v)] == []
    assert specifier.contains(fixed)


def test_sessions_are_signed_with_the_new_key_during_a_rotation(tmp_path):
    """The README recommends SECRET_KEY_FALLBACKS for key rotation; Flask 3.1.0
    signed with the last fallback instead, so dropping the old key later would
    have signed everyone out (CVE-2025-47278)."""
    url = f"sqlite:///{tmp_path / 'rotation.db'}"
    app = create_app(url, SECRET_KEY="the new key", SECRET_KEY_FALLBACKS=["the old key"])
    with app.app_context():
        db.create_all()
        db.session.add(User(email="alice@example.com"))
        db.session.commit()
    client = app.test_client()
    request_login(client, "alice@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    # Once the old key is gone, the cookie signed today must still be good.
    after = create_app(url, SECRET_KEY="the new key")
    serializer = after.session_interface.get_signing_serializer(after)
    assert "_user_id" in serializer.loads(cookie)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
