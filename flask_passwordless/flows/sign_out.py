"""Sign out of this browser, or of every browser at once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect
from flask_login import current_user

from ..config import setting
from ..errors import FormExpired
from ..forms import ActionForm
from ..i18n import lazy_gettext as _l
from ..limits import Limits
from ..session import sign_out, sign_out_everywhere

#: Said on the next page that shows messages (the host's, or ours): the session
#: is gone after the redirect, so the flash goes into the fresh one.
SIGNED_OUT = _l("You are signed out.")
SIGNED_OUT_EVERYWHERE = _l("You are signed out of every browser where you were signed in.")


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule("/logout", view_func=logout, methods=["POST"])
    bp.add_url_rule("/logout/everywhere", view_func=logout_everywhere, methods=["POST"])


def logout() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    sign_out()
    flash(str(SIGNED_OUT), "success")
    return redirect(setting("POST_LOGOUT_URL"))


def logout_everywhere() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    if current_user.is_authenticated:
        sign_out_everywhere(current_user._get_current_object())
        flash(str(SIGNED_OUT_EVERYWHERE), "success")
    else:
        sign_out()
        flash(str(SIGNED_OUT), "success")
    return redirect(setting("POST_LOGOUT_URL"))
