"""Sign in by email: one message carries a link (any browser) and a code (this one).

The journey: enter an address -> get a message -> either type the code
here, or open the link anywhere, confirm with one button, and be signed in.
Mail scanners may open the link (GET, HEAD) as often as they like: only the
button's POST uses it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for

from .. import signals
from ..config import setting
from ..delivery import ensure_queue_room, external_url, render_email, send
from ..errors import FormExpired, SecretInvalid
from ..failures import failures
from ..forms import EmailForm, LinkForm, masked_email
from ..limits import Limits
from ..pages import render_page
from ..session import (
    expect_code,
    forget_link_token,
    keep_link_token,
    link_token,
    previous_secret,
    safe_next,
)
from ..signals import emit
from ..signin import first_factor_passed
from ..state import state
from ..tokens import Redeemed
from ..wording import lifetime

PURPOSE = "login"


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/login", view_func=limits.sends("email", "login")(login), methods=["GET", "POST"]
    )
    bp.add_url_rule("/login/link", view_func=limits.checks(login_link), methods=["GET"])
    bp.add_url_rule(
        "/login/link",
        endpoint="login_link_confirm",
        view_func=limits.checks(login_link_confirm),
        methods=["POST"],
    )


def login() -> Any:
    """Ask for an email address, send the link and code, go to the code page."""
    form = EmailForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        ensure_queue_room()
        start(form.normalised_email, safe_next(form.next.data))
        return redirect(url_for(".login_code"))
    return render_page("login.html", form=form)


def start(email: str, next_url: str | None) -> None:
    """Issue a secret and send the message that fits the address.

    Every address gets a row and the same redirect, so neither the response
    nor the work done before it tells whether an account exists.
    """
    user = state().adapter.find_by_email(email)
    issued = state().secrets.issue(
        PURPOSE, email, next_url=next_url, replaces=previous_secret(PURPOSE)
    )
    expect_code(issued.id, PURPOSE, email, email)
    # Messages always go out in the background: an inline send (slow, or failing
    # with a 503) would tell a known address from an unknown one.
    if user is None and not setting("REGISTER_UNKNOWN"):
        if setting("EMAIL_UNKNOWN_ACCOUNTS"):
            login_url = external_url(".login")
            send(render_email("unknown_account", email, login_url=login_url), background=True)
        return
    template = "login" if user is not None else "register"
    link = external_url(".login_link", token=issued.token)
    message = render_email(
        template, email, link=link, code=issued.code, **lifetime(setting("TOKEN_MAX_AGE"))
    )
    send(message, background=True)
    emit(signals.login_link_sent, user=user, email=email)
    emit(signals.code_sent, channel="email", identifier=email)


def login_link() -> Any:
    """The link's landing page: one button, nothing used (scanners are welcome).

    The first GET moves the token into the session and redirects to the bare
    path, so the token does not stay in logs, history or bookmarks.
    """
    moved = keep_link_token(PURPOSE)
    if moved is not None:
        return moved
    token = link_token(PURPOSE)
    try:
        link = state().secrets.check_link(token, PURPOSE)
    except SecretInvalid:
        forget_link_token(PURPOSE)
        emit(signals.login_failed, identifier=None, reason="dead-link")
        raise
    # Say whose account: a link mailed by an attacker would sign you in as them.
    account = masked_email(link.identifier)
    # The button posts the token this page showed (another tab may have kept a newer one).
    return render_page("link_confirm.html", form=LinkForm(token=token), account=account)


def login_link_confirm() -> Any:
    """The button: use the link and sign in."""
    form = LinkForm()
    if not form.validate_on_submit():
        raise FormExpired()
    token = link_token(PURPOSE, posted=form.token.data)
    try:
        redeemed = state().secrets.redeem_link(token, PURPOSE)
    except SecretInvalid:
        forget_link_token(PURPOSE)
        emit(signals.login_failed, identifier=None, reason="dead-link")
        raise
    failures().forgive(redeemed.identifier)
    return finish(redeemed)


def finish(redeemed: Redeemed) -> Any:
    """Sign in the owner of the address, creating the account if sign-up is on."""
    email = redeemed.identifier
    user = state().adapter.find_by_email(email)
    if user is None:
        if not setting("REGISTER_UNKNOWN"):
            emit(signals.login_failed, identifier=email, reason="no-account")
            raise SecretInvalid()
        user = state().adapter.create_user(email)
        emit(signals.user_registered, user=user)
    return first_factor_passed(user, "email", redeemed.next_url)
