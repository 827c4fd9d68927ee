"""The sessions page: every browser signed in to the account, and signing them out.

A session is a signed-in browser (``server_sessions``); a remembered device is
not one (it only skips the second step), and has its own page. Looking needs a
signed-in session; signing others out needs a recent sign-in, like forgetting
devices.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import server_sessions
from ..errors import FormExpired
from ..forms import ActionForm
from ..i18n import gettext
from ..i18n import lazy_gettext as _l
from ..limits import Limits
from ..pages import render_page
from ..session import auth_required, end_other_sessions, others_signed_out, recently_signed_in
from ..state import state
from ..user_agents import describe_user_agent

recent = auth_required(within=recently_signed_in)

#: Methods that are not authenticator types, as "how it signed in" shows them
#: (the types show their own label).
OTHER_METHODS = {"device": _l("Remembered device"), "reset": _l("Password reset link")}


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule("/account/sessions", view_func=auth_required(account_sessions), methods=["GET"])
    bp.add_url_rule(
        "/account/sessions/<int:session_id>/revoke",
        view_func=recent(revoke_session),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/account/sessions/revoke-others", view_func=recent(revoke_other_sessions), methods=["POST"]
    )


def describe(row: Any, this_id: int | None) -> dict[str, Any]:
    """What the page shows of one session row."""
    record = server_sessions.auth_from_text(row.auth_text, row.id)
    methods = record.get("methods") if isinstance(record, dict) else None
    return {
        "id": row.id,
        "name": describe_user_agent(row.user_agent or ""),
        "ip": row.ip,
        "created_at": row.created_at,
        "last_seen_at": row.last_seen_at,
        "methods": [_method_label(str(m)) for m in methods or []],
        "this": row.id == this_id,
    }


def _method_label(method: str) -> str:
    kind = state().registry.get(method)
    if kind is not None and kind.label:
        return kind.label
    return OTHER_METHODS.get(method, method)


def account_sessions() -> Any:
    this = server_sessions.current()
    this_id = this.id if this else None
    rows = server_sessions.sessions_of(current_user._get_current_object())
    shown = [describe(row, this_id) for row in rows]
    shown.sort(key=lambda entry: not entry["this"])  # this one first
    return render_page("account_sessions.html", sessions=shown, form=ActionForm())


def revoke_session(session_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    this = server_sessions.current()
    if this is not None and this.id == session_id:
        flash(gettext("To end this session, sign out."), "info")
    elif server_sessions.end_one(current_user._get_current_object(), session_id):
        flash(gettext("That browser was signed out."), "success")
    return redirect(url_for(".account_sessions"))


def revoke_other_sessions() -> Any:
    if not ActionForm().validate_on_submit():
        raise FormExpired()
    ended = end_other_sessions(current_user._get_current_object())
    flash((gettext("This session stays signed in.") + others_signed_out(ended)).strip(), "success")
    return redirect(url_for(".account_sessions"))
