"""Rendering the extension's pages, its error pages, and the headers they all carry."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, make_response, render_template, request
from flask_wtf.csrf import CSRFError

from .config import setting
from .delivery import site_name
from .errors import (
    DatabaseNotSetUp,
    DatabaseUnavailable,
    FormExpired,
    PasswordlessError,
    RateLimited,
)
from .i18n import page_language, we_select
from .limits import retry_after
from .signals import emit, rate_limited
from .state import state
from .wording import duration

log = logging.getLogger("flask_passwordless")


def render_page(name: str, status: int = 200, **context: Any) -> Any:
    return make_response(render_template(f"passwordless/{name}", **context), status)


def template_context() -> dict[str, Any]:
    return {"passwordless_site_name": site_name(), **page_language()}


#: PASSWORDLESS_CONTENT_SECURITY_POLICY = "strict": the shipped pages load their one
#: stylesheet and one script from this origin and have no inline script, style or
#: event handler, so an injected tag can run or restyle nothing. ``data:`` images
#: are for QR codes; forms post only here; no <base> may move relative links.
STRICT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
#: What every page sends however the policy is set: it cannot be framed.
FRAME_POLICY = "frame-ancestors 'none'"


def content_security_policy() -> str:
    """The policy for the extension's pages: the strict one, the host's own, or
    (None, False) only the framing rule, for layouts that need inline code."""
    chosen = setting("CONTENT_SECURITY_POLICY")
    if not chosen:
        return FRAME_POLICY
    return STRICT_POLICY if chosen == "strict" else str(chosen)


def secure_headers(response: Any) -> Any:
    """Auth pages are never cached, framed, or leaked through the Referer, and run
    no script but their own."""
    if request.endpoint == "passwordless.static":
        return response
    response.headers["Cache-Control"] = "no-store"
    # Not "no-referrer": Flask-WTF's CSRF check over HTTPS needs a same-origin
    # Referer. strict-origin sends only the origin, so no token or path leaks.
    response.headers["Referrer-Policy"] = "strict-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if we_select():  # the page's language came from Accept-Language
        response.vary.add("Accept-Language")
    return response


def handle_error(error: PasswordlessError) -> Any:
    response = render_page("error.html", error.status, error=error)
    retry_after = getattr(error, "retry_after", None)  # on RateLimited and Locked only
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def check_csrf() -> None:
    """Every POST to the extension needs a CSRF token, even when the app-wide check
    is off (as it is when the extension created CSRFProtect itself)."""
    if not current_app.config.get("WTF_CSRF_CHECK_DEFAULT", True):
        try:
            current_app.extensions["csrf"].protect()
        except ValueError:  # over HTTPS it parses Referer and Host: "https://[" raises
            raise FormExpired() from None


def handle_csrf_error(_error: CSRFError) -> Any:
    return handle_error(FormExpired())


def handle_rate_limited(error: Any) -> Any:
    """429 with a page that says when to try again, and Retry-After: the real wait,
    the longest of the spent windows (a spent day is not "try again in a minute")."""
    if isinstance(error, RateLimited):  # one of our send budgets
        wait, limit = error.retry_after, error.limit
    else:  # Flask-Limiter's RateLimitExceeded
        wait, limit = retry_after(error.limit), str(error.limit.limit)
    emit(rate_limited, limit=limit, endpoint=request.endpoint)
    response = render_page(
        "rate_limited.html", 429, retry_after=wait, wait=duration(wait, wait=True)
    )
    response.headers["Retry-After"] = str(wait)
    return response


def database_unreachable(error: Exception) -> bool:
    """A refused, dropped or exhausted connection, not a bug in a statement."""
    if isinstance(error, sa.exc.DBAPIError):
        return isinstance(error, sa.exc.OperationalError) or error.connection_invalidated
    return isinstance(error, sa.exc.TimeoutError)  # no pooled connection came free in time


#: What SQLite and PostgreSQL say when a migration was never run: a missing table
#: or column. SQLite raises them as OperationalError, like an outage; PostgreSQL
#: as ProgrammingError with SQLSTATE 42P01 (undefined table) or 42703 (column).
MISSING_SCHEMA_MESSAGES = ("no such table", "no such column")
MISSING_SCHEMA_STATES = ("42P01", "42703")


def missing_schema(error: Exception) -> bool:
    """The tables (or columns) the app needs are not there: a set-up mistake."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    orig = error.orig
    state_code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state_code in MISSING_SCHEMA_STATES:
        return True
    return any(message in str(orig).lower() for message in MISSING_SCHEMA_MESSAGES)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def handle_database_error(error: Exception) -> Any:
    """The database went away: roll back what this request did, log it, answer 503.

    A missing table is no outage but a migration never run: that is logged as
    such, and said on the page in debug mode. Other database errors (an
    IntegrityError nobody caught) stay 500s.
    """
    schema = missing_schema(error)
    if not (schema or database_unreachable(error)):
        raise error
    with suppress(sa.exc.SQLAlchemyError):  # a dead connection's transaction died with it
        state().db.session.rollback()
    # The page must not query again: a layout asking for current_user would call the
    # user loader on the dead database, so this page is rendered for nobody.
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    orig = getattr(error, "orig", None) or error
    reason = _first_line(orig)
    if schema:
        log.error(
            "passwordless: the database is not set up (%s): run `flask db upgrade` "
            "(and `flask db migrate` first if your migrations do not create it yet)",
            reason,
        )
        return handle_error(DatabaseNotSetUp(debug_detail=reason if current_app.debug else ""))
    log.error(
        "passwordless: database unavailable during %s (%s: %s); answered 503",
        request.endpoint,
        type(orig).__name__,
        reason,
    )
    return handle_error(DatabaseUnavailable())
