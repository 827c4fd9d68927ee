"""Finding the visible text of a page that no catalogue entry covers.

A string written straight into a template or a view stays English in every
language. This takes a page's visible text (text nodes, the title, and the
attributes people hear or see: aria-label, placeholder, alt, title, button
values), removes every match of every source string of the ``.pot`` (its
placeholders match anything), and returns the words left over that are not
data: addresses, numbers, codes, dates Babel wrote, the site's name. What is
left is what a later pass must wrap, page by page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po

from flask_passwordless import i18n

POT = i18n.TRANSLATIONS / f"{i18n.DOMAIN}.pot"
#: Tags inside a sentence: no word break at them ("is <strong>off</strong>.").
INLINE = {"a", "strong", "em", "b", "i", "code", "span", "bdi", "small", "abbr"}
SPOKEN_ATTRIBUTES = {"aria-label", "placeholder", "alt", "title"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
#: Words that are data, not wording: Babel's English month and day-period names,
#: the zone, product names in a device's description.
DATA_WORDS = set(
    [
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
        "AM",
        "PM",
        "UTC",
        "Chrome",
        "Chromium",
        "HeadlessChrome",
        "Headless",
        "Firefox",
        "Safari",
        "Edge",
        "Linux",
        "Windows",
        "macOS",
        "Android",
        "iOS",
    ]
)
DATA = re.compile(
    r"\S+@\S+"  # an address, masked or not
    r"|\b[A-Z0-9]{8,}\b|\b(?:[A-Z0-9]{4}[\s-]+){3,}[A-Z0-9]{1,4}\b"  # keys, recovery codes
    r"|\S*\d\S*"  # numbers, codes, times, IPs, phone numbers
)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in INLINE:
            self.parts.append(" ")
        if tag in ("script", "style", "svg"):
            self._skip += 1
        values = dict(attrs)
        for name in SPOKEN_ATTRIBUTES & values.keys():
            self.parts.append(f" {values[name] or ''} ")
        if tag == "input" and values.get("type") in ("submit", "button"):
            self.parts.append(f" {values.get('value') or ''} ")

    def handle_endtag(self, tag: str) -> None:
        if tag not in INLINE:
            self.parts.append(" ")
        if tag in ("script", "style", "svg") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def source_strings(pot: Path = POT) -> list[str]:
    """Every msgid (both forms of a plural), longest words first: a long sentence
    that contains a short one is removed whole, and "%(browser)s on %(system)s"
    comes after "Turn it on"."""
    with open(pot, "rb") as source:
        catalogue = read_po(source)
    found = set()
    for message in catalogue:
        for text in message.id if isinstance(message.id, tuple) else (message.id,):
            if text:
                found.add(text)
    return sorted(found, key=lambda text: len(PLACEHOLDER.sub("", text)), reverse=True)


def _pattern(source: str) -> str | None:
    """A source string as a regex: markup dropped (it splits text nodes), any
    whitespace for a space, anything (bounded) for a placeholder between words.
    A placeholder at either end matches nothing, so a short source ("%(browser)s
    on %(system)s") cannot swallow the text around it. None: no words at all."""
    plain = " ".join(re.sub(r"<[^>]+>", "", source).split())
    pieces = [piece.strip() for piece in PLACEHOLDER.split(plain)]
    while pieces and not pieces[0]:
        pieces.pop(0)
    while pieces and not pieces[-1]:
        pieces.pop()
    if not pieces:
        return None

    def literal(piece: str) -> str:
        body = r"\s+".join(map(re.escape, piece.split()))
        start = r"\b" if piece[0].isalnum() else ""
        return start + body + (r"\b" if piece[-1].isalnum() else "")

    return r".{0,200}?".join(literal(piece) if piece else "" for piece in pieces)


def untranslated(html: str, sources: list[str], data: tuple[str, ...] = ()) -> list[str]:
    """The runs of words on the page that neither a source string nor data explains."""
    text = visible_text(html)
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    for source in sources:
        pattern = _pattern(source)
        if pattern:
            text = re.sub(pattern, " | ", text)
    text = DATA.sub(" ", text)
    runs = []
    for run in re.split(r"[|·]", text):
        words = [w for w in re.findall(r"[^\W\d_]{2,}", run) if w not in DATA_WORDS]
        if words:
            runs.append(" ".join(words))
    return runs
