"""Change the account's address: nothing changes until the new one proves itself.

The journey: type the new address on ``/account/email`` (an account security
change: the account's full strength, recently) -> the new address gets a
link and a code (``tokens``, purpose ``email-change``) -> type the code in
this browser, or open the link in a browser signed in to this account and
press its button -> the address changes, once: using the link or the code
uses the row, by one conditional UPDATE.

No enumeration: an address another account already uses gets the same page
after the same work (the same lookups, a row issued, one message queued). Its
message says someone tried to add it to another account and carries no
secret, so that row can never be used.

A change belongs to the account that asked: the row's identifier is
``<user key> <new address>`` (a normalised address has no space), and only a
session of that account can use it. So whoever adds *your* address to
*their* account cannot get you to finish the change by clicking a link.

Once it changes: other sessions end (auth_id rotated, their rows revoked) and
links and codes sent to the old address or the phone die, as after a password
change (any other pending change too: ``session.retire_secrets``); the old
address is told. Remembered devices stay: each stands for a
second step passed on that browser, and the second step did not change (a
password change forgets them because the old password may be what let
someone remember one; an old mailbox no longer signs in to this account at all).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, session, url_for
from flask_login import current_user

from .. import signals
from ..config import setting
from ..delivery import ensure_queue_room, external_url, render_email, send
from ..errors import FormExpired, PasswordlessError, SecretInvalid
from ..forms import CodeForm, EmailForm, LinkForm, masked_email
from ..i18n import gettext, lazy_gettext
from ..limits import Limits, spend_send_budget
from ..pages import render_page
from ..session import (
    PENDING,
    end_other_sessions,
    expect_code,
    forget_link_token,
    keep_link_token,
    keep_signed_in,
    link_token,
    others_signed_out,
    pending_code,
    previous_secret,
    retire_secrets,
)
from ..signals import emit
from ..state import state
from ..tokens import Redeemed, owned_identifier, owner_and_address
from ..wording import lifetime
from .code import check_code
from .confirm import full_strength

PURPOSE = "email-change"


class ChangeElsewhere(PasswordlessError):
    """An address-change link opened where its account is not signed in."""

    title = lazy_gettext("Open this link where you asked for the change")
    message = lazy_gettext(
        "This link changes the address of the account that asked for it. Open it in a "
        "browser signed in to that account, or type the code from the email there."
    )
    again_endpoint = "passwordless.account"
    again_text = lazy_gettext("Go to your account")


def register(bp: Blueprint, limits: Limits) -> None:
    ask = full_strength(page="passwordless.account_email", changes_only=True)
    verify = full_strength(page="passwordless.verify_email", changes_only=True)
    use_link = full_strength(page="passwordless.email_link")
    bp.add_url_rule(
        "/account/email",
        view_func=ask(limits.sends("email", PURPOSE)(account_email)),
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/account/email/verify",
        view_func=verify(limits.checks(limits.failed_checks("pending")(verify_email))),
        methods=["GET", "POST"],
    )
    # The link's GET moves its token out of the URL before anything else (even
    # before asking to sign in, which would put the URL in ``next``).
    bp.add_url_rule("/account/email/confirm", view_func=limits.checks(email_link), methods=["GET"])
    bp.add_url_rule(
        "/account/email/confirm",
        endpoint="email_link_confirm",
        view_func=use_link(limits.checks(email_link_confirm)),
        methods=["POST"],
    )


def _user() -> Any:
    return current_user._get_current_object()


def account_email() -> Any:
    """Show the address; send a link and a code to a new one."""
    user = _user()
    form = EmailForm()
    form.email.label.text = gettext("New email address")
    current = state().adapter.email_of(user)
    if form.validate_on_submit():
        new = form.normalised_email
        if new == current:
            form.email.errors = [gettext("That is already your address.")]
        else:
            ensure_queue_room()
            # The account's own budget too: one account must not mail many addresses.
            spend_send_budget(PURPOSE, "account:" + state().adapter.key_of(user))
            _start(user, new)
            return redirect(url_for(".verify_email"))
    return render_page("account_email.html", form=form, current=current)


def _owner(user: Any, email: str) -> str:
    return owned_identifier(state().adapter.key_of(user), email)


def _parts(redeemed: Redeemed) -> tuple[str, str]:
    return owner_and_address(redeemed.identifier)


def _start(user: Any, new: str) -> None:
    """Issue the row and queue the one message that fits the address: the same
    statements and the same redirect whether another account holds it."""
    holder = state().adapter.find_by_email(new)
    issued = state().secrets.issue(PURPOSE, _owner(user, new), replaces=previous_secret(PURPOSE))
    expect_code(issued.id, PURPOSE, new, _checker(user))
    if holder is not None:
        send(render_email("email_change_taken", new), background=True)
        return
    link = external_url(".email_link", token=issued.token)
    valid_for = lifetime(setting("TOKEN_MAX_AGE"))
    message = render_email("email_change", new, link=link, code=issued.code, **valid_for)
    send(message, background=True)
    emit(signals.code_sent, channel="email", identifier=new)


def _checker(user: Any) -> str:
    """The lockout and failed-check key: the account checking, never the address, so
    wrong codes typed by another account cannot lock the address's owner out."""
    return "email-check:" + state().adapter.key_of(user)


def verify_email() -> Any:
    """Type the code the new address received; only then does the address change."""
    pending = pending_code(PURPOSE)
    if pending is None:
        return redirect(url_for(".account_email"))
    form = CodeForm()
    if form.validate_on_submit():
        redeemed = check_code(form, pending)
        if redeemed is not None:
            return _change(_user(), redeemed)
    return render_page("account_email_code.html", form=form, sent_to=pending.to)


def email_link() -> Any:
    """The link's page: one button; nothing is used (mail scanners open links)."""
    moved = keep_link_token(PURPOSE)
    if moved is not None:
        return moved
    token = link_token(PURPOSE)
    try:
        found = state().secrets.check_link(token, PURPOSE)
    except SecretInvalid:
        forget_link_token(PURPOSE)
        raise
    _ensure_owner(found)
    new = _parts(found)[1]
    return render_page("account_email_confirm.html", form=LinkForm(token=token), new=new)


def email_link_confirm() -> Any:
    """The button: use the link, change the address."""
    form = LinkForm()
    if not form.validate_on_submit():
        raise FormExpired()
    token = link_token(PURPOSE, posted=form.token.data)
    try:
        _ensure_owner(state().secrets.check_link(token, PURPOSE))
        redeemed = state().secrets.redeem_link(token, PURPOSE)
    finally:
        forget_link_token(PURPOSE)
    return _change(_user(), redeemed)


def _ensure_owner(found: Redeemed) -> None:
    """Only a session of the account that asked may use its link."""
    signed_in = current_user.is_authenticated
    if not signed_in or _parts(found)[0] != state().adapter.key_of(_user()):
        raise ChangeElsewhere()


def _change(user: Any, redeemed: Redeemed) -> Any:
    """Store the new address, then end what the old one may have started."""
    key, new = _parts(redeemed)
    if key != state().adapter.key_of(user):  # a forged session record: never another's row
        raise SecretInvalid()
    session.pop(PENDING, None)
    adapter = state().adapter
    old = adapter.email_of(user)
    # Ended first, then changed (as the password change does): a failure half-way
    # leaves the old address and less access, never the new address and old sessions.
    adapter.rotate_auth_id(user)
    keep_signed_in(user)
    ended = end_other_sessions(user)
    retire_secrets(user)  # sent to the old address or the phone; other pending changes
    if not adapter.set_email(user, new):
        flash(gettext("That address now belongs to another account."), "error")
        return redirect(url_for(".account_email"))
    send(render_email("email_changed", old, new=masked_email(new)))
    emit(signals.email_changed, user=user, old=old, new=new)
    message = gettext("Your email address is now %(address)s.", address=new)
    flash(message + others_signed_out(ended), "success")
    return redirect(url_for(".account"))
