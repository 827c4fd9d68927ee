"""Every page and message: lang and dir, nothing left in English.

A test-client walk (quicker than the browser's, and in any language) visits each
page in its main states and collects the messages sent on the way. The finder
(tests/untranslated.py) then names any visible text that no source string of
the ``.pot`` covers: a string added without pl_gettext shows up here, page by page.

The full walk runs in English (what no source string covers), Arabic (right to
left), German (long words) and Japanese, each walk once per run and shared by
the tests that read it. Whether a page shows a source string untranslated
depends on the code that renders it, not on the language, so one language per
script finds it: German (Latin), Japanese (CJK), Arabic. What does depend on the
language is its catalogue, and tests/test_i18n.py checks each shipped one as a
whole (every msgid of the ``.pot`` translated, nothing fuzzy, the same
placeholders, compiled), which covers the pages of French, Spanish and Brazilian
Portuguese; each of those still gets its lang and dir checked on a page here.
"""

from __future__ import annotations

import re

import pytest
from soft_authenticator import SoftAuthenticator
from test_security import _normalised
from untranslated import _pattern, source_strings, untranslated, visible_text

from apps import User, create_app, db
from conftest import (
    add_user,
    code_in,
    csrf_token,
    link_in,
    request_login,
    submit_code,
    token_in,
)
from flask_passwordless import UserAdapter, i18n

EMAIL = "erin@example.com"
NEW = "erin.new@example.com"
TAKEN = "fred@example.com"
PASSKEYS = "/auth/account/passkeys"
CONFIRM = "/auth/account/email/confirm"
SITE = "Test App"
LANG = re.compile(r'<html lang="([^"]*)" dir="([^"]*)">')
#: Shipped, and Arabic (right to left) even before its catalogue is complete.
LANGUAGES = sorted({*i18n.SHIPPED_LANGUAGES, "ar"})
#: The languages walked in full: see the module's docstring for why these.
WALKED = ["en", "ar", "de", "ja"]
#: One per script: Latin, CJK, Arabic.
NO_ENGLISH_LEFT = ["de", "ja", "ar"]


def walk(app, language: str) -> list[tuple[str, str]]:
    """(name, HTML) of every page the walk reached, in ``language``."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    pages: list[tuple[str, str]] = []

    def see(name: str, response) -> None:
        assert response.status_code < 500, (name, response.status_code)
        pages.append((name, response.get_data(as_text=True)))

    def post(path: str, follow: bool = True, token_page: str | None = None, **data):
        data["csrf_token"] = csrf_token(client, token_page or path)
        return client.post(path, data=data, follow_redirects=follow)

    see("login", client.get("/auth/login"))
    see("login-invalid", post("/auth/login", email="not an address"))
    see("password_login", client.get("/auth/login/password"))
    see("password_login-empty", post("/auth/login/password", email="", password=""))
    see("sms_login", client.get("/auth/login/sms"))
    see("reset", client.get("/auth/reset"))
    see("reset_sent", post("/auth/reset", email=EMAIL))
    see("error-link", client.get("/auth/login/link?token=not-a-token", follow_redirects=True))
    data = {"credential": "{}", "csrf_token": csrf_token(client)}
    see("passkey-broken", client.post("/auth/login/passkey", data=data))

    post("/auth/login", email=EMAIL)
    outbox = app.extensions["passwordless"].outbox
    message = outbox[-1]
    see("code", client.get("/auth/login/code"))
    see("code-wrong", post("/auth/login/code", code="000000"))
    link = link_in(message).removeprefix("https://app.example.com")
    see("link_confirm", client.get(link, follow_redirects=True))
    post("/auth/login/code", code=code_in(message))

    for name, path in [
        ("account_phone", "/auth/account/phone"),
        ("account_password", "/auth/account/password"),
        ("account_two_factor", "/auth/account/two-factor"),
        ("account_devices", "/auth/account/devices"),
        ("account_sessions", "/auth/account/sessions"),
        ("account_totp", "/auth/account/totp"),
        ("recovery_codes", "/auth/account/recovery-codes"),
        ("account", "/auth/account"),
        ("account_passkeys-none", "/auth/account/passkeys"),
        ("account_email", "/auth/account/email"),
    ]:
        see(name, client.get(path, follow_redirects=True))
    walk_passkeys(client, see, post)
    walk_email_change(app, client, see, post)
    return pages


def walk_passkeys(client, see, post) -> None:
    """A passkey made, named, renamed: its page with one, and the account page's count."""
    soft = SoftAuthenticator()
    token = csrf_token(client, PASSKEYS)
    options = client.post(f"{PASSKEYS}/options", data={"csrf_token": token}).get_json()
    data = {"credential": soft.create(options), "name": ""}  # the default name
    see("account_passkeys-created", post(PASSKEYS, **data))
    see(
        "account_passkeys-bad-name",
        post(f"{PASSKEYS}/1/rename", token_page=PASSKEYS, name="x" * 81),
    )
    see(
        "account_passkeys-renamed", post(f"{PASSKEYS}/1/rename", token_page=PASSKEYS, name="Laptop")
    )
    see("account-passkey", client.get("/auth/account"))


def walk_email_change(app, client, see, post) -> None:
    """Asking for a new address (the same one, one in use, a free one), its code
    and link pages, and the change."""
    add_user(app, TAKEN)
    see("account_email-same", post("/auth/account/email", email=EMAIL))
    post("/auth/account/email", email=TAKEN)
    see("account_email_code", post("/auth/account/email", email=NEW))
    see("account_email_code-wrong", post("/auth/account/email/verify", code="000000"))
    message = [m for m in app.extensions["passwordless"].outbox if m.template == "email_change"][-1]
    see("account_email_confirm", client.get(link_in(message), follow_redirects=True))
    see(
        "account-email-changed",
        post(CONFIRM, token_page="/auth/account/email", token=token_in(message)),
    )


def build_app(folder, made: list, **config):
    """A test app on a SQLite file of its own in ``folder``, with Erin's account."""
    app = create_app(
        f"sqlite:///{folder / f'pages{len(made)}.db'}",
        PASSWORDLESS_LANGUAGES=LANGUAGES,
        PASSWORDLESS_SEND_IN_BACKGROUND=False,
        **config,
    )
    with app.app_context():
        db.create_all()
    add_user(app, EMAIL)
    made.append(app)
    return app


def dispose(made: list) -> None:
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def make(tmp_path):
    made: list = []
    yield lambda **config: build_app(tmp_path, made, **config)
    dispose(made)


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """``walked(language)``: the app and the pages of its walk, each language walked once."""
    made: list = []
    walks: dict = {}

    def walked_in(language: str):
        if language not in walks:
            app = build_app(tmp_path_factory.mktemp(f"walk_{language}"), made)
            walks[language] = (app, walk(app, language))
        return walks[language]

    yield walked_in
    dispose(made)


def lang_and_dir(language: str) -> tuple[str, str]:
    return i18n.tag(language), i18n.text_direction(i18n.parse(language))


@pytest.mark.parametrize("language", WALKED)
def test_every_page_has_the_lang_and_dir_of_its_language(walked, language):
    _app, pages = walked(language)
    for name, html in pages:
        assert LANG.search(html).groups() == lang_and_dir(language), name


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_names_itself_and_its_direction_on_the_page(make, language):
    client = make().test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    html = client.get("/auth/login").get_data(as_text=True)
    assert LANG.search(html).groups() == lang_and_dir(language)


def test_every_visible_string_of_every_page_and_message_is_translatable(walked):
    """In English: what no source string covers was written without pl_gettext."""
    app, pages = walked("en")
    sources = source_strings()
    found = {}
    for name, html in pages:
        found[name] = untranslated(html, sources, data=(SITE, EMAIL, NEW, TAKEN))
    for message in app.extensions["passwordless"].outbox:
        for part, text in (("text", message.text), ("html", message.html or "")):
            found[f"{message.template}.{part}"] = untranslated(
                text, sources, data=(SITE, EMAIL, NEW, TAKEN)
            )
        found[f"{message.template}.subject"] = untranslated(message.subject, sources, (SITE,))
    assert {name: runs for name, runs in found.items() if runs} == {}


def _words(source: str) -> int:
    """Words of the source itself, placeholders and markup aside: "%(browser)s on
    %(system)s" has one, and "on" is inside German words too."""
    return len(re.sub(r"<[^>]+>|%\(\w+\)[sd]", " ", source).split())


def english_sources(language: str) -> list[str]:
    """The source strings whose translation into ``language`` differs from them."""
    from babel.messages.pofile import read_po

    path = i18n.TRANSLATIONS / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with open(path, "rb") as source:
        catalogue = read_po(source)
    differ = []
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        differ += [text for text in ids if _words(text) > 1 and text not in forms]
    return differ


@pytest.mark.parametrize("language", NO_ENGLISH_LEFT)
def test_a_translated_page_or_message_shows_no_english_source_string(walked, language):
    app, pages = walked(language)
    sources = [(text, re.compile(_pattern(text))) for text in english_sources(language)]
    # (english_sources keeps only sources of two words or more: each has a pattern.)
    texts = [(name, visible_text(html)) for name, html in pages]
    for message in app.extensions["passwordless"].outbox:
        texts += [(message.template, message.subject + " " + message.text)]
        texts += [(message.template + ".html", visible_text(message.html or ""))]
    leftovers = {
        name: [source for source, pattern in sources if pattern.search(text)]
        for name, text in texts
    }
    assert {name: found for name, found in leftovers.items() if found} == {}


class RecordLanguageAdapter(UserAdapter):
    """A host that keeps each user's language: it must not reach a page."""

    def locale(self, user):
        return "ar"


@pytest.mark.parametrize("language", LANGUAGES)
def test_known_and_unknown_addresses_get_identical_responses_in_every_language(make, language):
    app = make()
    app.extensions["passwordless"].adapter = RecordLanguageAdapter(db, User)
    known, unknown = app.test_client(), app.test_client()
    for client in (known, unknown):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    pairs = [(known, EMAIL), (unknown, "erim@example.com")]
    steps = [
        lambda c, e: c.get("/auth/login"),
        lambda c, e: request_login(c, e),
        lambda c, e: c.get("/auth/login/code"),
        lambda c, e: submit_code(c, "000000"),
        lambda c, e: c.post("/auth/reset", data={"email": e, "csrf_token": csrf_token(c)}),
    ]
    for step in steps:
        first, second = (_normalised(step(c, e), e) for c, e in pairs)
        assert first == second
        assert f'lang="{i18n.tag(language)}"' in first[2] or first[0] in (302, 303)
