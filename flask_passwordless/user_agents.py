"""Readable names for browsers, like "Firefox on macOS", for device and sign-in lists.

The browser and the system come from ua-parser and the rules of uap-core (its
``ua-parser-builtins`` package), kept up to date by others as browsers change
what they send; we only shorten their names ("Mobile Safari" is Safari here).

A name is made when a session starts, a device is remembered or the sessions
page lists rows, never on a signed-in page. Each costs a fraction of a
millisecond (with the ``ua-parser-rs`` resolver; a few milliseconds without),
after the rules load once per process (under a second, on first use, so that
importing the app and every ``flask`` command do not pay it). Names are cached
by agent string (the browser and system, not the sentence, which is written in
the reader's language), and an agent is read only up to ``MAX_LENGTH`` characters.
"""

from __future__ import annotations

from functools import lru_cache

from .i18n import gettext

#: Longest part of an agent string read: the column keeps this much, and no
#: browser sends more (a longer one is padding, read no further).
MAX_LENGTH = 512
#: Distinct agent strings whose names are kept.
CACHE_SIZE = 1024


# ua-parser's family names, as people call them.
_BROWSERS = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Android WebView",
    "Edge Mobile": "Edge",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    # Worth telling apart: a scripted browser signed in.
    "HeadlessChrome": "Headless Chrome",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Opera Mobile": "Opera",
    "Samsung Internet": "Samsung Internet",
}
_SYSTEMS = {
    "Mac OS X": "macOS",
    "Chrome OS": "ChromeOS",
}


def describe_user_agent(agent: str) -> str:
    """A readable name like "Firefox on macOS"; "Unknown browser" when nothing is known."""
    browser, system = (None, None)
    if isinstance(agent, str):
        # A lone surrogate (not from a request: request_info drops them) would make
        # the parser raise; it becomes "?".
        browser, system = _names(agent[:MAX_LENGTH].encode("utf-8", "replace").decode("utf-8"))
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or gettext("Unknown browser")


@lru_cache(maxsize=CACHE_SIZE)
def _names(agent: str) -> tuple[str | None, str | None]:
    if not agent.strip():
        return None, None
    browser, system = _families(agent)
    return _BROWSERS.get(browser or "", browser), _SYSTEMS.get(system or "", system)


def _families(agent: str) -> tuple[str | None, str | None]:
    """ua-parser's browser and system families, None where it knows none ("Other")."""
    import ua_parser  # here, not at import: the rules take a while to load

    result = ua_parser.parser(agent, ua_parser.Domain.USER_AGENT | ua_parser.Domain.OS)
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    return _known(browser), _known(system)


def _known(family: str | None) -> str | None:
    return None if family in (None, "", "Other") else family
