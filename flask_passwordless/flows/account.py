"""Account pages: password, two-step sign-in, remembered devices.

Changing any of them needs a recent sign-in (PASSWORDLESS_REAUTH_WITHIN).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import devices, signals
from ..config import setting
from ..delivery import render_email, send
from ..errors import FormExpired
from ..forms import ActionForm, NewPasswordForm, TwoFactorSettingForm
from ..limits import Limits
from ..pages import render_page
from ..passwords import hash_password
from ..session import auth_required, keep_signed_in, recently_signed_in, retire_secrets
from ..signals import emit
from ..state import state

recent = auth_required(within=recently_signed_in)


def register(bp: Blueprint, limits: Limits) -> None:
    rules = [
        ("/account/password", account_password, ["GET", "POST"], recent),
        ("/account/two-factor", account_two_factor, ["GET", "POST"], recent),
        ("/account/devices", account_devices, ["GET"], auth_required),
        ("/account/devices/<int:device_id>/revoke", revoke_device, ["POST"], recent),
        ("/account/devices/revoke-all", revoke_all_devices, ["POST"], recent),
    ]
    for path, view, methods, guard in rules:
        bp.add_url_rule(path, view_func=guard(view), methods=methods)


def _user() -> Any:
    return current_user._get_current_object()


def account_password() -> Any:
    """Set or change the password; this session carries on, and everything the old
    password may have let someone start ends: other sessions, outstanding reset and
    sign-in links and codes, remembered devices (as a reset does). Ended first, then
    the password set: a failure half-way leaves the old password and less access."""
    user = _user()
    form = NewPasswordForm(email=state().adapter.email_of(user))
    if form.validate_on_submit():
        state().adapter.rotate_auth_id(user)
        keep_signed_in(user)
        retire_secrets(user)
        forgotten = devices.revoke(user)
        for device in forgotten:
            emit(signals.device_revoked, user=user, device=device)
        state().adapter.set_password_hash(user, hash_password(form.password.data))
        send(render_email("password_changed", state().adapter.email_of(user)))
        emit(signals.password_changed, user=user)
        flash(_changed_message(len(forgotten)), "success")
        return redirect(url_for(".account_password"))
    has_password = state().adapter.password_hash_of(user) is not None
    return render_page("account_password.html", form=form, has_password=has_password)


def _changed_message(forgotten: int) -> str:
    """What ended, said on the page (reset links included: the user may have asked
    for one before remembering the password)."""
    message = (
        "Your password was changed. Other browsers were signed out, and reset and "
        "sign-in links and codes sent before now no longer work."
    )
    if forgotten == 1:
        message += " Your remembered device was forgotten: it asks for the second step again."
    elif forgotten:
        message += (
            f" Your {forgotten} remembered devices were forgotten: each asks for the second "
            "step again."
        )
    return message


def account_two_factor() -> Any:
    """Turn two-step sign-in on or off. The form says which (``enable=1/0``), so a
    double click or a stale tab cannot flip it back."""
    user = _user()
    form = TwoFactorSettingForm()
    texts = state().adapter.phone_of(user) is not None and setting("SMS_ENABLED")
    needs_phone = setting("TWO_FACTOR_FOR_PASSWORDLESS") and not texts
    if form.validate_on_submit():
        enable = form.enable.data == "1"
        if enable and needs_phone:
            flash("Add a verified phone number first: it receives the second code.", "error")
        elif enable != state().adapter.two_factor_enabled(user):
            state().adapter.set_two_factor(user, enable)
            send(render_email("two_factor_changed", state().adapter.email_of(user), enabled=enable))
            emit(signals.two_factor_changed, user=user, enabled=enable)
            flash(f"Two-step sign-in is {'on' if enable else 'off'}.", "success")
        return redirect(url_for(".account_two_factor"))
    return render_page(
        "account_two_factor.html",
        form=form,
        enabled=state().adapter.two_factor_enabled(user),
        channel="text message" if texts else "email",
        needs_phone=needs_phone,
    )


def account_devices() -> Any:
    user = _user()
    current = devices.this_device(user)
    return render_page(
        "account_devices.html",
        devices=devices.devices_of(user),
        current_id=current.id if current else None,
        form=ActionForm(),
    )


def revoke_device(device_id: int) -> Any:
    return _revoke(device_id)


def revoke_all_devices() -> Any:
    return _revoke(None)


def _revoke(device_id: int | None) -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    user = _user()
    revoked = devices.revoke(user, device_id)
    for device in revoked:
        emit(signals.device_revoked, user=user, device=device)
    if revoked:
        flash("Forgot that device." if device_id else f"Forgot {len(revoked)} devices.", "success")
    return redirect(url_for(".account_devices"))
