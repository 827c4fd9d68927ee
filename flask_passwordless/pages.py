"""Rendering the extension's pages, its error pages, and the headers they all carry."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import current_app, make_response, render_template, request
from flask_wtf.csrf import CSRFError

from .delivery import site_name
from .errors import FormExpired, PasswordlessError
from .signals import emit, rate_limited


def render_page(name: str, status: int = 200, **context: Any) -> Any:
    return make_response(render_template(f"passwordless/{name}", **context), status)


def template_context() -> dict[str, Any]:
    return {"passwordless_site_name": site_name()}


def secure_headers(response: Any) -> Any:
    """Auth pages are never cached, framed, or leaked through the Referer."""
    if request.endpoint == "passwordless.static":
        return response
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def handle_error(error: PasswordlessError) -> Any:
    response = render_page("error.html", error.status, error=error)
    if getattr(error, "retry_after", None):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def handle_csrf_error(_error: CSRFError) -> Any:
    return handle_error(FormExpired())


def handle_rate_limited(error: Any) -> Any:
    """429 with a page that says when to try again, and Retry-After."""
    limiter = current_app.extensions["passwordless"].limiter
    current = limiter.current_limit
    wait = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    emit(rate_limited, limit=str(getattr(error, "limit", "")), endpoint=request.endpoint)
    response = render_page("rate_limited.html", 429, retry_after=wait)
    response.headers["Retry-After"] = str(wait)
    return response
