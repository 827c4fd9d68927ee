"""``flask passwordless ...`` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

passwordless_cli = AppGroup("passwordless", help="Manage flask-passwordless data.")


@passwordless_cli.command("cleanup")
@click.option("--batch-size", default=1000, show_default=True, help="Rows deleted per statement.")
def cleanup(batch_size: int) -> None:
    """Delete used and expired one-time secrets, in short batches."""
    removed = current_app.extensions["passwordless"].secrets.cleanup(batch_size)
    click.echo(f"Removed {removed} used or expired secrets.")
