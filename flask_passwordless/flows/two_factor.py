"""The second step: a code on the other channel, and "remember this device"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, session, url_for

from .. import devices, signals
from ..config import setting
from ..errors import FormExpired, SecretInvalid
from ..failures import failures
from ..forms import ActionForm, TwoFactorForm
from ..limits import Limits
from ..pages import render_page
from ..session import PARTIAL
from ..signals import emit
from ..signin import complete, half_signed_in, send_second_factor
from .code import check_code


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/two-factor",
        view_func=limits.checks(limits.failed_checks("partial")(two_factor)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/two-factor/resend", view_func=limits.sends("partial")(resend_code), methods=["POST"]
    )


def _start_over() -> Any:
    flash("Your sign-in took too long or was interrupted. Please sign in again.", "info")
    return redirect(url_for(".login"))


def two_factor() -> Any:
    pending = half_signed_in()
    if pending is None:
        return _start_over()
    user, partial = pending
    form = TwoFactorForm()
    if form.validate_on_submit() and _code_accepted(form, partial):
        session.pop(PARTIAL, None)
        failures().forgive(partial["identifier"])  # only now is the second step passed
        methods = [partial["first"], partial["channel"]]
        if form.remember.data:
            device = devices.remember(user)
            emit(signals.device_remembered, user=user, device=device)
        # A browser remembered just now is still new: its owner hears about it.
        return complete(user, methods, partial.get("next"), known_device=False)
    return render_page(
        "two_factor.html",
        form=form,
        resend_form=ActionForm(),
        sent_to=partial["to"],
        channel=partial["channel"],
        days=setting("REMEMBER_DEVICE_DAYS"),
    )


def _code_accepted(form: TwoFactorForm, partial: dict[str, Any]) -> bool:
    """A dead code is a field error here, with the resend button right below."""
    try:
        return check_code(form, partial, forget=None, forgive=False) is not None
    except SecretInvalid:
        form.code.errors = ["This code has expired or was used up. Send yourself a new one."]
        return False


def resend_code() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    pending = half_signed_in()
    if pending is None:
        return _start_over()
    user, partial = pending
    send_second_factor(user, partial["first"], partial["channel"], partial.get("next"))
    flash("We sent you a new code.", "success")
    return redirect(url_for(".two_factor"))
