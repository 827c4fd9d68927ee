"""Passkeys: create, rename and remove them; sign in with one; use one as a step.

Each journey is two POSTs made by the page's script (``static/passwordless/
passkeys.js``): the options (JSON, with a fresh challenge bound to this
browser), then the browser's answer, sent as an ordinary form so the server
answers with a redirect and a flashed message like every other page. Without
the script (or WebAuthn) no passkey button shows and the other methods remain.
The checks are ``authenticators.passkey``; the second step and confirm-it-is-you
pass the answer through ``flows.two_factor.check_step`` like any code.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from .. import devices, request_info, signals
from ..authenticators import passkey
from ..config import only_when
from ..delivery import tell_owner
from ..errors import FormExpired
from ..factor_removal import Removal, leaves_no_second_step, remove_second_factor
from ..failures import failures
from ..forms import ActionForm, EmailForm, PasskeyForm, PasskeyNameForm
from ..i18n import gettext, lazy_gettext
from ..limits import Limits
from ..pages import render_page
from ..session import end_other_sessions, others_signed_out, safe_next
from ..signals import emit
from ..signin import complete, first_factor_passed
from ..state import state
from ..steps import CONFIRM, SIGN_IN, load_step, step_identifier
from ..user_agents import describe_user_agent
from .confirm import full_strength

PAGE = "passwordless.account_passkeys"


def register(bp: Blueprint, limits: Limits) -> None:
    on = only_when("PASSKEYS")

    def confirmed(view: Any) -> Any:
        return on(full_strength(page=PAGE)(view))

    bp.add_url_rule(
        "/account/passkeys",
        endpoint="account_passkeys",
        view_func=confirmed(limits.checks(account_passkeys)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/account/passkeys/options",
        endpoint="new_passkey_options",
        view_func=confirmed(limits.checks(new_passkey_options)),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/account/passkeys/<int:passkey_id>/rename",
        endpoint="rename_passkey",
        view_func=confirmed(rename_passkey),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/account/passkeys/<int:passkey_id>/remove",
        endpoint="remove_passkey",
        view_func=confirmed(remove_passkey),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/login/passkey/options",
        endpoint="login_passkey_options",
        view_func=on(limits.checks(login_passkey_options)),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/login/passkey",
        endpoint="login_passkey",
        view_func=on(limits.checks(login_passkey)),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/two-factor/passkey/options",
        endpoint="step_passkey_options",
        view_func=on(limits.checks(step_passkey_options)),
        methods=["POST"],
    )


def _json(body: str) -> Any:
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _no_json(status: int) -> Any:
    return _json(json.dumps({"error": gettext("Please reload the page and try again.")})), status


# -- the account page ------------------------------------------------------------


def account_passkeys() -> Any:
    user = current_user._get_current_object()
    form = PasskeyNameForm()
    if form.validate_on_submit():
        if add_passkey(user, form.credential.data, form.name.data):
            flash(gettext("Your passkey is saved. You can sign in with it now."), "success")
            return redirect(url_for(".account_passkeys"))
    elif request.method == "POST":
        flash(gettext("That passkey could not be saved. Please try again."), "error")
    return render_page(
        "account_passkeys.html",
        passkeys=passkey.passkeys_of(user),
        form=PasskeyNameForm(formdata=None),
        rename_form=PasskeyNameForm(formdata=None),
        remove_form=ActionForm(),
        needed=_needed(user),
    )


def add_passkey(user: Any, credential: Any, name: str | None) -> bool:
    """Save a passkey the browser created (the operation; the view reads the form).
    A refusal is flashed; the owner is told about a success."""
    name = name or gettext(
        "Passkey on %(device)s", device=describe_user_agent(request_info.user_agent())
    )
    try:
        passkey.register(user, credential, name)
    except passkey.PasskeyRefused as refused:
        flash(str(refused.message), "error")
        return False
    _tell_owner(user, added=True)
    emit(signals.authenticator_added, user=user, type=passkey.TYPE)
    return True


def new_passkey_options() -> Any:
    return _json(passkey.registration_options(current_user._get_current_object()))


def rename_passkey(passkey_id: int) -> Any:
    user = current_user._get_current_object()
    form = PasskeyNameForm()
    if not form.validate_on_submit() or not form.name.data:
        flash(gettext("Give the passkey a name of up to 80 characters."), "error")
    elif passkey.rename(user, passkey_id, form.name.data):
        flash(gettext("The passkey was renamed."), "success")
    return redirect(url_for(".account_passkeys"))


def _needed(user: Any) -> bool:
    """Removing a passkey would leave a two-step account with no second step."""
    return leaves_no_second_step(
        user, passkey.TYPE, kind_remains=len(passkey.passkeys_of(user)) > 1
    )


ONLY_SECOND_STEP = lazy_gettext(
    "Add another second step or turn off two-step sign-in first: this passkey is "
    "your only second step."
)


def remove_passkey(passkey_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    user = current_user._get_current_object()
    removal = remove_second_factor(
        user,
        passkey.TYPE,
        lambda: passkey.remove(user, passkey_id),
        kind_remains=lambda: any(row.id != passkey_id for row in passkey.passkeys_of(user)),
    )
    if removal is Removal.NEEDED:
        flash(str(ONLY_SECOND_STEP), "error")
    elif removal is Removal.REMOVED:
        _tell_owner(user, added=False)
        emit(signals.authenticator_removed, user=user, type=passkey.TYPE)
        ended = end_other_sessions(user)
        flash(gettext("The passkey was removed.") + others_signed_out(ended), "success")
    return redirect(url_for(".account_passkeys"))


def _tell_owner(user: Any, *, added: bool) -> None:
    tell_owner(user, "authenticator_changed", added=added, label=gettext("a passkey"))


# -- sign in -------------------------------------------------------------------


def login_passkey_options() -> Any:
    """Usernameless: the same options for everyone, so nothing is enumerated."""
    return _json(passkey.authentication_options(None, passkey.LOGIN))


def login_passkey() -> Any:
    """The browser's answer: sign in, or ask for the second step, or say why not."""
    form = PasskeyForm()
    next_url = safe_next(form.next.data or request.args.get("next"))
    if not form.validate_on_submit():
        return _login_refused(passkey.BROKEN)
    owner = passkey.credential_owner(form.credential.data)
    lock = f"{step_identifier(owner[0])}:{passkey.TYPE}" if owner else None
    failures().check_allowed(lock)
    try:
        asserted = passkey.authenticate(form.credential.data, passkey.LOGIN)
    except passkey.PasskeyRefused as refused:
        if lock is not None and refused.message not in (passkey.EXPIRED, passkey.UNKNOWN):
            failures().record(lock)
        emit(signals.login_failed, identifier=lock, reason="passkey")
        return _login_refused(refused.message)
    failures().forgive(lock)
    user = asserted.user
    if asserted.user_verified:
        known = devices.this_device(user) is not None
        return complete(user, [passkey.TYPE, passkey.VERIFIED], next_url, known_device=known)
    return first_factor_passed(user, passkey.TYPE, next_url)


def _login_refused(message: str) -> Any:
    flash(str(message), "error")
    return render_page("login.html", 400, form=EmailForm(formdata=None))


# -- the second step and confirm-it-is-you ---------------------------------------


def step_passkey_options() -> Any:
    """Options for the user of this browser's step: their own passkeys only."""
    loaded = load_step(SIGN_IN, CONFIRM)
    if loaded is None:
        return _no_json(409)
    user, step = loaded
    if step.purpose == CONFIRM and (
        not current_user.is_authenticated
        or state().adapter.key_of(current_user._get_current_object()) != step.key
    ):
        return _no_json(409)
    return _json(passkey.authentication_options(user, passkey.STEP))
