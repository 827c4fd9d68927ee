"""The one way the package reaches the current app's extension state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from .extension import PasswordlessState


def state() -> PasswordlessState:
    """This app's services (adapter, secrets, failures, limiter...), set by ``init_app``."""
    return current_app.extensions["passwordless"]
