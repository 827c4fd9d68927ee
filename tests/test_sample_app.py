"""The sample app: its migrations match the models, and its pages work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CSRF_FIELD

ROOT = Path(__file__).resolve().parent.parent


def _flask(tmp_path, *args):
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sample.db'}",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "sample_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_migrations_build_the_schema_the_models_describe(tmp_path):
    upgrade = _flask(tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    check = _flask(tmp_path, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


@pytest.fixture
def sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.syspath_prepend(str(ROOT))
    from sample_app import create_app
    from sample_app.app import db

    app = create_app()
    with app.app_context():
        db.create_all()
    return app


def test_a_visitor_signs_up_with_the_link_printed_in_the_terminal(sample, capsys):
    client = sample.test_client()
    assert "You are not signed in." in client.get("/").get_data(as_text=True)
    page = client.get("/auth/login?next=/private").get_data(as_text=True)
    assert '<nav aria-label="Main">' in page  # the sample's own layout wraps the page
    token = CSRF_FIELD.search(page).group(1)
    client.post(
        "/auth/login",
        data={"email": "visitor@example.com", "csrf_token": token, "next": "/private"},
    )
    sample.extensions["passwordless"].dispatcher.wait()
    printed = capsys.readouterr().out
    link = re.search(r"http://127\.0\.0\.1:5000(/auth/login/link\?token=\S+)", printed).group(1)
    confirm = client.get(link, follow_redirects=True).get_data(as_text=True)
    csrf = CSRF_FIELD.search(confirm).group(1)
    token_value = link.split("token=")[1]
    response = client.post("/auth/login/link", data={"token": token_value, "csrf_token": csrf})
    assert response.headers["Location"] == "/private"
    home = client.get("/").get_data(as_text=True)
    assert "visitor@example.com" in home and "Remembered devices" in home
    csrf = CSRF_FIELD.search(client.get("/auth/login").text).group(1)
    out = client.post("/auth/logout", data={"csrf_token": csrf}, follow_redirects=True)
    assert '<p class="flash flash-success" role="status">You are signed out.</p>' in out.text
    assert "You are not signed in." in out.text


def test_twilio_settings_switch_the_sample_to_twilio(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setenv("FLASK_PASSWORDLESS_TWILIO_ACCOUNT_SID", '"AC123"')
    monkeypatch.syspath_prepend(str(ROOT))
    from sample_app import create_app

    assert create_app().config["PASSWORDLESS_SMS_BACKEND"] == "twilio"
