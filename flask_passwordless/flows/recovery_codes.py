"""Recovery codes: a way back in when the phone or the app is lost.

Ten codes, shown once (on the page, and as a text file to save) and stored
only as keyed hashes, one row each. Making a new set voids the old one. Using
one emails the owner with how many are left; with two or fewer left, the
account pages say so.

A new set replaces an authenticator, as removing an app does: every other
session of the user ends (whoever holds the old codes may have used one to
sign in elsewhere). The first set, made with the first app, ends none, as
adding the app ends none.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash
from flask_login import current_user

from .. import clock, signals
from ..authenticators import recovery
from ..config import setting
from ..delivery import site_name, tell_owner
from ..errors import FormExpired
from ..forms import ActionForm
from ..i18n import gettext
from ..limits import Limits
from ..pages import render_page
from ..session import auth_required, end_other_sessions, others_signed_out
from ..signals import emit
from ..state import state
from .confirm import full_strength

#: At this many left or fewer, the pages suggest making a new set.
RUNNING_LOW = 2


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/account/recovery-codes", view_func=auth_required(recovery_codes), methods=["GET"]
    )
    bp.add_url_rule(
        "/account/recovery-codes",
        endpoint="new_recovery_codes",
        view_func=full_strength(page="passwordless.recovery_codes")(new_recovery_codes),
        methods=["POST"],
    )


def codes_left(user: Any) -> int:
    return recovery.remaining(state().authenticators, state().adapter.key_of(user))


def recovery_codes() -> Any:
    user = current_user._get_current_object()
    left = codes_left(user)
    return render_page("recovery_codes.html", left=left, low=left <= RUNNING_LOW, form=ActionForm())


def new_recovery_codes() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    return show_new_codes(current_user._get_current_object(), first=False)


def show_new_codes(user: Any, *, first: bool) -> Any:
    """Make a new set (the old one dies) and show it, this once."""
    codes = recovery.replace(state().authenticators, state().adapter.key_of(user), clock.now())
    if not first:
        ended = end_other_sessions(user)
        if ended:
            flash(
                gettext("Your old recovery codes no longer work.") + others_signed_out(ended),
                "success",
            )
        tell_owner(user, "authenticator_changed", added=True, label=gettext("new recovery codes"))
    emit(signals.authenticator_added, user=user, type=recovery.TYPE)
    text = render_page_text(codes)
    return render_page(
        "recovery_codes_new.html",
        codes=codes,
        text=text,
        first=first,
        continue_url=setting("POST_LOGIN_URL"),
    )


def render_page_text(codes: list[str]) -> str:
    """The file a person saves: what the codes are for, then one code a line."""
    lines = [
        gettext("Recovery codes for %(site)s", site=site_name()),
        gettext("Each code works once."),
        "",
    ]
    return "\n".join([*lines, *codes, ""])
