"""Assemble the blueprint from the flows, with its templates, static files and handlers."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError

from . import pages, request_info
from .errors import PasswordlessError, RateLimited
from .flows import (
    account,
    account_email,
    account_home,
    account_phone,
    account_sessions,
    account_totp,
    code,
    confirm,
    email_login,
    passkeys,
    password,
    recovery_codes,
    reset,
    sign_out,
    sms_login,
    two_factor,
)
from .limits import Limits

FLOWS = (
    email_login,
    sms_login,
    code,
    password,
    reset,
    two_factor,
    confirm,
    account_phone,
    account_totp,
    passkeys,
    recovery_codes,
    account,
    account_email,
    account_home,
    account_sessions,
    sign_out,
)


def asset_dir(name: str) -> str:
    """``templates`` or ``static``: inside the package when installed from a
    wheel, at the top of the source tree in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if (candidate / "passwordless").is_dir():
            return str(candidate)
    raise RuntimeError(f"flask-passwordless cannot find its {name} folder")


def create_blueprint(limits: Limits) -> Blueprint:
    """A new blueprint per app, so each app's limits are bound to its own Limiter."""
    bp = Blueprint(
        "passwordless",
        __name__,
        template_folder=asset_dir("templates"),
        static_folder=asset_dir("static"),
        static_url_path="/static",
    )
    limits.install_hooks(bp)
    for flow in FLOWS:
        flow.register(bp, limits)
    bp.before_request(request_info.check_request_url)
    bp.before_request(pages.check_csrf)
    bp.after_request(pages.secure_headers)
    bp.app_context_processor(pages.template_context)
    bp.register_error_handler(PasswordlessError, pages.handle_error)
    bp.register_error_handler(CSRFError, pages.handle_csrf_error)
    bp.register_error_handler(RateLimitExceeded, pages.handle_rate_limited)
    bp.register_error_handler(RateLimited, pages.handle_rate_limited)
    # Database outages on the extension's pages (host pages keep the host's handlers).
    bp.register_error_handler(sa.exc.DBAPIError, pages.handle_database_error)
    bp.register_error_handler(sa.exc.TimeoutError, pages.handle_database_error)
    return bp
