"""Type a one-time code, from an email or a text, in the browser that asked for it.

The flow that sent the code recorded which secret it belongs to in this
browser's session (``expect_code``); that flow's ``finish`` signs the user in.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, session, url_for

from .. import signals
from ..errors import CodeWrong, SecretInvalid
from ..failures import failures
from ..forms import CodeForm
from ..i18n import gettext
from ..i18n import lazy_gettext as _l
from ..limits import Limits
from ..pages import render_page
from ..session import PENDING, ExpectedCode, pending_code
from ..signals import emit
from ..state import state
from ..tokens import Redeemed
from . import email_login, sms_login

FINISH = {email_login.PURPOSE: email_login.finish, sms_login.PURPOSE: sms_login.finish}


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/login/code",
        view_func=limits.checks(limits.failed_checks("pending")(login_code)),
        methods=["GET", "POST"],
    )


def login_code() -> Any:
    pending = pending_code(*FINISH)
    if pending is None:
        flash(gettext("Enter your email address to get a code."), "info")
        return redirect(url_for(".login"))
    form = CodeForm()
    if form.validate_on_submit():
        redeemed = check_code(form, pending)
        if redeemed is not None:
            return FINISH[redeemed.purpose](redeemed)
    channel = "sms" if pending.purpose == sms_login.PURPOSE else "email"
    return render_page("code.html", form=form, sent_to=pending.to, channel=channel)


#: An earlier message's code, typed after a newer message replaced it.
REPLACED = _l(
    "That code is from an earlier message: a newer one replaced it. Type the code from "
    "the newest message."
)


def _refusal(wrong: CodeWrong, code: str, pending: ExpectedCode) -> str:
    """What to say about a wrong code: the old one from a replaced message is no typo.
    (The try counts either way: it was counted on the live secret.)"""
    if state().secrets.was_one_of(pending.replaced, code, pending.purpose):
        return str(REPLACED)
    return wrong.message


def check_code(form: CodeForm, pending: ExpectedCode) -> Redeemed | None:
    """Use the pending secret if the code is right; a wrong one becomes a field error.

    A dead secret raises, for the error page, after this browser forgets it. A
    success clears the identifier's failure count.
    """
    identifier = pending.identifier
    failures().check_allowed(identifier)
    try:
        redeemed = state().secrets.redeem_code(pending.id, form.code.data or "", pending.purpose)
    except CodeWrong as wrong:
        failures().record(identifier)
        emit(signals.login_failed, identifier=identifier, reason="wrong-code")
        if wrong.remaining:
            form.code.errors = [_refusal(wrong, form.code.data or "", pending)]
            return None
        session.pop(PENDING, None)
        raise SecretInvalid() from None
    except SecretInvalid:
        session.pop(PENDING, None)
        emit(signals.login_failed, identifier=identifier, reason="dead-code")
        raise
    failures().forgive(identifier)
    return redeemed
