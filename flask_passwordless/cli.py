"""``flask passwordless ...`` commands."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import devices, server_sessions
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
