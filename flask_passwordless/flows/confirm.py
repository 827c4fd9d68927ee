"""Confirm it is you: account changes need the account's full strength, recently.

Every account security change (two-step off, the password, the phone, an
authenticator added or removed, new recovery codes) is guarded by
``full_strength``: the session must have proved, within
PASSWORDLESS_REAUTH_WITHIN, as many different authenticators as the account's
level (2 with two-step sign-in on, else 1). Remembered devices do not count
here. What is missing is all that is asked: nothing recent means signing in
again; one recent proof on a two-step account means one more, on this page.
So no single factor (a stolen phone, a mailbox) can undo what two protect.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from ..authenticators import AuthenticatorType
from ..config import setting
from ..errors import FormExpired
from ..forms import ActionForm, StepForm
from ..i18n import gettext
from ..limits import Limits
from ..session import auth_required, recently_signed_in, safe_next
from ..signin import show, two_step_on
from ..state import state
from ..steps import CONFIRM, Step, begin_step, load_step, save_step
from ..strength import add_proof, current_record
from .two_factor import asked_for, chosen, render_step, step_passed, verify_step


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/confirm",
        view_func=auth_required(limits.checks(limits.failed_checks("partial")(confirm))),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/confirm/send",
        view_func=auth_required(limits.sends("partial")(confirm_send)),
        methods=["POST"],
    )


def account_level(user: Any) -> int:
    """2 with two-step sign-in on and a second step the mailbox cannot stand in for;
    else 1 (an account whose only second step is an emailed code is as strong as
    its mailbox, and asking for more would lock its owner out of every change)."""
    if two_step_on(user) and state().registry.has_independent_second_factor(user):
        return 2
    return 1


def recent_methods() -> list[str]:
    record = current_record()
    return record.recent_methods(setting("REAUTH_WITHIN")) if record else []


def strong_enough(user: Any) -> bool:
    return len(state().registry.independent(recent_methods())) >= account_level(user)


def full_strength(page: str | None = None, *, changes_only: bool = False) -> Callable[[Any], Any]:
    """Guard an account change. ``page`` is the endpoint to come back to after
    confirming, for POST-only views (a GET comes back to itself). With
    ``changes_only`` a GET needs only a recent sign-in: the page may be seen,
    its form is guarded."""

    def decorate(view: Any) -> Any:
        looking = auth_required(within=recently_signed_in)(view)

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if changes_only and request.method in ("GET", "HEAD"):
                return looking(*args, **kwargs)
            user = current_user._get_current_object()
            if strong_enough(user):
                return view(*args, **kwargs)
            if request.method in ("GET", "HEAD"):
                target = request.full_path if request.query_string else request.path
            else:
                target = url_for(page) if page else setting("POST_LOGIN_URL")
            flash(gettext("Please confirm it is you to continue."), "info")
            if recent_methods() and _offers(user):
                return redirect(url_for("passwordless.confirm", next=target))
            return redirect(url_for("passwordless.login", next=target))

        return wrapper

    return decorate


def _offers(user: Any) -> list[AuthenticatorType]:
    return state().registry.confirmers(user, besides=recent_methods())


def _this_users_step(user: Any) -> Step:
    """This browser's confirm step for the signed-in user, or a new one."""
    loaded = load_step(CONFIRM)
    back = safe_next(request.args.get("next"))
    if loaded is not None and loaded[1].key == state().adapter.key_of(user):
        step = loaded[1]
        if back and back != step.next:  # confirming for another page now
            step.next = back
            save_step(step)
        return step
    first = (recent_methods() or ["session"])[0]
    return begin_step(user, first, CONFIRM, back)


def confirm() -> Any:
    user = current_user._get_current_object()
    back = safe_next(request.args.get("next"))
    if strong_enough(user):
        return redirect(back or setting("POST_LOGIN_URL"))
    form = StepForm()
    wanted = form.method.data if request.method == "POST" else request.args.get("method")
    offers = _offers(user)
    kind = chosen(offers, wanted)
    if kind is None:  # nothing left to confirm with here: sign in again
        return redirect(url_for(".login", next=back))
    step = _this_users_step(user)
    if (
        form.validate_on_submit()
        and asked_for(kind, wanted)
        and verify_step(user, step, kind, form)
    ):
        step_passed(user, step, kind)
        for method in kind.proofs(user):
            add_proof(method)
        return redirect(step.next or setting("POST_LOGIN_URL"))
    return render_step(
        user,
        step,
        kind,
        form,
        offers=offers,
        purpose=CONFIRM,
        action=url_for(".confirm", next=step.next),
        send_action=url_for(".confirm_send", next=step.next),
    )


def confirm_send() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    user = current_user._get_current_object()
    step = _this_users_step(user)
    kind = chosen(_offers(user), request.form.get("method"))
    if kind is not None and kind.sends_code:
        show(user, step, kind.name)
        flash(gettext("We sent you a code."), "success")
    return redirect(url_for(".confirm", next=step.next, method=kind.name if kind else None))
