"""Sign in with email and password (when PASSWORDLESS_PASSWORD_LOGIN is on).

A wrong address and a wrong password get the same message after the same
work: unknown addresses are checked against a dummy hash.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from .. import signals
from ..config import only_when
from ..failures import failures
from ..forms import PasswordLoginForm
from ..i18n import gettext
from ..limits import Limits
from ..pages import render_page
from ..passwords import Verdict, hash_password, needs_rehash, verify_password
from ..session import safe_next
from ..signals import emit
from ..signin import first_factor_passed
from ..state import state


def register(bp: Blueprint, limits: Limits) -> None:
    bp.add_url_rule(
        "/login/password",
        view_func=password_enabled(limits.checks(limits.failed_checks("email")(login_password))),
        methods=["GET", "POST"],
    )


password_enabled = only_when("PASSWORD_LOGIN")


def login_password() -> Any:
    form = PasswordLoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        email, adapter = form.normalised_email, state().adapter
        found = adapter.find_for_password(email, lockout_of=email)
        failures().check_allowed(email, found.lockout)
        user = found.user
        stored = adapter.password_hash_of(user) if user is not None else None
        typed = form.password.data or ""  # never None once InputRequired passed
        verdict = verify_password(stored, typed)
        if verdict and user is not None and stored is not None:
            state().authenticators.keep(adapter.key_of(user), found.authenticators)
            failures().forgive(email)
            if verdict is Verdict.RIGHT_AS_TYPED or needs_rehash(stored):
                adapter.set_password_hash(user, hash_password(typed))
            return first_factor_passed(user, "password", safe_next(form.next.data))
        failures().record(email)
        emit(signals.login_failed, identifier=email, reason="wrong-password")
        form.password.errors = [gettext("That email and password do not match an account.")]
    return render_page("password_login.html", form=form)
