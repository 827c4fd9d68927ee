"""Every ``PASSWORDLESS_*`` setting, its default and what it is for.

This table is the single source of truth: ``init_app`` copies the defaults
into ``app.config`` and the README's reference is checked against it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app

from .errors import FeatureOff

PREFIX = "PASSWORDLESS_"

#: name (without prefix) -> (default, one-line description)
SETTINGS: dict[str, tuple[Any, str]] = {
    "URL_PREFIX": ("/auth", "Where the blueprint is mounted."),
    "BASE_URL": (
        None,
        "Origin (and path, for an app mounted below one) that links in messages start "
        "with, e.g. https://example.com/app. Falls back to PREFERRED_URL_SCHEME + "
        "SERVER_NAME + APPLICATION_ROOT; never the Host header or the script root.",
    ),
    "BASE_TEMPLATE": (
        "passwordless/layout.html",
        "Template that passwordless/base.html extends; it must define the "
        "blocks title, head and content.",
    ),
    "SITE_NAME": (
        None,
        "Name used in pages and messages; None means the base URL's host (example.com).",
    ),
    "LANGUAGES": (
        None,
        "Languages the pages may be shown in, best match of Accept-Language first "
        "(e.g. ['en', 'de']); None means every shipped one. Ignored when the host's "
        "own Flask-Babel locale selector decides.",
    ),
    "TRANSLATION_DIRECTORIES": (
        (),
        "The host's folders of flask_passwordless catalogues (relative to the app's "
        "root), read after ours: they add a language or change a string.",
    ),
    "POST_LOGIN_URL": ("/", "Where to go after sign-in when no safe next URL was given."),
    "POST_LOGOUT_URL": ("/", "Where to go after sign-out."),
    "TOKEN_MAX_AGE": (600, "Seconds a sign-in link and its code (and other codes) stay valid."),
    "CODE_LENGTH": (6, "Digits in a one-time code (6 to 10)."),
    "MAX_ATTEMPTS": (5, "Wrong tries allowed per code before the link and code die."),
    "EMAIL_UNKNOWN_ACCOUNTS": (
        True,
        "Send a 'no account with this address' email to unknown addresses.",
    ),
    "REGISTER_UNKNOWN": (
        False,
        "Send unknown addresses a sign-up link and code instead; the account is "
        "created when it is used.",
    ),
    "MAIL_BACKEND": (
        "flask_mail",
        "flask_mail, console, memory, or a callable taking a passwordless Message.",
    ),
    "MAIL_SENDER": (None, "From address; defaults to MAIL_DEFAULT_SENDER."),
    "SMS_ENABLED": (
        False,
        "Offer sign-in by SMS code and the phone number page (needs an SMS backend).",
    ),
    "SMS_BACKEND": (
        "twilio",
        "twilio, console, memory, or a callable taking a passwordless Message.",
    ),
    "TWILIO_ACCOUNT_SID": (None, "Twilio account SID (AC...)."),
    "TWILIO_AUTH_TOKEN": (None, "Twilio auth token."),
    "TWILIO_FROM": (None, "Sender number in E.164, unless a messaging service is set."),
    "TWILIO_MESSAGING_SERVICE_SID": (
        None,
        "Twilio messaging service (MG...), used instead of FROM.",
    ),
    "TWILIO_BASE_URL": (
        "https://api.twilio.com",
        "Twilio API origin; point it at a Twilio-compatible server in tests or staging.",
    ),
    "TWILIO_TIMEOUT": (10, "Seconds to wait for Twilio before giving up."),
    "PHONE_DEFAULT_REGION": ("US", "Region assumed for numbers typed without a + prefix."),
    "PHONE_ALLOWED_REGIONS": (
        None,
        "Regions (ISO codes) that may receive SMS; None means only PHONE_DEFAULT_REGION.",
    ),
    "PASSKEYS": (True, "Offer passkeys (WebAuthn): sign-in, second step, confirm, and their page."),
    "WEBAUTHN_RP_ID": (
        None,
        "Relying party ID of passkeys (a registrable domain, e.g. example.com); None means "
        "the host of the base URL. Passkeys made for one RP ID work only there.",
    ),
    "WEBAUTHN_ORIGINS": (
        (),
        "Origins besides the base URL's that may use the passkeys (e.g. "
        "https://login.example.com), as a list.",
    ),
    "WEBAUTHN_TIMEOUT": (
        300,
        "Seconds a passkey challenge stays usable (at most 300); each is used once.",
    ),
    "REAUTH_WITHIN": (
        600,
        "Seconds within which the session must have proved the account's full strength "
        "(two different authenticators with two-step on) for account security changes.",
    ),
    "PASSWORD_LOGIN": (False, "Offer sign-in with email and password (/login/password)."),
    "PASSWORD_HASH": ("scrypt", "Werkzeug hashing method for passwords."),
    "PASSWORD_MIN_LENGTH": (8, "Shortest password accepted."),
    "PASSWORD_MAX_LENGTH": (128, "Longest password accepted."),
    "PASSWORD_MIN_SCORE": (
        3,
        "Lowest zxcvbn strength score (0 to 4) a new password needs; 0 turns the estimate off.",
    ),
    "PASSWORD_BREACH_CHECK": (
        False,
        "Refuse new passwords that Pwned Passwords lists (only 5 hex digits of their "
        "SHA-1 are sent); an unreachable service never blocks a change.",
    ),
    "PASSWORD_BREACH_API": (
        None,
        "Origin of a Pwned Passwords compatible range API; None means the real one, "
        "https://api.pwnedpasswords.com.",
    ),
    "PASSWORD_BREACH_TIMEOUT": (2, "Seconds to wait for the breached-password service."),
    "RESET_MAX_AGE": (3600, "Seconds a password reset link stays valid."),
    "RESET_SIGNS_IN": (
        False,
        "Sign the user in after a reset (the second factor is still asked).",
    ),
    "TWO_FACTOR_FOR_PASSWORDLESS": (
        False,
        "Ask users with two-step sign-in on for a second factor after email or SMS "
        "sign-in too (the other channel).",
    ),
    "TWO_FACTOR_REQUIRED": (
        False,
        "Every user must use two-step sign-in; one without a second factor sets one up "
        "before the session starts (UserAdapter.two_factor_required decides per user).",
    ),
    "EMAIL_SECOND_FACTOR": (
        False,
        "Let an emailed code be the second step (off: NIST SP 800-63B-4 3.1.3.1 rules "
        "email out as an out-of-band authenticator).",
    ),
    "TWO_FACTOR_WITHIN": (300, "Seconds to finish the second factor after the first."),
    "REMEMBER_DEVICE_DAYS": (30, "Days a remembered device skips the second factor."),
    "DEVICE_COOKIE_NAME": ("passwordless_device", "Name of the remembered-device cookie."),
    "DEVICE_COOKIE_SECURE": (
        None,
        "Secure flag (and __Host- prefix) for the device cookie; None follows "
        "SESSION_COOKIE_SECURE.",
    ),
    "SESSION_IDLE_TIMEOUT": (
        7 * 86400,
        "Seconds without a request after which a session ends (NIST AAL2: at most 3600).",
    ),
    "SESSION_MAX_AGE": (
        30 * 86400,
        "Seconds after sign-in at which a session ends however active (NIST AAL1: 30 days, "
        "AAL2: 86400).",
    ),
    "SESSION_TOUCH_EVERY": (
        60,
        "Seconds between writes of a session's last-seen time (the idle clock's precision).",
    ),
    "READS_OUTSIDE_TRANSACTION": (
        True,
        "Read users and sessions on a connection in autocommit mode when the request's "
        "database session has nothing under way (PostgreSQL at READ COMMITTED, no "
        "listener of transaction events): two round trips fewer per read. Off: every "
        "read opens a transaction of the session.",
    ),
    "CONTENT_SECURITY_POLICY": (
        "strict",
        'Content-Security-Policy of the extension\'s pages: "strict" (no inline script or '
        "style, same-origin only), a policy string of your own, or None for frame-ancestors only.",
    ),
    "NOTIFY_NEW_DEVICE": (
        True,
        "Email the user after a password or SMS sign-in from a browser that is not remembered.",
    ),
    "SEND_IN_BACKGROUND": (
        True,
        "Deliver notices on a background thread (sign-in messages always are, so "
        "timing reveals nothing).",
    ),
    "SEND_QUEUE_SIZE": (
        1000,
        "Messages waiting for the background senders, per process; when full, sign-in, "
        "SMS and reset requests answer 503 and other notices are dropped (and logged).",
    ),
    "LIMITER_ENABLED": (True, "Apply the built-in rate limits."),
    "LIMIT_SEND_PER_IP": (
        "20/minute;200/day",
        "Emails and texts requested from one IP (an IPv6 client: its IPV6_CLIENT_PREFIX).",
    ),
    "LIMIT_SEND_PER_IDENTIFIER": (
        "3/minute;20/day",
        "Messages of one flow (sign-in, reset, SMS sign-in, phone check, second step) "
        "requested for one address or number from one client network.",
    ),
    "LIMIT_SEND_PER_IDENTIFIER_TOTAL": (
        "10/minute;100/day",
        "The same from all client networks together: what many networks can send to one "
        "inbox or phone.",
    ),
    "CLIENT_NETWORK_PREFIXES": (
        (24, 48),
        "IPv4 and IPv6 prefix lengths of one client network, for the per-identifier budgets.",
    ),
    "IPV6_CLIENT_PREFIX": (
        64,
        "Prefix length that makes one IPv6 client for the per-IP limits (a subscriber's /64).",
    ),
    "LIMIT_CHECK_PER_IP": ("30/minute", "Codes, links and passwords checked from one IP."),
    "LIMIT_FAILED_CHECKS_PER_IDENTIFIER": (
        "10/minute;50/hour",
        "Failed checks (wrong code or password) against one email or phone.",
    ),
    "LOCKOUT_FREE_FAILURES": (5, "Consecutive failures per identifier before any wait."),
    "LOCKOUT_MAX_DELAY": (900, "Longest wait, in seconds, between failures (doubling from 1)."),
    "LOCKOUT_MAX_FAILURES": (
        100,
        "Consecutive failures (NIST SP 800-63B's cap) after which codes and passwords "
        "stop for LOCKOUT_RESET_AFTER; sign-in links still work.",
    ),
    "LOCKOUT_RESET_AFTER": (86400, "Seconds without a failure after which the count restarts."),
    "SMS_DAILY_LIMIT": (None, "Most texts sent per day by the whole app (None: no cap)."),
    "SMS_DAILY_LIMIT_PER_NUMBER": (
        10,
        "Most texts per day to one number asked for from one client network, counted "
        "before SMS_DAILY_LIMIT (None: no cap; off with LIMITER_ENABLED).",
    ),
}


def defaults() -> dict[str, Any]:
    """The defaults with their full ``PASSWORDLESS_`` names."""
    return {PREFIX + name: default for name, (default, _doc) in SETTINGS.items()}


def production_checks(app: Any) -> list[tuple[str, str | None]]:
    """The production checklist: (what is checked, the problem or None when it is fine).

    ``flask passwordless check`` prints all of it; start-up logs the problems.
    """
    config = app.config
    base = config.get(PREFIX + "BASE_URL")
    secret = config.get("SECRET_KEY") or ""
    backend = config.get(PREFIX + "MAIL_BACKEND")
    storage = str(config.get("RATELIMIT_STORAGE_URI", "memory://"))
    return [
        (
            "links in messages have an origin (PASSWORDLESS_BASE_URL or SERVER_NAME)",
            None
            if base or config.get("SERVER_NAME")
            else "set PASSWORDLESS_BASE_URL: sign-in links cannot be built without it "
            "(the Host header is never trusted).",
        ),
        (
            "links are https",
            "PASSWORDLESS_BASE_URL is not https: links would travel in clear."
            if base and str(base).startswith("http://")
            else None,
        ),
        (
            "debug mode is off",
            "debug mode is on: the debugger runs code for anyone who reaches it."
            if app.debug
            else None,
        ),
        (
            "SECRET_KEY is long and random",
            None
            if len(str(secret)) >= 24
            else "SECRET_KEY is missing or shorter than 24 characters: sessions can be forged.",
        ),
        (
            "SESSION_COOKIE_SECURE is on",
            None
            if config.get("SESSION_COOKIE_SECURE")
            else "SESSION_COOKIE_SECURE is off: the session cookie may travel over HTTP.",
        ),
        (
            'SESSION_COOKIE_SAMESITE is "Lax" or "Strict"',
            None
            if config.get("SESSION_COOKIE_SAMESITE") in ("Lax", "Strict")
            else 'SESSION_COOKIE_SAMESITE is not "Lax" or "Strict".',
        ),
        (
            "SESSION_COOKIE_HTTPONLY is on",
            None
            if config.get("SESSION_COOKIE_HTTPONLY", True)
            else "SESSION_COOKIE_HTTPONLY is off: scripts can read the session cookie.",
        ),
        (
            "messages are really sent (PASSWORDLESS_MAIL_BACKEND)",
            f"PASSWORDLESS_MAIL_BACKEND is {backend!r}: messages are printed or kept, "
            "never delivered."
            if backend in ("console", "memory")
            else None,
        ),
        (
            "rate limits are shared by every process (RATELIMIT_STORAGE_URI)",
            "rate limits are kept in memory, per process: set RATELIMIT_STORAGE_URI to "
            "Redis when the app runs in several processes."
            if storage.startswith("memory://")
            else None,
        ),
    ]


#: Checked at start-up even in debug and testing: without it no link can be built.
ALWAYS_CHECKED = 1


def config_problems(app: Any) -> list[str]:
    """What is unsafe or missing in production; logged once per served process,
    never fatal. In debug or testing only the missing origin counts (a laptop is
    not expected to have https or Redis)."""
    checks = production_checks(app)
    if app.debug or app.testing:
        checks = checks[:ALWAYS_CHECKED]
    return [problem for _label, problem in checks if problem]


def setting(name: str) -> Any:
    """Read one setting of the current app, by its name without the prefix."""
    return current_app.config[PREFIX + name]


def only_when(name: str) -> Callable[[Any], Any]:
    """A view that exists (else 404) only while the boolean setting ``name`` is on."""

    def decorate(view: Any) -> Any:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not setting(name):
                raise FeatureOff()  # our 404 page, in the app's layout
            return view(*args, **kwargs)

        return wrapper

    return decorate
