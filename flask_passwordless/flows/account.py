"""Account pages: password, two-step sign-in, remembered devices.

Changing the password or two-step sign-in needs the account's full strength,
recently (``confirm.full_strength``); forgetting devices, which only takes
access away, needs a recent sign-in.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import devices, signals
from ..config import only_when, setting
from ..delivery import render_email, send, tell_owner
from ..errors import FormExpired
from ..factor_removal import users_turn
from ..failures import failures
from ..forms import ActionForm, ChangePasswordForm, NewPasswordForm, TwoFactorSettingForm
from ..i18n import gettext, ngettext
from ..limits import Limits
from ..pages import render_page
from ..passwords import hash_password, verify_password
from ..session import (
    auth_required,
    end_other_sessions,
    keep_signed_in,
    others_signed_out,
    recently_signed_in,
    retire_secrets,
)
from ..signals import emit
from ..signin import two_step_required
from ..state import state
from ..steps import step_identifier
from ..strength import current_record
from .confirm import full_strength
from .recovery_codes import RUNNING_LOW, codes_left

recent = auth_required(within=recently_signed_in)


def register(bp: Blueprint, limits: Limits) -> None:
    rules = [
        ("/account/password", account_password, ["GET", "POST"], _password_page),
        (
            "/account/two-factor",
            account_two_factor,
            ["GET", "POST"],
            _on_change("account_two_factor"),
        ),
        ("/account/devices", account_devices, ["GET"], auth_required),
        ("/account/devices/<int:device_id>/revoke", revoke_device, ["POST"], recent),
        ("/account/devices/revoke-all", revoke_all_devices, ["POST"], recent),
    ]
    for path, view, methods, guard in rules:
        bp.add_url_rule(path, view_func=guard(view), methods=methods)


def _confirmed(endpoint: str) -> Any:
    return full_strength(page=f"passwordless.{endpoint}")


def _password_page(view: Any) -> Any:
    """The password page exists only with password sign-in on: without it a password
    signs nobody in and confirms nothing (``PasswordType``), so setting one would be a
    secret to leak that protects nothing. 404 before the confirm step is asked."""
    return only_when("PASSWORD_LOGIN")(_confirmed("account_password")(view))


def second_step_after() -> list[str]:
    """The sign-ins that ask for the second step when it is on, with this app's
    settings (``signin.second_factor_required``): the page promises only these."""
    asked = []
    if setting("PASSWORD_LOGIN"):
        asked += [gettext("your password"), gettext("a password reset link")]
    if setting("TWO_FACTOR_FOR_PASSWORDLESS"):
        asked.append(gettext("an email"))
        if setting("SMS_ENABLED"):
            asked.append(gettext("a text message"))
    return asked


def _on_change(endpoint: str) -> Any:
    """Full strength for the change (POST); a recent sign-in to look (GET)."""
    return full_strength(page=f"passwordless.{endpoint}", changes_only=True)


def _user() -> Any:
    return current_user._get_current_object()


def _asks_current_password(user: Any) -> bool:
    """Changing an existing password asks for it, unless this session proved two
    different authenticators within PASSWORDLESS_REAUTH_WITHIN."""
    if state().adapter.password_hash_of(user) is None:
        return False
    record = current_record()
    return record is None or record.recent_level(setting("REAUTH_WITHIN")) < 2


def _current_password_right(user: Any, form: ChangePasswordForm) -> bool:
    """Checked like the password at confirm-it-is-you, under the same lockout."""
    identifier = step_identifier(user) + ":password"
    failures().claim(identifier)
    if verify_password(state().adapter.password_hash_of(user), form.current.data or ""):
        failures().forgive(identifier)
        return True
    failures().record(identifier)
    emit(signals.login_failed, identifier=identifier, reason="wrong-password")
    form.current.errors = [gettext("That is not your current password.")]
    return False


def account_password() -> Any:
    """Set or change the password; this session carries on, and everything the old
    password may have let someone start ends: other sessions, outstanding reset and
    sign-in links and codes, remembered devices (as a reset does). Ended first, then
    the password set: a failure half-way leaves the old password and less access."""
    user = _user()
    ask_current = _asks_current_password(user)
    form_class = ChangePasswordForm if ask_current else NewPasswordForm
    form = form_class(email=state().adapter.email_of(user))
    if form.validate_on_submit() and (not ask_current or _current_password_right(user, form)):
        first = state().adapter.password_hash_of(user) is None
        state().adapter.rotate_auth_id(user)
        keep_signed_in(user)
        end_other_sessions(user)
        retire_secrets(user)
        forgotten = devices.revoke(user)
        for device in forgotten:
            emit(signals.device_revoked, user=user, device=device)
        state().adapter.set_password_hash(user, hash_password(form.password.data or ""))
        send(render_email("password_changed", state().adapter.email_of(user)))
        emit(signals.password_changed, user=user)
        flash(_changed_message(len(forgotten), first=first), "success")
        return redirect(url_for(".account_password"))
    has_password = state().adapter.password_hash_of(user) is not None
    return render_page(
        "account_password.html", form=form, has_password=has_password, ask_current=ask_current
    )


def _changed_message(forgotten: int, *, first: bool = False) -> str:
    """What ended, said on the page (reset links included: the user may have asked
    for one before remembering the password). A first password was set, not changed."""
    message = (
        gettext(
            "Your password was set. Other browsers were signed out, and reset and sign-in "
            "links and codes sent before now no longer work."
        )
        if first
        else gettext(
            "Your password was changed. Other browsers were signed out, and reset and "
            "sign-in links and codes sent before now no longer work."
        )
    )
    if forgotten == 1:
        message += " " + gettext(
            "Your remembered device was forgotten: it asks for the second step again."
        )
    elif forgotten:
        message += " " + ngettext(
            "Your %(num)d remembered device was forgotten: it asks for the second step again.",
            "Your %(num)d remembered devices were forgotten: each asks for the second step again.",
            forgotten,
        )
    return message


def account_two_factor() -> Any:
    """Turn two-step sign-in on or off. The form says which (``enable=1/0``), so a
    double click or a stale tab cannot flip it back."""
    user = _user()
    form = TwoFactorSettingForm()
    if form.validate_on_submit():
        _turn_two_step(user, enable=form.enable.data == "1")
        return redirect(url_for(".account_two_factor"))
    registry = state().registry
    has_second = registry.has_second_factor(user)
    return render_page(
        "account_two_factor.html",
        form=form,
        enabled=state().adapter.two_factor_enabled(user),
        required=two_step_required(user),
        asked_after=second_step_after(),
        second_factors=[kind for kind in registry.second_factors(user) if not kind.last_resort],
        has_second=has_second,
        recovery_left=codes_left(user),
        running_low=RUNNING_LOW,
    )


def _turn_two_step(user: Any, *, enable: bool) -> None:
    """Decided and saved in the user's turn (``factor_removal``): turning it on at the
    moment another tab removes the last second step must not leave it on with none."""
    with users_turn(user):
        refusal = _two_step_refusal(user, enable=enable)
        changed = refusal is None and enable != state().adapter.two_factor_enabled(user)
        if changed:
            state().adapter.set_two_factor(user, enable)
    if refusal is not None:
        flash(refusal, "error")
    elif changed:
        tell_owner(user, "two_factor_changed", enabled=enable)
        emit(signals.two_factor_changed, user=user, enabled=enable)
        ended = 0 if enable else end_other_sessions(user)
        # The page itself says it is on or off now: the message adds only what
        # the page cannot show (other browsers signed out).
        if ended:
            flash(others_signed_out(ended).strip(), "success")


def _two_step_refusal(user: Any, *, enable: bool) -> str | None:
    if enable and not state().registry.has_second_factor(user):
        return gettext(
            "Add a phone number or an authenticator app first: it gives the second step."
        )
    if not enable and two_step_required(user):
        return gettext("Two-step sign-in is required for your account.")
    return None


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
        flash(_forgotten_message(revoked, one=device_id is not None), "success")
    return redirect(url_for(".account_devices"))


def _forgotten_message(revoked: list[Any], *, one: bool) -> str:
    """Which device was forgotten, and what that means for it."""
    if one:
        return gettext(
            "%(device)s was forgotten: it will ask for the second step again.",
            device=revoked[0].name,
        )
    if len(revoked) == 1:
        return gettext(
            "Your remembered device was forgotten: it will ask for the second step again."
        )
    return ngettext(
        "All %(num)d remembered device was forgotten: each will ask for the second step again.",
        "All %(num)d remembered devices were forgotten: each will ask for the second step again.",
        len(revoked),
    )
