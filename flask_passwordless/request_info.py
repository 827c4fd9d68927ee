"""What a request says about the browser, made safe to store, log and show.

Headers and the client address (through ProxyFix, the X-Forwarded-For header)
are whatever the client sent: NUL bytes that PostgreSQL refuses (after a code
was already used), line breaks that forge log lines, direction overrides that
disguise a device's name, bytes that are not UTF-8, or kilobytes of text.
Every place that keeps request metadata reads it through here.
"""

from __future__ import annotations

import unicodedata
from contextlib import suppress

from flask import request

#: Longest User-Agent kept (the device table's column).
USER_AGENT_LENGTH = 512
#: Longest client address kept: an IPv6 address with a zone fits.
ADDRESS_LENGTH = 64

# Control (Cc), format (Cf: bidi overrides, zero-width) and surrogate (Cs: not
# encodable as UTF-8) characters are dropped; whitespace among them becomes a space.
_DROPPED = {"Cc", "Cf", "Cs"}


def clean(value: str | None, limit: int) -> str:
    """``value`` as printable text of at most ``limit`` characters.

    WSGI hands header values over as latin-1 decoded bytes, so the bytes are
    decoded again as UTF-8 (a UTF-8 agent string reads right, stray bytes
    become U+FFFD), then control and format characters go and runs of
    whitespace shrink to one space.
    """
    if not value:
        return ""
    value = value[: limit * 4]  # a UTF-8 character is at most 4 bytes: enough to fill limit
    with suppress(UnicodeEncodeError):  # not a WSGI byte string (already text): keep it
        value = value.encode("latin-1").decode("utf-8", "replace")
    kept = (
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED
    )
    return " ".join("".join(kept).split())[:limit]


def user_agent() -> str:
    """The request's User-Agent, cleaned ("" when absent)."""
    return clean(request.headers.get("User-Agent"), USER_AGENT_LENGTH)


def client_address() -> str | None:
    """The client address as the app sees it (``remote_addr``), cleaned; None if unknown."""
    return clean(request.remote_addr, ADDRESS_LENGTH) or None
