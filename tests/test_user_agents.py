"""Device names from User-Agent strings: ua-parser's rules, bounded and cached.

The names are shown on the devices and sessions pages and in the new-device
email. Odd agents (huge, NUL bytes, junk) never break a page, the parser reads
only the first MAX_LENGTH characters, one agent string is parsed once, and a
signed-in page never parses at all.
"""

from __future__ import annotations

import pytest
from factors import make_user, pass_second_factor, password_login

from conftest import session_row
from flask_passwordless import user_agents
from flask_passwordless.user_agents import MAX_LENGTH, describe_user_agent

WIN = "Windows NT 10.0; Win64; x64"
MAC = "Macintosh; Intel Mac OS X 10_15_7"
IPHONE = "iPhone; CPU iPhone OS 18_1 like Mac OS X"
ANDROID = "Linux; Android 10; K"
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
APPLE_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
CHROME = "Chrome/131.0.0.0"


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (f"Mozilla/5.0 ({WIN}) {WEBKIT} {CHROME} Safari/537.36", "Chrome on Windows"),
        (f"Mozilla/5.0 ({MAC}) {WEBKIT} {CHROME} Safari/537.36", "Chrome on macOS"),
        (f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} {CHROME} Safari/537.36", "Chrome on Linux"),
        (f"Mozilla/5.0 ({ANDROID}) {WEBKIT} {CHROME} Mobile Safari/537.36", "Chrome on Android"),
        (
            f"Mozilla/5.0 ({IPHONE}) {APPLE_WEBKIT} CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome on iOS",
        ),
        (
            f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {WEBKIT} {CHROME} Safari/537.36",
            "Chrome on ChromeOS",
        ),
        (f"Mozilla/5.0 ({WIN}; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Android 15; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
            "Firefox on Android",
        ),
        (
            f"Mozilla/5.0 ({IPHONE}) {APPLE_WEBKIT} FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
            "Firefox on iOS",
        ),
        (f"Mozilla/5.0 ({MAC}) {APPLE_WEBKIT} Version/18.1 Safari/605.1.15", "Safari on macOS"),
        (
            f"Mozilla/5.0 ({IPHONE}) {APPLE_WEBKIT} Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) "
            f"{APPLE_WEBKIT} Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            f"Mozilla/5.0 ({WIN}) {WEBKIT} {CHROME} Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (f"Mozilla/5.0 ({MAC}) {WEBKIT} {CHROME} Safari/537.36 Edg/131.0.0.0", "Edge on macOS"),
        (
            f"Mozilla/5.0 ({ANDROID}) {WEBKIT} {CHROME} Mobile Safari/537.36 EdgA/131.0.0.0",
            "Edge on Android",
        ),
        (
            f"Mozilla/5.0 ({IPHONE}) {APPLE_WEBKIT} Version/18.0 EdgiOS/131.2903.68 "
            "Mobile/15E148 Safari/605.1.15",
            "Edge on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) "
            f"{WEBKIT} SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        (
            f"Mozilla/5.0 ({WIN}) {WEBKIT} {CHROME} Safari/537.36 OPR/115.0.0.0",
            "Opera on Windows",
        ),
        (
            f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} HeadlessChrome/131.0.0.0 Safari/537.36",
            "Headless Chrome on Linux",
        ),
        ("curl/8.5.0", "curl"),
    ],
)
def test_current_browsers_get_readable_names(agent, name):
    assert describe_user_agent(agent) == name


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "   ",
        "\x00",
        "Mozilla/5.0 (\x00Windows\x00)",
        "\u202e\ufeff\u200b",
        "\ud800",  # a lone surrogate: not encodable as UTF-8
        "x" * 1_000_000,
        "Mozilla/5.0 " + "(" * 100_000,
        "Mozilla/5.0 (" + "Windows NT 10.0; " * 10_000 + ")",
        "🦊" * 1000,
    ],
)
def test_odd_agents_get_a_name_without_an_error(agent):
    name = describe_user_agent(agent)
    assert isinstance(name, str) and 0 < len(name) <= 200


@pytest.mark.parametrize("agent", [None, 42, b"Mozilla/5.0"])
def test_a_value_that_is_not_text_is_an_unknown_browser(agent):
    assert describe_user_agent(agent) == "Unknown browser"  # type: ignore[arg-type]


@pytest.fixture
def parsed(monkeypatch):
    """Every agent string the parser is handed, from now on (the cache starts empty)."""
    seen: list[str] = []
    real = user_agents._families

    def spy(agent: str):
        seen.append(agent)
        return real(agent)

    user_agents._names.cache_clear()
    monkeypatch.setattr(user_agents, "_families", spy)
    yield seen
    user_agents._names.cache_clear()


def test_the_parser_reads_only_the_first_max_length_characters(parsed):
    agent = f"Mozilla/5.0 ({WIN}) {WEBKIT} {CHROME} Safari/537.36 " + "x" * 1_000_000
    assert describe_user_agent(agent) == "Chrome on Windows"
    assert [len(seen) for seen in parsed] == [MAX_LENGTH]


def test_one_agent_string_is_parsed_once(parsed):
    agent = f"Mozilla/5.0 ({WIN}; rv:133.0) Gecko/20100101 Firefox/133.0"
    names = {describe_user_agent(agent) for _ in range(50)}
    assert names == {"Firefox on Windows"}
    assert parsed == [agent]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_signed_in_pages_never_parse_the_agent(app, parsed):
    """Names are made when a session starts or a device is remembered, not per request."""
    make_user(app, phone="+14155552671", two_factor=True)
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = f"Mozilla/5.0 ({MAC}) {WEBKIT} {CHROME} Safari/537.36"
    password_login(client)
    assert pass_second_factor(app, client, remember=True).status_code == 302
    assert parsed, "remembering the device names it"
    parsed.clear()
    user_agents._names.cache_clear()  # a parse now would show, cached or not
    for _ in range(5):
        assert client.get("/private").status_code == 200
    assert parsed == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "agent",
    [
        "\x00" * 50,
        "Mozilla/5.0 (" + "A" * 20_000,
        "Mozilla/5.0 \xff\xfe\x00 Firefox/1",  # bytes that are not UTF-8, as WSGI hands them
    ],
)
def test_signing_in_with_an_odd_agent_lists_the_session_without_an_error(app, agent):
    make_user(app, phone="+14155552671", two_factor=True)
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    password_login(client)
    assert pass_second_factor(app, client, remember=True).status_code == 302
    assert len(session_row(app, client).user_agent) <= MAX_LENGTH
    for page in ("/auth/account/sessions", "/auth/account/devices"):
        response = client.get(page)
        assert response.status_code == 200, page
