"""The extension's sense of time, swappable per app so tests never sleep."""

from __future__ import annotations

from datetime import datetime, timezone

from .state import state


def utcnow() -> datetime:
    """Naive UTC, as stored in the tables (SQLite keeps no time zones)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def now() -> datetime:
    """The current app's clock: ``state().clock``, which tests replace."""
    return state().clock()


def timestamp() -> float:
    return now().replace(tzinfo=timezone.utc).timestamp()
