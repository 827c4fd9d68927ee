"""The README documents every setting, signal and template that exists."""

from __future__ import annotations

import re
from pathlib import Path

import docutils.core
import pytest
from docutils import nodes
from jinja2 import meta
from jinja2 import nodes as jinja_nodes

import flask_passwordless
from apps import create_app
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


def readme_tables() -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every table of the README as docutils renders it, by its first header cell:
    the header, and the rows as lists of cell texts (whitespace collapsed)."""

    def text(entry: nodes.Element) -> str:
        return " ".join(entry.astext().split())

    document = docutils.core.publish_doctree(
        README, settings_overrides={"report_level": 5, "halt_level": 5}
    )
    tables = {}
    for table in document.findall(nodes.table):
        header = [text(e) for e in table.next_node(nodes.thead).findall(nodes.entry)]
        body = table.next_node(nodes.tbody)
        rows = [[text(e) for e in row.findall(nodes.entry)] for row in body.findall(nodes.row)]
        tables[header[0]] = (header, rows)
    return tables


TABLES = readme_tables()
#: The README's tables: first header cell -> the columns it must have.
COLUMNS = {
    "method": ["method", "path", "endpoint", "what"],
    "key": ["key", "default", "what"],
    "template": ["template", "variables", "what"],
    "signal": ["signal", "keyword arguments", "sent when"],
    "type": ["type", "factor", "may be", "lives in"],
    "threat": ["threat", "default defence", "settings"],
    "measure": ["measure", "ratio", "target"],
    "level": ["level", "reauthenticate at least every", "inactivity timeout", "settings"],
}
#: Settings of the libraries underneath that a settings cell may name.
OTHER_SETTINGS = {"SECRET_KEY", "SECRET_KEY_FALLBACKS", "WTF_CSRF_*", "RATELIMIT_STORAGE_URI"}
SETTING_NAME = re.compile(r"[A-Z][A-Z0-9_]*\*?")


def rows_of(first: str) -> list[list[str]]:
    return TABLES[first][1]


def test_every_table_has_its_columns_and_every_row_all_of_them():
    assert sorted(TABLES) == sorted(COLUMNS)
    for first, (header, rows) in TABLES.items():
        assert header == COLUMNS[first]
        for row in rows:
            assert len(row) == len(header), row
            # A continuation line with text in the first column starts a row of its own.
            assert all(row), f"the {first!r} table has a row with an empty cell: {row}"


def is_setting(name: str) -> bool:
    if name in OTHER_SETTINGS:
        return True
    if not name.startswith("PASSWORDLESS_"):
        return False
    short = name.removeprefix("PASSWORDLESS_")
    if short.endswith("*"):
        return any(key.startswith(short[:-1]) for key in SETTINGS)
    return short in SETTINGS


@pytest.mark.parametrize("row", rows_of("threat"), ids=lambda row: row[0])
def test_a_security_settings_cell_names_only_settings(row):
    """Text of the defence column that slid into the settings column (docutils
    accepts it silently) reads as a setting that does not exist."""
    settings = row[2]
    if settings in ("(none)", "as above"):
        return
    names = [name.strip() for name in settings.split(",") if name.strip()]
    assert names, row
    for name in names:
        assert SETTING_NAME.fullmatch(name) and is_setting(name), f"{name!r} in {row[0]!r}"


def test_the_configuration_table_lists_every_setting_with_its_default_in_order():
    rows = rows_of("key")
    assert [row[0] for row in rows] == [f"PASSWORDLESS_{name}" for name in SETTINGS]
    for (key, shown, what), (default, _doc) in zip(rows, SETTINGS.values(), strict=True):
        expected = f'"{default}"' if isinstance(default, str) else repr(default)
        assert shown == expected, key
        assert what, key


def test_the_url_map_names_real_endpoints_and_methods():
    app = create_app("sqlite://")
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    for method, path, endpoint, what in rows_of("method"):
        assert set(method.split()) <= {"GET", "POST"}, method
        assert path.startswith("/"), path
        assert f"passwordless.{endpoint}" in endpoints, endpoint
        assert what
    listed = {f"passwordless.{row[2]}" for row in rows_of("method")}
    assert {e for e in endpoints if e.startswith("passwordless.")} - listed == set()


def test_the_authenticator_table_says_factor_and_role_in_their_columns():
    for name, factor, may_be, lives_in in rows_of("type"):
        assert factor in ("have", "know", "are"), name
        assert may_be in ("first", "second", "both"), name
        assert lives_in, name


def test_every_signal_row_names_an_exported_signal():
    for name, _arguments, when in rows_of("signal"):
        assert name in flask_passwordless.__all__, name
        assert when, name


def template_files(cell: str) -> list[str]:
    """``passwordless/email/login.txt`` ``.html`` names both parts."""
    first, *others = cell.split()
    return [first] + [first.rsplit(".", 1)[0] + suffix for suffix in others]


def received_variables(app, name: str) -> set[str]:
    """What a template reads that it neither sets nor imports, nor gets from every
    template's context (url_for, config, csrf_token, request, current_user...)."""
    source = (ROOT / "templates" / name).read_text()
    tree = app.jinja_env.parse(source)
    declared = {
        node.name for node in tree.find_all(jinja_nodes.Name) if node.ctx in ("store", "param")
    }
    for imported in tree.find_all(jinja_nodes.FromImport):
        declared |= {n if isinstance(n, str) else n[1] for n in imported.names}
    declared |= {node.target for node in tree.find_all(jinja_nodes.Import)}
    with app.test_request_context():
        everywhere = {}
        app.update_template_context(everywhere)
    return (
        meta.find_undeclared_variables(tree)
        - declared
        - set(app.jinja_env.globals)
        - set(everywhere)
    )


def test_the_templates_table_lists_the_variables_each_template_receives():
    app = create_app("sqlite://")
    listed = set()
    for cell, variables, _what in rows_of("template"):
        files = template_files(cell)
        listed |= set(files)
        documented = set() if variables == "(none)" else set(variables.split(", "))
        found = set().union(*(received_variables(app, name) for name in files))
        assert documented == found, f"{cell}: README says {documented}, Jinja finds {found}"
    shipped = {
        p.relative_to(ROOT / "templates").as_posix()
        for p in (ROOT / "templates").rglob("*")
        if p.is_file()
    }
    assert listed == shipped
