"""The Content-Security-Policy of the extension's pages, and the markup it allows.

(The browser tier checks the same in Chromium: tests/test_browser_csp.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import csrf_token

ROOT = Path(__file__).resolve().parent.parent
STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: Markup a strict policy refuses: inline scripts, style blocks and attributes,
#: event-handler attributes and javascript: URLs.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.I
)
PAGE_TEMPLATES = sorted((ROOT / "templates" / "passwordless").glob("*.html"))
SAMPLE_TEMPLATES = sorted((ROOT / "sample_app" / "templates").glob("*.html"))


@pytest.mark.parametrize(
    "path", ["/auth/login", "/auth/login/sms", "/auth/login/password", "/auth/reset"]
)
def test_extension_pages_send_the_strict_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == STRICT


def test_error_and_rate_limit_pages_send_it_too(make_app):
    app = make_app(PASSWORDLESS_LIMIT_CHECK_PER_IP="2/minute")  # the link's redirect, its page
    client = app.test_client()
    dead = client.get("/auth/login/link?token=" + "a" * 43, follow_redirects=True)
    assert dead.status_code == 400
    assert dead.headers["Content-Security-Policy"] == STRICT
    limited = client.get("/auth/login/link")
    assert limited.status_code == 429
    assert limited.headers["Content-Security-Policy"] == STRICT


@pytest.mark.parametrize(
    ("setting", "sent"),
    [
        (None, "frame-ancestors 'none'"),
        (False, "frame-ancestors 'none'"),
        ("", "frame-ancestors 'none'"),
        (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    ],
    ids=["none", "false", "empty", "own-policy"],
)
def test_the_policy_is_replaced_or_reduced_to_the_framing_rule(make_app, setting, sent):
    app = make_app(PASSWORDLESS_CONTENT_SECURITY_POLICY=setting)
    response = app.test_client().get("/auth/login")
    assert response.headers["Content-Security-Policy"] == sent
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_policy_the_host_sets_itself_wins(app, client):
    @app.after_request
    def own_policy(response):
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert client.get("/auth/login").headers["Content-Security-Policy"] == "default-src 'none'"


def test_the_hosts_own_pages_and_static_files_get_no_policy(client):
    assert "Content-Security-Policy" not in client.get("/").headers
    css = client.get("/auth/static/passwordless/passwordless.css")
    assert css.status_code == 200
    assert "Content-Security-Policy" not in css.headers


def test_a_post_answer_carries_the_policy(app, client):
    response = client.post(
        "/auth/login", data={"email": "not an address", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == STRICT


@pytest.mark.parametrize(
    "template", PAGE_TEMPLATES + SAMPLE_TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_pages_have_no_inline_script_or_style(template):
    """Emails are not pages (mail clients need inline styles): only page templates."""
    source = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.S)  # never served
    found = INLINE.findall(source)
    assert found == [], f"{template.name}: {found}"


def test_the_inline_markup_check_does_catch_inline_markup():
    for markup in (
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<p style="color: red">',
        '<button onclick="go()">',
        '<a href="javascript:go()">',
    ):
        assert INLINE.search(markup), markup
    assert not INLINE.search('<script src="/auth/static/passwordless/otp.js" defer></script>')
