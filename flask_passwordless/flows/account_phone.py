"""Add, change or remove the account's phone number.

A number is saved only after a code sent to it comes back, and the account's
email hears about every change. Sending happens inside the request here, so
that Twilio's "not a mobile number" reaches the person who typed it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import current_user

from .. import clock, signals
from ..authenticators.sms import SmsType
from ..config import setting
from ..delivery import render_email, render_sms, send
from ..errors import DeliveryFailed, FormExpired
from ..factor_removal import Removal, leaves_no_second_step, remove_second_factor
from ..forms import ActionForm, CodeForm, PhoneForm
from ..i18n import gettext
from ..limits import Limits
from ..pages import render_page
from ..phone import display_phone, masked_phone
from ..session import (
    PENDING,
    end_other_sessions,
    expect_code,
    others_signed_out,
    pending_code,
    previous_secret,
)
from ..signals import emit
from ..state import state
from ..wording import lifetime
from .code import check_code
from .confirm import full_strength
from .sms_login import sms_enabled

PURPOSE = "phone"
SMS = SmsType.name
_confirmed = full_strength(page="passwordless.account_phone", changes_only=True)


def recent(view: Any) -> Any:
    """Adding, changing or removing the number is an account security change
    (looking at it needs a recent sign-in)."""
    return sms_enabled(_confirmed(view))


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/account/phone",
        view_func=recent(limits.sends("phone", "phone")(account_phone)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/account/phone/verify",
        view_func=recent(limits.checks(limits.failed_checks("pending")(verify_phone))),
        methods=["GET", "POST"],
    )
    bp.add_url_rule("/account/phone/remove", view_func=recent(remove_phone), methods=["POST"])


def account_phone() -> Any:
    """Show the number, and text a code to a new one."""
    user = current_user._get_current_object()
    form = PhoneForm()
    current = state().adapter.phone_of(user)
    if form.validate_on_submit():
        # Whether *another* account holds the number is said only after its code
        # comes back (in _save): only the person holding that phone may learn it.
        if form.e164 == current:
            form.phone.errors = [gettext("That is already your number.")]
        elif _send_code(form.e164, form):
            return redirect(url_for(".verify_phone"))
    return render_page(
        "account_phone.html",
        form=form,
        remove_form=ActionForm(),
        current=display_phone(current) if current else None,
    )


def _send_code(phone_number: str, form: PhoneForm) -> bool:
    issued = state().secrets.issue(
        PURPOSE, phone_number, link=False, replaces=previous_secret(PURPOSE)
    )
    valid_for = lifetime(setting("TOKEN_MAX_AGE"))
    try:
        send(render_sms("verify", phone_number, code=issued.code, **valid_for), background=False)
    except DeliveryFailed as failed:
        state().secrets.discard(issued.id)
        form.phone.errors = [failed.message]
        return False
    expect_code(issued.id, PURPOSE, display_phone(phone_number), _checker())
    emit(signals.code_sent, channel="sms", identifier=phone_number)
    return True


def _checker() -> str:
    """The lockout and failed-check key of a phone check: the account making it, never
    the number, so that wrong codes typed by another account that added the same
    number cannot block its owner's SMS sign-in."""
    return "phone-check:" + state().adapter.key_of(current_user._get_current_object())


def verify_phone() -> Any:
    """Type the code the new number received; only then is it saved."""
    pending = pending_code(PURPOSE)
    if pending is None:
        return redirect(url_for(".account_phone"))
    form = CodeForm()
    if form.validate_on_submit():
        redeemed = check_code(form, pending)
        if redeemed is not None:
            return _save(redeemed.identifier)
    return render_page(
        "code.html",
        form=form,
        sent_to=pending.to,
        channel="sms",
        action=url_for(".verify_phone"),
    )


def _save(phone_number: str) -> Any:
    user = current_user._get_current_object()
    _forget_pending()
    if not state().adapter.set_phone(user, phone_number, clock.now()):
        flash(gettext("That number belongs to another account."), "error")
        return redirect(url_for(".account_phone"))
    _tell_owner(user, masked_phone(phone_number))
    emit(signals.phone_verified, user=user, phone_number=phone_number)
    ended = end_other_sessions(user)
    message = gettext(
        "Your phone number %(number)s is verified.", number=display_phone(phone_number)
    )
    flash(message + others_signed_out(ended), "success")
    return redirect(url_for(".account_phone"))


def remove_phone() -> Any:
    """Remove the number, once asked twice: the first POST shows what it means and
    a second button (``confirmed=1``), so a stray click removes nothing (no script)."""
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    user = current_user._get_current_object()
    current = state().adapter.phone_of(user)
    needed = leaves_no_second_step(user, SMS)  # asked again in the user's turn
    if current and not needed and request.form.get("confirmed") != "1":
        return render_page(
            "account_phone.html",
            form=PhoneForm(),
            remove_form=ActionForm(),
            current=display_phone(current),
            confirm_remove=True,
        )
    removal = Removal.NEEDED if needed else remove_second_factor(user, SMS, lambda: _unset(user))
    if removal is Removal.NEEDED:
        flash(
            gettext("Turn off two-step sign-in first: it sends its codes to this number."), "error"
        )
    elif removal is Removal.REMOVED:
        _tell_owner(user, None)
        emit(signals.phone_removed, user=user)
        ended = end_other_sessions(user)
        flash(gettext("Your phone number was removed.") + others_signed_out(ended), "success")
    return redirect(url_for(".account_phone"))


def _unset(user: Any) -> bool:
    """Remove the number, if the user (read again in their turn) still has one."""
    adapter = state().adapter
    return adapter.phone_of(user) is not None and adapter.set_phone(user, None)


def _tell_owner(user: Any, number: str | None) -> None:
    email = state().adapter.email_of(user)
    send(render_email("phone_changed", email, number=number))


def _forget_pending() -> None:
    session.pop(PENDING, None)
