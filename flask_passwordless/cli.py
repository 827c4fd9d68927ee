"""``flask passwordless ...`` commands."""

from __future__ import annotations

from contextlib import suppress

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError
from flask import current_app
from flask.cli import AppGroup

from . import devices, server_sessions
from .config import production_checks
from .delivery import external_url
from .forms import email_problem, normalise_email
from .pages import missing_schema
from .signals import device_revoked, emit
from .state import state

passwordless_cli = AppGroup("passwordless", help="Manage flask-passwordless data.")


@passwordless_cli.command("cleanup")
@click.option("--batch-size", default=1000, show_default=True, help="Rows deleted per statement.")
def cleanup(batch_size: int) -> None:
    """Delete used and expired one-time secrets, dead devices and ended sessions, in
    short batches."""
    removed = state().secrets.cleanup(batch_size)
    click.echo(f"Removed {removed} used or expired secrets.")
    click.echo(f"Removed {devices.cleanup(batch_size)} expired or revoked devices.")
    ended = server_sessions.cleanup(batch_size)
    click.echo(f"Removed {ended} expired, idle or revoked sessions.")


@passwordless_cli.command("revoke-devices")
@click.argument("email")
def revoke_devices(email: str) -> None:
    """Forget every remembered device of the account with this EMAIL."""
    user = state().adapter.find_by_email(email.strip().lower())
    if user is None:
        raise click.ClickException(f"No account with the address {email}.")
    revoked = devices.revoke(user)
    for device in revoked:
        emit(device_revoked, user=user, device=device)
    click.echo(f"Revoked {len(revoked)} devices of {email}.")


@passwordless_cli.command("create-user")
@click.argument("email")
def create_user(email: str) -> None:
    """Create an account for EMAIL, through the app's UserAdapter.

    For apps that do not let unknown addresses sign up
    (PASSWORDLESS_REGISTER_UNKNOWN off, the default): how the first user is made.
    """
    try:
        address = normalise_email(email)
    except EmailNotValidError:
        problem = email_problem(email)
        raise click.ClickException(f"{email!r} is not a valid email address: {problem}") from None
    adapter = state().adapter
    try:
        if adapter.find_by_email(address) is not None:
            raise click.ClickException(f"There is already an account with the address {address}.")
        adapter.create_user(address)
    except sa.exc.DBAPIError as exc:
        if not missing_schema(exc):
            raise
        raise click.ClickException(
            "The database has no tables yet: run `flask db upgrade` first."
        ) from None
    click.echo(f"Created an account for {address}.")
    with suppress(RuntimeError):  # no base URL yet; `flask passwordless check` says so
        click.echo(f"It signs in at {external_url('passwordless.login')}")


@passwordless_cli.command("check")
def check() -> None:
    """Print the production checklist; exit with status 1 if anything is unsafe."""
    checks = production_checks(current_app)
    for label, problem in checks:
        click.echo(f"ok       {label}" if problem is None else f"PROBLEM  {problem}")
    problems = sum(problem is not None for _label, problem in checks)
    if problems:
        click.echo(f"{problems} of {len(checks)} checks failed: fix them before going live.")
        raise click.exceptions.Exit(1)
    click.echo(f"All {len(checks)} checks passed.")
