"""Reset a forgotten password by email link.

The link's page shows the form and uses nothing; the POST sets the password,
uses the link, kills every other reset link, ends every session and forgets
every remembered device. The user then signs in (with the second factor, if on).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, session, url_for

from .. import devices, signals
from ..config import setting
from ..delivery import ensure_queue_room, external_url, render_email, send
from ..errors import SecretInvalid
from ..forms import EmailForm, NewPasswordForm
from ..i18n import gettext
from ..limits import Limits
from ..pages import render_page
from ..passwords import hash_password
from ..session import (
    end_every_session,
    forget_link_token,
    keep_link_token,
    link_token,
    previous_secret,
    remember_link_request,
    retire_secrets,
)
from ..signals import emit
from ..signin import first_factor_passed, second_factor_required
from ..state import state
from ..wording import duration, lifetime
from .password import password_enabled

PURPOSE = "reset"
#: The address the reset page last sent to, for the page after the redirect. (Kept
#: here rather than in session.py, which another change is rewriting.)
SENT_TO = "_passwordless_reset_sent_to"


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/reset",
        view_func=password_enabled(limits.sends("email", "reset")(reset)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule("/reset/sent", view_func=password_enabled(reset_sent), methods=["GET"])
    bp.add_url_rule(
        "/reset/confirm",
        view_func=password_enabled(limits.checks(reset_confirm)),
        methods=["GET", "POST"],
    )


def reset() -> Any:
    """Ask for the address; the answer is the same whether it has an account."""
    form = EmailForm()
    if form.validate_on_submit():
        ensure_queue_room()
        email = form.normalised_email
        user = state().adapter.find_by_email(email)
        issued = state().secrets.issue(
            PURPOSE, email, max_age=setting("RESET_MAX_AGE"), replaces=previous_secret(PURPOSE)
        )
        remember_link_request(issued.id, PURPOSE)
        if user is not None:
            link = external_url(".reset_confirm", token=issued.token)
            valid_for = lifetime(setting("RESET_MAX_AGE"))
            send(render_email("reset", email, link=link, **valid_for), background=True)
            emit(signals.password_reset_requested, email=email)
        elif setting("EMAIL_UNKNOWN_ACCOUNTS"):
            login_url = external_url(".login")
            message = render_email("unknown_account", email, login_url=login_url, for_reset=True)
            send(message, background=True)
        # Redirect after POST, as sign-in does: reloading the page must not send again.
        session[SENT_TO] = email
        return redirect(url_for(".reset_sent"))
    return render_page("reset.html", form=form)


def reset_sent() -> Any:
    """'Check your email', for the address this browser asked about last."""
    sent_to = session.get(SENT_TO)
    if not isinstance(sent_to, str):
        return redirect(url_for(".reset"))
    return render_page(
        "reset_sent.html", sent_to=sent_to, lifetime=duration(setting("RESET_MAX_AGE"))
    )


def reset_confirm() -> Any:
    """Choose a new password. GET uses nothing; a valid POST uses the link.

    The first GET moves the token into the session and redirects to the bare
    path; the form posts the token it showed, else the session's copy is used.
    A dead reset link's page offers a new reset link, not a sign-in link.
    """
    try:
        return _reset_confirm()
    except SecretInvalid as error:
        error.again_endpoint = "passwordless.reset"
        error.again_text = gettext("Ask for a new reset link")
        raise


def _reset_confirm() -> Any:
    moved = keep_link_token(PURPOSE)
    if moved is not None:
        return moved
    token = link_token(PURPOSE, posted=request.form.get("token"))
    try:
        redeemed = state().secrets.check_link(token, PURPOSE)
    except SecretInvalid:
        forget_link_token(PURPOSE)
        raise
    form = NewPasswordForm(token=token, email=redeemed.identifier)
    if form.validate_on_submit():
        redeemed = state().secrets.redeem_link(token, PURPOSE)
        forget_link_token(PURPOSE)
        user = state().adapter.find_by_email(redeemed.identifier)
        if user is None:  # the account was deleted since the link was sent
            raise SecretInvalid()
        return _replace_password(user, form.password.data or "")
    return render_page("reset_confirm.html", form=form)


def _needs_missing_second_factor(user: Any) -> bool:
    """Two-step sign-in is on but the account has no second step besides the mailbox
    the link proved: then the user signs in with the new password instead."""
    offers = state().registry.second_factors(user, besides="email")
    return second_factor_required(user, "reset") and not offers


def _replace_password(user: Any, password: str) -> Any:
    """End everything that the old password might have let someone start, then set
    the new one (in that order: a failure half-way leaves the user signed out with
    the old password, and a new reset link away from fixing it)."""
    current = state()
    email = current.adapter.email_of(user)
    current.adapter.rotate_auth_id(user)
    end_every_session(user)
    for device in devices.revoke(user):
        emit(signals.device_revoked, user=user, device=device)
    retire_secrets(user)
    current.failures.forgive(email)  # the link proved the mailbox
    current.adapter.set_password_hash(user, hash_password(password))
    send(render_email("password_changed", email))
    emit(signals.password_changed, user=user)
    if setting("RESET_SIGNS_IN") and not _needs_missing_second_factor(user):
        return first_factor_passed(user, "reset", None)
    flash(gettext("Your password was changed. Sign in with it now."), "success")
    return redirect(url_for(".login_password"))
