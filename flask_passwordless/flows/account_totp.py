"""Add or remove an authenticator app, and set one up before a required two-step.

The page shows a QR code (inline SVG: no script, no image request), the key in
groups for typing by hand, and the ``otpauth://`` URI. The app is saved only
once a code from it comes back. Until then its secret waits in this browser's
session, sealed (AES-GCM, bound to the account), so a reload shows the same
code to scan and the cookie never carries the key in clear.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from flask import Blueprint, flash, redirect, session, url_for
from flask_login import current_user
from markupsafe import Markup

from .. import clock, signals
from ..authenticators import sealing, totp
from ..authenticators.recovery import remaining
from ..delivery import site_name, tell_owner
from ..errors import FormExpired
from ..factor_removal import Removal, leaves_no_second_step, remove_second_factor, users_turn
from ..forms import ActionForm, AppCodeForm
from ..i18n import gettext
from ..limits import Limits
from ..pages import render_page
from ..session import end_other_sessions, others_signed_out
from ..signals import emit
from ..signin import complete, two_step_required
from ..state import state
from ..steps import ENROL, clear_step, load_step
from .confirm import full_strength
from .recovery_codes import show_new_codes

ENROLLING = "_passwordless_totp"


def register(bp: Blueprint, limits: Limits) -> None:
    confirmed = full_strength(page="passwordless.account_totp")
    bp.add_url_rule(
        "/account/totp",
        view_func=confirmed(limits.checks(account_totp)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule("/account/totp/remove", view_func=confirmed(remove_totp), methods=["POST"])
    bp.add_url_rule(
        "/two-factor/setup", view_func=limits.checks(two_factor_setup), methods=["GET", "POST"]
    )


def _pending_secret(user_key: str) -> str:
    """This browser's secret being set up, or a new one."""
    sealed = session.get(ENROLLING)
    if isinstance(sealed, str):
        try:
            return sealing.open_sealed(sealed, user_key)
        except sealing.SealBroken:
            pass
    secret = totp.new_secret()
    session[ENROLLING] = sealing.seal(secret, user_key)
    return secret


class Adding(Enum):
    """How adding an app went: each reason it was not added has its own words."""

    ADDED = "added"
    #: The account has an app already (set up meanwhile, in another tab): this one
    #: is not kept.
    ALREADY = "already"
    #: The code is not the app's code now.
    WRONG_CODE = "wrong code"
    #: Saved, then removed (from another tab) before two-step sign-in was turned on.
    REMOVED_MEANWHILE = "removed meanwhile"


def add_app(user: Any, secret: str, code: str) -> Adding:
    """Save the app whose key is ``secret`` if ``code`` is its code now; turn two-step
    sign-in on and tell the owner. (The operation; the views read the form.)"""
    store = state().authenticators
    key = state().adapter.key_of(user)
    if store.of_user(key, totp.TYPE):  # one app per account (as this request read it)
        return Adding.ALREADY
    new_id = totp.enrol(store, key, secret, code, clock.now())
    if new_id is None:
        return Adding.WRONG_CODE
    # Turning two-step on is decided in the user's turn, as every removal is: a
    # removal of this app from another tab since enrol() must not leave it on. And
    # two tabs adding at once each passed the check above: the older app stays.
    with users_turn(user):
        apps = [row.id for row in store.of_user(key, totp.TYPE)]
        if new_id not in apps:
            return Adding.REMOVED_MEANWHILE
        if apps[0] != new_id:
            store.remove(key, new_id)
            return Adding.ALREADY
        if not state().adapter.two_factor_enabled(user):
            state().adapter.set_two_factor(user, True)
    _tell_owner(user, added=True)
    emit(signals.authenticator_added, user=user, type=totp.TYPE)
    return Adding.ADDED


def remove_app(user: Any) -> Removal:
    """Remove the user's app, unless it is the only second step of a two-step account
    (decided in the user's turn: ``factor_removal``)."""
    key = state().adapter.key_of(user)
    removal = remove_second_factor(
        user, totp.TYPE, lambda: state().authenticators.remove_type(key, totp.TYPE) > 0
    )
    if removal is Removal.REMOVED:
        _tell_owner(user, added=False)
        emit(signals.authenticator_removed, user=user, type=totp.TYPE)
    return removal


def _tell_owner(user: Any, *, added: bool) -> None:
    tell_owner(user, "authenticator_changed", added=added, label=gettext("an authenticator app"))


def _enrol(user: Any, form: AppCodeForm) -> Adding | None:
    """The setup form: the app is added if its code is right; else a field error
    that says why (None: no valid form was sent)."""
    secret = _pending_secret(state().adapter.key_of(user))
    if not form.validate_on_submit():
        return None
    adding = add_app(user, secret, form.code.data or "")
    if adding is Adding.ADDED:
        session.pop(ENROLLING, None)
    elif adding is Adding.WRONG_CODE:
        form.code.errors = [
            gettext("That code is not right. Check the app shows this site, then try the new code.")
        ]
    elif adding is Adding.REMOVED_MEANWHILE:
        form.code.errors = [
            gettext(
                "The app was removed, perhaps in another tab, while it was being set up. "
                "To add it again, type the new code it shows."
            )
        ]
    return adding


def _already_set_up() -> Any:
    """An app was set up meanwhile (another tab): this page has nothing left to do."""
    flash(
        gettext(
            "An authenticator app was set up for your account meanwhile, perhaps in another tab."
        ),
        "info",
    )
    return redirect(url_for(".account_totp"))


def _setup_page(user: Any, form: AppCodeForm, action: str, **page: Any) -> Any:
    key = state().adapter.key_of(user)
    secret = _pending_secret(key)
    uri = totp.provisioning_uri(secret, state().adapter.email_of(user), site_name())
    return render_page(
        "account_totp.html",
        form=form,
        qr=Markup(totp.qr_svg(uri)),  # noqa: S704 -- paths segno drew, and a fixed title
        key=totp.grouped(secret),
        uri=uri,
        action=action,
        **page,
    )


def account_totp() -> Any:
    user = current_user._get_current_object()
    app = state().registry.get(totp.TYPE).app_of(user)  # type: ignore[union-attr]
    if app is not None:
        return render_page(
            "account_totp.html", app=app, remove_form=ActionForm(), required=_needed(user)
        )
    form = AppCodeForm()
    adding = _enrol(user, form)
    if adding is Adding.ALREADY:
        return _already_set_up()
    if adding is Adding.ADDED:
        flash(gettext("Your authenticator app is set up. Two-step sign-in is on."), "success")
        if remaining(state().authenticators, state().adapter.key_of(user)) == 0:
            return show_new_codes(user, first=True)
        return redirect(url_for(".account_totp"))
    return _setup_page(user, form, url_for(".account_totp"))


def _needed(user: Any) -> bool:
    """Removing the app would leave a two-step account with no second step."""
    return leaves_no_second_step(user, totp.TYPE)


def remove_totp() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    user = current_user._get_current_object()
    removal = remove_app(user)
    if removal is Removal.NEEDED:
        flash(
            gettext(
                "Add a phone number or turn off two-step sign-in first: the app is your only "
                "second step."
            ),
            "error",
        )
    elif removal is Removal.REMOVED:
        ended = end_other_sessions(user)
        flash(gettext("The authenticator app was removed.") + others_signed_out(ended), "success")
    return redirect(url_for(".account_totp"))


def two_factor_setup() -> Any:
    """Two-step sign-in is required and the user has no second step yet: set up an
    app now, as part of this sign-in; the session starts once it works."""
    loaded = load_step(ENROL)
    if loaded is None:
        flash(
            gettext("Your sign-in took too long or was interrupted. Please sign in again."), "info"
        )
        return redirect(url_for(".login"))
    user, step = loaded
    if not two_step_required(user) or state().registry.has_second_factor(user):
        # Set up elsewhere meanwhile (or no longer required): this step is stale, and
        # a second app added here would let the first factor alone pass for two.
        return _stale_step()
    form = AppCodeForm()
    adding = _enrol(user, form)
    if adding is Adding.ALREADY:  # set up in another tab since the check above
        return _stale_step()
    if adding is Adding.ADDED:
        clear_step()
        complete(user, [step.first, totp.TYPE], step.next, known_device=False)
        return show_new_codes(user, first=True)
    return _setup_page(user, form, url_for(".two_factor_setup"), setup=True)


def _stale_step() -> Any:
    """The required setup is no longer this sign-in's to do: start it again."""
    clear_step()
    flash(gettext("Please sign in again."), "info")
    return redirect(url_for(".login"))
