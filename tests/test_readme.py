"""The README documents every setting, signal and template that exists."""

from __future__ import annotations

import re
from pathlib import Path

import flask_passwordless
from flask_passwordless.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text()


def test_every_setting_is_documented_with_its_default():
    for name, (default, _doc) in SETTINGS.items():
        row = next(
            (
                line
                for line in README.splitlines()
                if re.match(rf"``PASSWORDLESS_{name}``\s{{2}}", line)
            ),
            None,
        )
        assert row is not None, f"PASSWORDLESS_{name} missing from README"
        shown = f'"{default}"' if isinstance(default, str) else repr(default)
        assert f"``{shown}``" in row, f"README shows the wrong default for {name}"


def test_every_signal_is_documented():
    names = [n for n in flask_passwordless.__all__ if n.islower() and n != "auth_required"]
    for name in names:
        assert f"``{name}``" in README


def test_every_template_is_documented():
    folder = ROOT / "templates"
    for path in folder.rglob("*.html"):
        relative = path.relative_to(folder).as_posix()
        stem = relative.removesuffix(".html")
        assert f"``{relative}``" in README or f"``{stem}.txt``" in README, relative


def test_readme_test_command_is_what_ci_runs():
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_is_valid_restructuredtext():
    """PyPI refuses a long description with errors; a malformed table is one."""
    import docutils.core
    from docutils import nodes

    document = docutils.core.publish_doctree(
        README, settings_overrides={"report_level": 5, "halt_level": 5}
    )
    problems = [m.astext() for m in document.findall(nodes.system_message) if m["level"] >= 2]
    assert problems == []
