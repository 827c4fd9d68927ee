"""The optional breached-password check: Pwned Passwords' range API.

k-anonymity: only the first five hex digits of the password's SHA-1 leave this
server. The service answers with every known suffix under that prefix (padded
with zero-count decoys, so the answer's size says nothing either), and the
comparison happens here. A service that is down, slow or answers nonsense never
blocks a password change: the check is skipped and the log says so.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.request

from .config import setting

log = logging.getLogger("flask_passwordless")

#: Where the range API lives unless PASSWORDLESS_PASSWORD_BREACH_API says otherwise.
PWNED_PASSWORDS_API = "https://api.pwnedpasswords.com"

#: A padded answer holds about 800 to 1,000 lines of 40 bytes; more is not an answer.
MAX_ANSWER_BYTES = 256 * 1024


def breached(password: str) -> bool:
    """True when the service has seen this password in a breach. False when it has
    not, when the check is off (PASSWORDLESS_PASSWORD_BREACH_CHECK), or when it
    could not run (logged as a warning)."""
    if not setting("PASSWORD_BREACH_CHECK"):
        return False
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    try:
        answer = _fetch_range(prefix)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        log.warning("breached-password check skipped (the password was accepted): %s", exc)
        return False
    return _listed(answer, suffix)


def _fetch_range(prefix: str) -> str:
    base = str(setting("PASSWORD_BREACH_API") or PWNED_PASSWORDS_API).rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError(f"PASSWORDLESS_PASSWORD_BREACH_API is not an http(s) URL: {base!r}")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        f"{base}/range/{prefix}",
        headers={"Add-Padding": "true", "User-Agent": "flask-passwordless"},
    )
    timeout = setting("PASSWORD_BREACH_TIMEOUT")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = response.read(MAX_ANSWER_BYTES + 1)
    if len(body) > MAX_ANSWER_BYTES:
        raise ValueError(f"the answer is longer than {MAX_ANSWER_BYTES} bytes")
    return body.decode("ascii")


def _listed(answer: str, suffix: str) -> bool:
    """Lines are ``SUFFIX:COUNT``; padding lines have a count of 0 and do not count."""
    for line in answer.splitlines():
        candidate, _, count = line.partition(":")
        if candidate.strip().upper() == suffix:
            count = count.strip()
            return count.isdigit() and int(count) > 0
    return False
