"""Sign in with a code sent by SMS to a phone number the user verified earlier.

Every well-formed number gets a row and the same answer; only a number that
passes the SMS policy *and* is verified by an account gets a text. Unknown,
unverified, premium-rate or foreign numbers get nothing, ever, and the page
does not say which case it was.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for

from .. import signals
from ..config import only_when, setting
from ..delivery import ensure_queue_room, render_sms, send
from ..errors import SecretInvalid
from ..forms import SignInPhoneForm
from ..limits import Limits
from ..pages import render_page
from ..phone import display_phone, may_text
from ..session import expect_code, previous_secret, safe_next
from ..signals import emit
from ..signin import first_factor_passed
from ..state import state
from ..tokens import Redeemed
from ..wording import lifetime

PURPOSE = "sms"


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/login/sms",
        view_func=sms_enabled(limits.sends("phone", "sms")(login_sms)),
        methods=["GET", "POST"],
    )


sms_enabled = only_when("SMS_ENABLED")


def login_sms() -> Any:
    """Ask for a phone number, text it a code, go to the code page."""
    form = SignInPhoneForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        ensure_queue_room()
        start(form.e164, safe_next(form.next.data))
        return redirect(url_for(".login_code"))
    return render_page("sms_login.html", form=form)


def start(phone_number: str, next_url: str | None) -> None:
    user = state().adapter.find_by_phone(phone_number)
    if not may_text(phone_number):
        user = None
    issued = state().secrets.issue(
        PURPOSE, phone_number, link=False, next_url=next_url, replaces=previous_secret(PURPOSE)
    )
    expect_code(issued.id, PURPOSE, display_phone(phone_number), phone_number)
    text = render_sms("login", phone_number, code=issued.code, **lifetime(setting("TOKEN_MAX_AGE")))
    if user is None:
        return  # rendered all the same: the work before the answer does not differ
    send(text, background=True)  # never inline: a slow or failed send would tell
    emit(signals.code_sent, channel="sms", identifier=phone_number)


def finish(redeemed: Redeemed) -> Any:
    """Sign in the account whose verified number received the code."""
    user = state().adapter.find_by_phone(redeemed.identifier)
    if user is None:
        emit(signals.login_failed, identifier=redeemed.identifier, reason="no-account")
        raise SecretInvalid()
    return first_factor_passed(user, "sms", redeemed.next_url)
