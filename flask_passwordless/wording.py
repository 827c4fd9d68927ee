"""Numbers in sentences: durations with the right unit and plural, in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .i18n import ngettext

#: The unit in words, with the reader's language's plural forms (Arabic has six).
UNITS: dict[str, Callable[[int], str]] = {
    "hour": lambda n: ngettext("%(num)d hour", "%(num)d hours", n),
    "minute": lambda n: ngettext("%(num)d minute", "%(num)d minutes", n),
    "second": lambda n: ngettext("%(num)d second", "%(num)d seconds", n),
}


def duration(seconds: int, *, wait: bool = False) -> str:
    """A lifetime in words: "45 seconds", "1 minute", "10 minutes", "1 hour".

    Rounded down, so a message never promises longer than a secret lives
    ("0 minutes" for a 30-second code said nothing at all). A ``wait`` ("try again
    in ...") is rounded up instead, so it never tells anyone to come back too soon:
    seconds under two minutes, then minutes, then hours from two hours.
    """
    seconds = max(int(seconds), 0)
    if wait:
        if seconds >= 7200:
            value, unit = -(-seconds // 3600), "hour"
        elif seconds >= 120:
            value, unit = -(-seconds // 60), "minute"
        else:
            value, unit = seconds, "second"
    elif seconds >= 3600 and seconds % 3600 == 0:
        value, unit = seconds // 3600, "hour"
    elif seconds >= 60:
        value, unit = seconds // 60, "minute"
    else:
        value, unit = seconds, "second"
    return str(UNITS[unit](value))


def lifetime(seconds: int) -> dict[str, Any]:
    """What a message template gets about how long its secret lives: ``lifetime``
    in words, and ``minutes`` (a number, for templates written before it)."""
    return {"lifetime": duration(seconds), "minutes": int(seconds) // 60}
