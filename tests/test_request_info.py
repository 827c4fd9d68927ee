"""Request metadata is cleaned in one place before it is stored, logged or shown."""

from __future__ import annotations

import pytest

from flask_passwordless.request_info import ADDRESS_LENGTH, USER_AGENT_LENGTH, clean


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Firefox/128.0", "Firefox/128.0"),
        ("Fire\x00fox", "Firefox"),
        ("a\r\nb\tc\x0bd", "a b c d"),
        ("\x1b[31mred\x7f", "[31mred"),
        ("caf\xc3\xa9", "café"),  # UTF-8 bytes as WSGI hands them over (latin-1)
        ("caf\xe9", "caf\ufffd"),  # a latin-1 byte that is not UTF-8
        ("\u202egpj.exe", "gpj.exe"),  # a direction override (already text)
        ("\ud800x", "x"),  # a lone surrogate: not encodable as UTF-8
        ("\u0530a\ue000b", "ab"),  # unassigned, private use: no glyph to show (the fuzzer's)
        ("   ", ""),
        (None, ""),
    ],
)
def test_header_text_is_printable_utf8(raw, kept):
    assert clean(raw, 100) == kept


def test_header_text_is_bounded_whatever_its_length():
    assert clean("x" * 1_000_000, USER_AGENT_LENGTH) == "x" * USER_AGENT_LENGTH
    assert len(clean("\xc3\xa9" * 1000, ADDRESS_LENGTH)) == ADDRESS_LENGTH
    assert clean("1.2.3.4\x00" * 100, ADDRESS_LENGTH).isprintable()
