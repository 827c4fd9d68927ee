"""The account page: everything about the account in one place, each with its page.

Authenticators are listed from the registry (each type's ``manage_endpoint``
and ``summary``), so a type a host or another module adds shows up with no
change here. The page stays cheap: the user row comes with the session, the
authenticator rows are read once per request (``store.of_user``), and the
devices and sessions are one statement each, whatever their number.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, url_for
from flask_login import current_user

from .. import devices, server_sessions
from ..limits import Limits
from ..pages import render_page
from ..session import auth_required
from ..signin import two_step_on, two_step_required
from ..state import state


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule("/account", view_func=auth_required(account), methods=["GET"])


def authenticators(user: Any) -> list[dict[str, Any]]:
    """One entry per type this app offers that has a page: what the account page shows."""
    shown = []
    for kind in state().registry.managed():
        enrolled = kind.enrolled(user)
        shown.append(
            {
                "name": kind.name,
                "label": kind.label,
                "enrolled": enrolled,
                "summary": kind.summary(user) if enrolled else None,
                "url": url_for(kind.manage_endpoint),  # type: ignore[arg-type]
            }
        )
    return shown


def account() -> Any:
    user = current_user._get_current_object()
    seconds = state().registry.second_factors(user)
    return render_page(
        "account.html",
        authenticators=authenticators(user),
        two_step=two_step_on(user),
        two_step_required=two_step_required(user),
        second_factors=[kind.label for kind in seconds if not kind.last_resort],
        devices=len(devices.devices_of(user)),
        sessions=len(server_sessions.sessions_of(user)),
    )
