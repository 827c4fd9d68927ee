"""The built wheel carries the templates and static files, and works installed.

Builds the wheel, installs it into a fresh virtualenv (no system site
packages, nothing from this checkout on the path), and renders the login
page and serves the stylesheet from the installed copy.
"""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path

import pytest
from built_wheel import ROOT, fresh_venv, run

from flask_passwordless.i18n import SHIPPED_LANGUAGES

pytestmark = pytest.mark.slow

SHIPPED = (
    "flask_passwordless/translations/flask_passwordless.pot",
    *(
        f"flask_passwordless/translations/{language}/LC_MESSAGES/flask_passwordless.mo"
        for language in SHIPPED_LANGUAGES
        if language != "en"
    ),
    "flask_passwordless/templates/passwordless/login.html",
    "flask_passwordless/templates/passwordless/email/login.txt",
    "flask_passwordless/static/passwordless/passwordless.css",
)
CHECK_APP = textwrap.dedent(
    """
    import json
    import sysconfig

    import sqlalchemy as sa
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy.orm import Mapped, mapped_column

    import flask_passwordless
    from flask_passwordless import Passwordless, PasswordlessUserMixin

    db = SQLAlchemy()


    class User(db.Model, PasswordlessUserMixin):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="wheel-test",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        PASSWORDLESS_BASE_URL="http://localhost",
        PASSWORDLESS_MAIL_BACKEND="memory",
    )
    db.init_app(app)
    Passwordless(app, db=db, user_model=User)
    with app.app_context():
        db.create_all()

    client = app.test_client()
    login = client.get("/auth/login")
    german = client.get("/auth/login", headers={"Accept-Language": "de"})
    css = client.get("/auth/static/passwordless/passwordless.css")
    print(json.dumps({
        "login_status": login.status_code,
        "login_html": login.get_data(as_text=True),
        "german_html": german.get_data(as_text=True),
        "css_status": css.status_code,
        "css": css.get_data(as_text=True),
        "package_file": flask_passwordless.__file__,
        "template_folder": app.blueprints["passwordless"].template_folder,
        "static_folder": app.blueprints["passwordless"].static_folder,
        "site_packages": sysconfig.get_paths()["purelib"],
    }))
    """
)


def test_wheel_ships_templates_and_static_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in SHIPPED:
        assert path in names, f"{path} is not in {wheel.name}"


def test_wheel_says_it_is_typed(wheel):
    """Without py.typed, a host's mypy treats every import from the package as Any."""
    assert "flask_passwordless/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_installed_wheel_renders_the_login_page(wheel, tmp_path):
    python = fresh_venv(tmp_path / "venv", wheel) / "python"
    script = tmp_path / "check_app.py"
    script.write_text(CHECK_APP)

    # cwd is tmp_path, so only the installed copy can be imported.
    output = run([python, script], timeout=120, cwd=tmp_path).stdout
    result = json.loads(output.strip().splitlines()[-1])

    assert result["login_status"] == 200
    assert result["css_status"] == 200
    assert '<form method="post" action="/auth/login"' in result["login_html"]
    assert 'name="email"' in result["login_html"]
    assert 'name="csrf_token"' in result["login_html"]
    assert "prefers-color-scheme" in result["css"]
    # The compiled catalogues came with it: German pages in German.
    assert '<html lang="de" dir="ltr">' in result["german_html"]
    assert "<h1>Anmelden</h1>" in result["german_html"]
    site_packages = Path(result["site_packages"]).resolve()
    for key in ("package_file", "template_folder", "static_folder"):
        where = Path(result[key]).resolve()
        assert where.is_relative_to(site_packages), f"{key} {where} is not installed"
        assert not where.is_relative_to(ROOT), f"{key} {where} is the source checkout"
