"""From a passed first factor to a session: the second step and remembered devices.

Every flow that proves a first factor (email, SMS, password, reset) ends in
``first_factor_passed``; it alone decides whether the user is signed in now,
skips the second step on a remembered device, or must pass it first. Until
then the user is only *half* signed in: a step record in the session
(``steps.Step``) that is not a session of the user.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, url_for

from . import clock, devices, request_info
from .config import setting
from .delivery import render_email, send
from .errors import PasswordlessError
from .i18n import format_datetime
from .i18n import lazy_gettext as _l
from .server_sessions import Opened
from .session import redirect_after_login, sign_in
from .state import state
from .steps import SIGN_IN, Step, begin_step, save_step
from .user_agents import describe_user_agent


class SecondFactorUnavailable(PasswordlessError):
    title = _l("A second step is needed")
    message = _l(
        "Your account asks for a second step after this kind of sign-in, but it has no "
        "other way to prove it is you. Sign in with another method, then add a phone "
        "number or an authenticator app."
    )


#: First factors that are something the user knows (or replaced it): they always
#: need the second step when it is on. A reset link counts as one, so a reset
#: never skips the second step.
KNOWLEDGE = {"password", "reset"}
#: First factors that prove only something the user has, with nothing sent to a
#: channel they control: a passkey that did not verify its user.
POSSESSION = {"passkey"}


def two_step_required(user: Any) -> bool:
    """The app or the host's rule says this user must use two-step sign-in."""
    return bool(setting("TWO_FACTOR_REQUIRED")) or state().adapter.two_factor_required(user)


def two_step_on(user: Any) -> bool:
    return state().adapter.two_factor_enabled(user) or two_step_required(user)


def second_factor_required(user: Any, method: str) -> bool:
    if not two_step_on(user):
        return False
    return method in KNOWLEDGE | POSSESSION or setting("TWO_FACTOR_FOR_PASSWORDLESS")


def first_factor_passed(user: Any, method: str, next_url: str | None) -> Any:
    """Sign in, or skip the second step on a remembered device, or ask for it."""
    if two_step_required(user) and not state().registry.has_second_factor(user):
        begin_step(user, method, "enrol", next_url)
        return redirect(url_for("passwordless.two_factor_setup"))
    device = devices.this_device(user)
    if not second_factor_required(user, method):
        return complete(user, [method], next_url, known_device=device is not None)
    if device is not None:
        devices.touch(device)
        return complete(user, [method, "device"], next_url, known_device=True)
    offers = state().registry.second_factors(user, besides=_proved_as(method))
    if not offers:
        raise SecondFactorUnavailable()
    step = begin_step(user, method, SIGN_IN, next_url, [kind.name for kind in offers])
    show(user, step, offers[0].name)
    return redirect(url_for("passwordless.two_factor"))


def _proved_as(method: str) -> str:
    """The authenticator a first factor proved: a reset link proved the mailbox."""
    return "email" if method == "reset" else method


def show(user: Any, step: Step, method: str) -> None:
    """Put ``method`` on the step's page, sending its code when it needs one."""
    kind = state().registry.get(method)
    if kind is None:
        return
    if kind.sends_code:
        kind.send(user, step)
    else:
        step.channel, step.id, step.to = kind.name, None, None
    save_step(step)


def complete(
    user: Any,
    methods: list[str],
    next_url: str | None,
    *,
    known_device: bool,
    opened: Opened | None = None,
) -> Any:
    """Sign in (on ``opened``, the session row already written, if given); tell the
    owner about a sign-in from a browser we did not know."""
    sign_in(user, methods, opened)
    if not known_device and setting("NOTIFY_NEW_DEVICE") and "email" not in methods:
        agent = request_info.user_agent()
        email = state().adapter.email_of(user)
        send(
            render_email(
                "new_device",
                email,
                device=describe_user_agent(agent),
                ip=request_info.client_address(),
                when=format_datetime(clock.now()),
                has_password=state().adapter.password_hash_of(user) is not None,
            )
        )
    return redirect_after_login(next_url)
