"""The second step of a sign-in: every second factor the user has, one at a time.

The page shows the method used last (its code box, or a button that sends its
code), with "use another method" links below; "remember this device" skips the
step next time on this browser. The checks themselves are ``verify_step``,
which confirm-it-is-you (``flows/confirm``) shares.

Showing the page reads no row when the record names its offers (``peek_step``):
a sign-in's extra request costs no more than a page without a database. Every
action on it (a code typed, a code asked for) reads the account again, so a
reset or "sign out everywhere" since still ends the half-finished sign-in there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from .. import devices, signals
from ..authenticators import AuthenticatorType
from ..config import setting
from ..errors import CheckRefused, CodeWrong, FormExpired, SecretInvalid
from ..failures import failures
from ..forms import ActionForm, StepForm
from ..i18n import gettext
from ..i18n import lazy_gettext as _l
from ..limits import Limits
from ..pages import render_page
from ..server_sessions import Opened, discard, open_row
from ..signals import emit
from ..signin import complete, show
from ..state import state
from ..steps import SIGN_IN, Step, clear_step, load_step, peek_step, save_step
from ..strength import start_record
from ..writes import together

EXPIRED = _l("This code has expired or was used up. Send yourself a new one.")


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/two-factor",
        view_func=limits.checks(limits.failed_checks("partial")(two_factor)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/two-factor/resend", view_func=limits.sends("partial")(resend_code), methods=["POST"]
    )


def start_over() -> Any:
    flash(gettext("Your sign-in took too long or was interrupted. Please sign in again."), "info")
    return redirect(url_for(".login"))


def offers_of(user: Any, step: Step) -> list[AuthenticatorType]:
    """What may pass this step: for a sign-in, second factors other than the first."""
    first = "email" if step.first == "reset" else step.first
    return state().registry.second_factors(user, besides=first)


def chosen(offers: list[AuthenticatorType], wanted: Any) -> AuthenticatorType | None:
    """The offer named ``wanted``, else the first (the one used last)."""
    by_name = {kind.name: kind for kind in offers}
    return by_name.get(wanted) if wanted in by_name else (offers[0] if offers else None)


def asked_for(kind: AuthenticatorType, wanted: Any) -> bool:
    """The value was typed for ``kind``: one typed on the page of a method the account
    no longer has (removed since the page was drawn) is checked against no other."""
    return not wanted or wanted == kind.name


def lockout_key(step: Step, kind: AuthenticatorType) -> str:
    """The lockout of one method of the user's second step: its own, so that wrong
    guesses at the public pages never block it, and passing another method (say,
    the phone) never clears the count of wrong guesses at this one (the app)."""
    return f"{step.identifier}:{kind.name}"


def check_step(
    user: Any,
    step: Step,
    kind: AuthenticatorType,
    value: str,
    then: Callable[[], None] | None = None,
) -> str | None:
    """Check ``value`` for ``kind`` at this step: None when it passed, else what to
    tell the person. (The operation a view, a JSON twin or the CLI calls.)

    The check holds its lockout key while it runs (``Failures.claim``), so parallel
    guesses are compared one at a time and each failure is counted before the next.
    ``then`` runs once it passed: for a quick check, in its transaction, which then
    commits the hold, the check's own write (a time step) and what ``then`` writes
    (a sign-in's session row) at once. It must write only through our services,
    and send no signal.
    """
    if not value:
        return str(kind.missing)
    lock = lockout_key(step, kind)
    wrong = (
        gettext("That password is not right.")
        if kind.field == "password"
        else gettext("That code is not right.")
    )
    dead = False
    with together(failures().db) if kind.quick_check else nullcontext():
        held = failures().claim(lock)
        try:
            passed = kind.verify(user, value, step)
        except CodeWrong as refused:
            passed, wrong = False, refused.message if refused.remaining else str(EXPIRED)
        except CheckRefused as refused:
            passed, wrong = False, refused.message
        except SecretInvalid:
            failures().release(lock, held)
            passed, dead = False, True
        if passed and then is not None:
            then()
    save_step(step)
    if dead:
        emit(signals.login_failed, identifier=step.identifier, reason="dead-code")
        return str(EXPIRED)
    if passed:
        return None
    failures().record(lock)
    emit(signals.login_failed, identifier=step.identifier, reason="wrong-code")
    return wrong


def verify_step(
    user: Any,
    step: Step,
    kind: AuthenticatorType,
    form: StepForm,
    then: Callable[[], None] | None = None,
) -> bool:
    """``check_step`` with what the form holds; a refusal becomes the field's error."""
    refusal = check_step(user, step, kind, form.value_for(kind.field), then)
    if refusal is not None:
        form.field_for(kind.field).errors = [refusal]
    return refusal is None


def step_passed(user: Any, step: Step, kind: AuthenticatorType) -> None:
    """The step is over: forget it, clear its method's failures (only now, if the
    check's ``then`` did not already), tell the type."""
    clear_step()
    failures().forgive(lockout_key(step, kind))
    kind.after_use(user)


def code_sent(step: Step, kind: AuthenticatorType) -> bool:
    """A code of ``kind`` went out for this step and is waiting to be typed."""
    return kind.sends_code and step.channel == kind.name and step.id is not None


def shows_account(step: Step, kind: AuthenticatorType) -> bool:
    """The page shows the account's address: beside a password (for password
    managers), or as where a code is about to go."""
    return kind.field == "password" or (kind.sends_code and not code_sent(step, kind))


def render_step(
    user: Any | None, step: Step, kind: AuthenticatorType, form: StepForm, **page: Any
) -> Any:
    """The step's page; ``user`` None when it is drawn from the record alone (then
    ``shows_account`` is false: the page needs no address)."""
    offers = page.pop("offers")
    form.method.data = kind.name
    form.field_for(kind.field).label.text = kind.prompt
    return render_page(
        "two_factor.html",
        form=form,
        send_form=ActionForm(),
        kind=kind,
        others=[other for other in offers if other.name != kind.name],
        code_sent=code_sent(step, kind),
        sent_to=step.to if step.channel == kind.name else None,
        email=None if user is None else state().adapter.email_of(user),
        days=setting("REMEMBER_DEVICE_DAYS"),
        **page,
    )


def _sign_in_page(
    user: Any | None,
    step: Step,
    kind: AuthenticatorType,
    form: StepForm,
    offers: list[AuthenticatorType],
) -> Any:
    return render_step(
        user,
        step,
        kind,
        form,
        offers=offers,
        purpose=SIGN_IN,
        action=url_for(".two_factor"),
        send_action=url_for(".resend_code"),
    )


def drawn_from_record() -> Any | None:
    """The page from the step's record alone (no row read), when the record names
    its offers and the chosen one shows nothing of the account; else None."""
    step = peek_step(SIGN_IN)
    if step is None or not step.offers:
        return None
    registry = state().registry
    offers = [kind for kind in map(registry.get, step.offers) if kind is not None]
    kind = chosen(offers, request.args.get("method") or step.channel)
    if kind is None or shows_account(step, kind):
        return None
    return _sign_in_page(None, step, kind, StepForm(), offers)


def two_factor() -> Any:
    if request.method == "GET":
        drawn = drawn_from_record()
        if drawn is not None:
            return drawn
    loaded = load_step(SIGN_IN)
    if loaded is None:
        return start_over()
    user, step = loaded
    offers = offers_of(user, step)
    form = StepForm()
    wanted = form.method.data if request.method == "POST" else request.args.get("method")
    kind = chosen(offers, wanted or step.channel)
    if kind is None:
        clear_step()
        return start_over()
    opened: list[tuple[list[str], Opened]] = []

    def open_session() -> None:  # in the check's transaction when it is quick
        methods = [step.first, *kind.proofs(user)]
        record = start_record(methods).to_session()
        failures().forgive(lockout_key(step, kind))
        opened.append((methods, open_row(user, record)))

    if (
        form.validate_on_submit()
        and asked_for(kind, wanted)
        and verify_step(user, step, kind, form, then=open_session)
    ):
        methods, row = opened[0]
        try:
            step_passed(user, step, kind)
            if form.remember.data:
                device = devices.remember(user)
                emit(signals.device_remembered, user=user, device=device)
        except BaseException:
            discard(row)
            raise
        # A browser remembered just now is still new: its owner hears about it.
        return complete(user, methods, step.next, known_device=False, opened=row)
    return _sign_in_page(user, step, kind, form, offers)


def resend_code() -> Any:
    """Send a code for the chosen method (a first one, or a new one that kills the old)."""
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    loaded = load_step(SIGN_IN)
    if loaded is None:
        return start_over()
    user, step = loaded
    kind = chosen(offers_of(user, step), request.form.get("method"))
    if kind is None:  # every second step left the account meanwhile
        clear_step()
        return start_over()
    if kind.sends_code:
        again = code_sent(step, kind)
        show(user, step, kind.name)
        flash(
            gettext("We sent you a new code.") if again else gettext("We sent you a code."),
            "success",
        )
    return redirect(url_for(".two_factor", method=kind.name))
