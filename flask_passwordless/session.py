"""Signing in and out, the auth record, safe redirects and the auth decorator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from . import clock, server_sessions
from .config import setting
from .errors import LinkNotKept
from .i18n import gettext, ngettext
from .request_info import check_request_url
from .signals import emit, sessions_revoked, user_logged_in
from .state import state
from .strength import AuthRecord, current_record, start_record

PENDING = "_passwordless_pending"
PARTIAL = "_passwordless_partial"  # half signed in: first factor passed, second pending
LINKS = "_passwordless_links"  # link tokens moved out of their URLs, by purpose
MAX_TOKEN_LENGTH = 100  # a real one has 43 characters; longer ones are not worth a cookie
LINK_REQUEST = "_passwordless_link_request"  # a link asked for without a code page (reset)

F = TypeVar("F", bound=Callable[..., Any])


def sign_in(user: Any, methods: list[str], opened: server_sessions.Opened | None = None) -> None:
    """Start a fresh session for ``user``: nothing from before sign-in survives.

    ``methods`` are what this sign-in proved, first factor first (e.g.
    ``["password", "sms"]`` or ``["password", "device"]``). The session is a new
    row (``server_sessions``), or ``opened``, the row a check's transaction already
    wrote for it; the cookie gets only its id and secret. A session this browser
    had before ends.
    """
    try:
        if current_user.is_authenticated:
            server_sessions.end_this(current_user._get_current_object())
        session.clear()
        regenerate = getattr(current_app.session_interface, "regenerate", None)
        if regenerate is not None:  # server-side sessions (Flask-Session): a new session id
            regenerate(session)
        login_user(user, fresh=True)  # never remember=True: see server_sessions.load_user
    except BaseException:
        if opened is not None:  # no browser will ever point at it
            server_sessions.discard(opened)
        raise
    if opened is None:
        opened = server_sessions.open_row(user, start_record(methods).to_session())
    server_sessions.start(user, opened)
    emit(user_logged_in, user=user, method=methods[0], methods=list(methods))


def keep_signed_in(user: Any) -> None:
    """After the user's own auth_id rotation: stay signed in here, on the same row
    (and so with the same auth record)."""
    login_user(user, fresh=True)


def sign_out() -> None:
    """End this browser's session: its row is revoked, so a copy of the cookie
    signs nobody in."""
    if current_user.is_authenticated:
        server_sessions.end_this(current_user._get_current_object())
    logout_user()
    session.clear()


def end_other_sessions(user: Any) -> int:
    """Sign ``user`` out of every other browser (after a factor changed); this one
    stays. How many sessions ended."""
    return server_sessions.end_others(user)


def end_every_session(user: Any) -> None:
    """Sign ``user`` out of every browser, this one too (a password reset)."""
    server_sessions.end_all(user)


def others_signed_out(count: int) -> str:
    """What the page adds to its message when other sessions ended."""
    if count == 0:
        return ""
    if count == 1:
        return " " + gettext("Your other signed-in browser was signed out.")
    return " " + ngettext(
        "Your %(num)d other signed-in browser was signed out.",
        "Your %(num)d other signed-in browsers were signed out.",
        count,
    )


def sign_out_everywhere(user: Any) -> None:
    """Revoke every session row of the user, rotate its auth_id (a second lock),
    and retire the links and codes still out there, so none of them starts a new one.

    Remembered devices stay: they are not sessions (each still needs a first
    factor), and a password change or the devices page forgets them.
    """
    state().adapter.rotate_auth_id(user)
    server_sessions.end_others(user)
    retire_secrets(user)
    emit(sessions_revoked, user=user)
    sign_out()


def retire_secrets(user: Any) -> None:
    """Kill every outstanding link and code (sign-in, reset, second step) sent to the
    user's address or number, and every pending address change of the account:
    whoever holds an old message, or started a change, can finish nothing."""
    adapter = state().adapter
    email, phone = adapter.email_of(user), adapter.phone_of(user)
    state().secrets.retire_all_of(adapter.key_of(user), [email, phone] if phone else [email])


@dataclass(frozen=True)
class ExpectedCode:
    """The secret a code typed in this browser is checked against. ``to`` is for
    the page; ``identifier`` (email, E.164, or an account's check key) for the
    lockout and the failed-check limit; ``replaced``: the secrets this browser asked
    for before it, newest last, so an old code can be told apart from a wrong one."""

    id: int
    purpose: str
    to: str
    identifier: str
    replaced: list[int] = field(default_factory=list)


#: How many replaced secrets a browser remembers (one or two resends is the usual).
REPLACED_KEPT = 3


def expect_code(secret_id: int, purpose: str, sent_to: str, identifier: str) -> None:
    """Remember, in this browser only, which secret a typed code is checked against
    (and, when it replaced this browser's earlier one for the same address, that one)."""
    earlier = pending_code(purpose)
    replaced: list[int] = []
    if earlier is not None and earlier.id != secret_id and earlier.identifier == identifier:
        replaced = [*earlier.replaced, earlier.id][-REPLACED_KEPT:]
    session[PENDING] = asdict(ExpectedCode(secret_id, purpose, sent_to, identifier, replaced))


def pending_code(*purposes: str) -> ExpectedCode | None:
    """This browser's expected code, if it is one of ``purposes`` and well formed
    (the one loader of the record: a cookie from an older release, or a forged one,
    reads as nothing)."""
    raw = session.get(PENDING)
    if not isinstance(raw, dict) or raw.get("purpose") not in purposes:
        return None
    # From the cookie, so of any type until checked below.
    values: list[Any] = [raw.get(k) for k in ("id", "purpose", "to", "identifier")]
    found = ExpectedCode(*values)
    if not isinstance(found.id, int) or isinstance(found.id, bool):
        return None
    if not (isinstance(found.to, str) and isinstance(found.identifier, str)):
        return None
    replaced = raw.get("replaced")
    if isinstance(replaced, list):
        kept = [i for i in replaced if isinstance(i, int) and not isinstance(i, bool)]
        found = replace(found, replaced=kept[-REPLACED_KEPT:])
    return found


def keep_link_token(purpose: str) -> Any:
    """On a link's first GET, move its token from the URL into this browser's session
    and answer 303 to the same path without it; None when the URL holds no token.

    Access logs, history and bookmarks then keep only the bare path. Nothing is
    checked or used here: the page behind the redirect checks the session's copy.
    """
    token = request.args.get("token")
    if token is None or request.method not in ("GET", "HEAD"):
        return None
    kept = session.get(LINKS)
    kept = {k: v for k, v in kept.items() if k != purpose} if isinstance(kept, dict) else {}
    if 0 < len(token) <= MAX_TOKEN_LENGTH:  # a broken link must not show an older one's page
        kept[purpose] = token
    session[LINKS] = kept
    return redirect(url_for(request.endpoint), 303)  # type: ignore[arg-type]


def link_token(purpose: str, posted: str | None = None) -> str:
    """The link's token: the one a page's button posted, else the session's copy.
    Neither is a used link (or a browser without cookies): ``LinkNotKept``."""
    kept = session.get(LINKS)
    token = posted or (kept.get(purpose) if isinstance(kept, dict) else None)
    if not isinstance(token, str) or not token:
        raise LinkNotKept()
    return token


def forget_link_token(purpose: str) -> None:
    kept = session.get(LINKS)
    if isinstance(kept, dict) and purpose in kept:
        session[LINKS] = {key: value for key, value in kept.items() if key != purpose}


def remember_link_request(secret_id: int, purpose: str) -> None:
    """Remember, in this browser only, the link it asked for that has no code page (a
    reset), so that asking again here replaces it (see previous_secret)."""
    session[LINK_REQUEST] = {"id": secret_id, "purpose": purpose}


def previous_secret(purpose: str) -> int | None:
    """The secret this browser asked for last for ``purpose``: the only one a new
    request from here may retire (another browser asking never retires it)."""
    for record in (session.get(PENDING), session.get(LINK_REQUEST)):
        if isinstance(record, dict) and record.get("purpose") == purpose:
            found = record.get("id")
            return found if isinstance(found, int) else None
    return None


def auth_record() -> AuthRecord | None:
    """What this session proved, and when (see ``strength``)."""
    return current_record()


def safe_next(target: Any) -> str | None:
    """``target`` if it is a path on this site, else None.

    Refuses scheme-relative (``//host``), backslash and control-character
    tricks that browsers would turn into another origin.
    """
    if not isinstance(target, str) or not target or len(target) > 1000:
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def recently_signed_in() -> timedelta:
    """PASSWORDLESS_REAUTH_WITHIN as a timedelta, for ``auth_required(within=...)``."""
    return timedelta(seconds=setting("REAUTH_WITHIN"))


def redirect_after_login(next_url: str | None) -> Any:
    return redirect(safe_next(next_url) or setting("POST_LOGIN_URL"))


@overload
def auth_required(fn: F, /) -> F: ...


@overload
def auth_required(
    fn: None = None,
    /,
    *,
    methods: list[str] | tuple[str, ...] | None = None,
    within: timedelta | Callable[[], timedelta] | None = None,
    level: int | None = None,
) -> Callable[[F], F]: ...


def auth_required(
    fn: F | None = None,
    /,
    *,
    methods: list[str] | tuple[str, ...] | None = None,
    within: timedelta | Callable[[], timedelta] | None = None,
    level: int | None = None,
) -> F | Callable[[F], F]:
    """Protect a view: signed in, and optionally recently, by given methods, or at
    a strength level.

    Bare ``@auth_required`` is Flask-Login's ``login_required``. With
    ``within`` the last sign-in must be that recent; with ``methods`` the
    session must have proved one of them; with ``level=2`` it must have proved
    two different authenticators (within ``within``, when both are given).
    Otherwise the user signs in again and comes back here. ``within`` may be a
    callable, read per request (for limits that live in config).
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                check_request_url()  # the sign-in redirect carries this URL
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not _record_satisfies(methods, within, level):
                flash(gettext("Please confirm it is you to continue."), "info")
                target = request.full_path if request.query_string else request.path
                return redirect(url_for("passwordless.login", next=target))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def _record_satisfies(methods: Any, within: Any, level: int | None) -> bool:
    if callable(within):
        within = within()
    if methods is None and within is None and level is None:
        return True
    record = current_record()
    if record is None:
        return False
    if methods is not None and not set(methods) & set(record.methods):
        return False
    if level is not None:
        proved = record.recent_level(within.total_seconds()) if within else record.level()
        return proved >= level
    return within is None or time_since(record.signed_in_at) <= within.total_seconds()


def time_since(moment: float) -> float:
    return clock.timestamp() - moment
