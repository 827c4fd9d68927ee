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
from urllib.parse import urlsplit

from flask import abort, request

#: Longest User-Agent kept (the device table's column).
USER_AGENT_LENGTH = 512
#: Longest client address kept: an IPv6 address with a zone fits.
ADDRESS_LENGTH = 64

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate (Cs: not
# encodable as UTF-8), private-use (Co) and unassigned (Cn) characters are dropped,
# as nothing shows them; whitespace among them becomes a space.
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn"}


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
    return printable(value, limit)


def printable(value: str, limit: int) -> str:
    """Typed text (already decoded: a form field) without control and format
    characters, whitespace runs as one space, at most ``limit`` characters."""
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


def check_request_url() -> None:
    """Refuse (400) a request whose own URL cannot be written: a path prefix that
    is not a path, or a scheme that is neither http nor https.

    The prefix (``SCRIPT_NAME``; ``X-Forwarded-Prefix`` through ProxyFix) starts
    every redirect: ``http://[`` makes Werkzeug's Location header unparseable (a
    500), ``//host`` points it off-site. A proxy sets the prefix, never forwards
    the client's, so this only meets a forged or misconfigured one. The same goes
    for the scheme (``X-Forwarded-Proto: http://[``): the sign-in redirect's
    ``next`` is the request's URL, which Werkzeug then cannot build (a 500).
    """
    if request.scheme not in ("http", "https"):
        abort(400)
    root = request.script_root
    if not root:
        return
    try:
        parts = urlsplit(root)
    except ValueError:
        abort(400)
    if parts.scheme or parts.netloc or not root.startswith("/") or root.startswith("//"):
        abort(400)  # a path prefix starts with one slash ("[::1" would join the host)
