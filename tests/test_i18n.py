"""Languages: which one a page or message is in, the host's own Babel, our catalogues.

Strings a language does not ship yet are tested through a catalogue made here and
added as a host would (PASSWORDLESS_TRANSLATION_DIRECTORIES): that is the README's
way to add a language or change one string, so it is tested too.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask_babel import Babel
from flask_babel import gettext as host_gettext

from apps import User, db, passwordless
from flask_passwordless import UserAdapter, i18n

LANG = re.compile(r'<html lang="([^"]*)" dir="([^"]*)">')


def write_catalogue(folder: Path, language: str, messages: dict[str, str], domain: str) -> Path:
    """A compiled catalogue, as ``pybabel compile`` would leave it."""
    catalog = Catalog(locale=language)
    for source, translated in messages.items():
        if isinstance(translated, tuple):  # a plural: both English forms are the id
            source = (source, source.replace("minute", "minutes"))
        catalog.add(source, translated)
    target = folder / language / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / f"{domain}.mo", "wb") as out:
        write_mo(out, catalog)
    return folder


OURS_FR = {
    "Please sign in to see this page.": "Connectez-vous pour voir cette page.",
    "Hello": "Bonjour (notre domaine)",
    "Your sign-in link for %(site)s": "Votre lien de connexion pour %(site)s",
    "Hello,": "Bonjour,",
    # French has three plural forms in CLDR (one, many: a million, other).
    "%(num)d minute": ("%(num)d minute (fr)", "%(num)d minutes (fr)", "%(num)d minutes (fr)"),
}
HOST_FR = {"Hello": "Bonjour (domaine hôte)"}


def build_app(tmp_path: Path, *, babel: str | None = None, selector=None, **config) -> Flask:
    """The test host app, with Flask-Babel set up by the host before us, after
    us, or not at all (``babel``: "before", "after", None)."""
    app = Flask(__name__, root_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="i18n",
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'i18n.db'}",
        PASSWORDLESS_BASE_URL="https://app.example.com",
        PASSWORDLESS_MAIL_BACKEND="memory",
        PASSWORDLESS_SEND_IN_BACKGROUND=False,
        PASSWORDLESS_SITE_NAME="Test App",
        PASSWORDLESS_TRANSLATION_DIRECTORIES=["ours"],
        BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "host"),
        RATELIMIT_STORAGE_URI="memory://",
    )
    app.config.update(config)
    write_catalogue(tmp_path / "ours", "fr", OURS_FR, i18n.DOMAIN)
    write_catalogue(tmp_path / "host", "fr", HOST_FR, "messages")
    db.init_app(app)
    if babel == "before":
        Babel(app, locale_selector=selector)
    passwordless.init_app(app, db=db, user_model=User)
    if babel == "after":
        Babel(app, locale_selector=selector)

    @app.route("/host")
    def host_page():
        return render_template_string(
            "{{ host }}|{{ ours }}", host=host_gettext("Hello"), ours=i18n.gettext("Hello")
        )

    @app.route("/private")
    def private():
        from flask_login import login_required

        return login_required(lambda: "private")()

    with app.app_context():
        db.create_all()
    return app


def page_language(client, path="/auth/login", accept=None) -> tuple[str, str]:
    headers = {"Accept-Language": accept} if accept else {}
    body = client.get(path, headers=headers).get_data(as_text=True)
    return LANG.search(body).groups()


@pytest.mark.parametrize(
    ("accept", "lang", "direction"),
    [
        (None, "en", "ltr"),
        ("de-AT,de;q=0.9,en;q=0.5", "de", "ltr"),
        ("ar", "ar", "rtl"),
        ("pt-BR", "pt-BR", "ltr"),
        ("pt", "pt-BR", "ltr"),  # the one Portuguese offered
        ("it, de;q=0.3", "de", "ltr"),  # not offered: the next one asked for
        ("it", "en", "ltr"),  # nothing offered asked for: the default
    ],
)
def test_the_page_language_is_the_best_match_of_accept_language(tmp_path, accept, lang, direction):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "de", "ar", "pt_BR"])
    assert page_language(app.test_client(), accept=accept) == (lang, direction)


def test_each_app_and_header_gets_its_own_choice_of_language(tmp_path):
    """The choice is kept per header, so it must be kept per setting too: two apps
    in one process with different languages answer the same header differently,
    and a header longer than the kept ones is still read to its end."""
    german = build_app(tmp_path / "de", PASSWORDLESS_LANGUAGES=["en", "de"])
    french = build_app(
        tmp_path / "fr", PASSWORDLESS_LANGUAGES=["fr", "en"], BABEL_DEFAULT_LOCALE="fr"
    )
    for _ in range(2):  # the second time from what was kept
        assert page_language(german.test_client(), accept="de, fr;q=0.5")[0] == "de"
        assert page_language(french.test_client(), accept="de, fr;q=0.5")[0] == "fr"
        assert page_language(german.test_client(), accept="it")[0] == "en"
        assert page_language(french.test_client(), accept="it")[0] == "fr"
    long = ", ".join(f"x{i:03d};q=0.{i % 9 + 1}" for i in range(40)) + ", de;q=0.95"
    assert len(long) > i18n.KEPT_HEADER_LENGTH
    assert page_language(german.test_client(), accept=long)[0] == "de"


def test_the_answer_varies_with_accept_language_when_we_choose_by_it(tmp_path):
    ours = build_app(tmp_path / "ours")
    assert "Accept-Language" in ours.test_client().get("/auth/login").headers["Vary"]
    hosts = build_app(tmp_path / "host", babel="before", selector=lambda: "fr")
    assert "Accept-Language" not in hosts.test_client().get("/auth/login").headers.get("Vary", "")


def test_only_shipped_languages_are_offered_by_default(tmp_path):
    app = build_app(tmp_path)
    client = app.test_client()
    for language in i18n.SHIPPED_LANGUAGES:
        assert page_language(client, accept=language)[0] == i18n.tag(language)
    # Swedish is not shipped: English, the default.
    assert page_language(client, accept="sv")[0] == "en"


def test_the_languages_setting_limits_the_choice_and_names_the_fallback(tmp_path):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["fr", "de"])
    client = app.test_client()
    assert page_language(client, accept="en")[0] == "fr"  # English is not offered here
    assert page_language(client, accept="de")[0] == "de"


def test_a_host_adds_a_language_with_its_own_catalogue(tmp_path):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "fr"])
    client = app.test_client()
    response = client.get("/private", headers={"Accept-Language": "fr"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'lang="fr"' in page
    assert "Connectez-vous pour voir cette page." in page
    english = client.get("/private", follow_redirects=True).get_data(as_text=True)
    assert "Please sign in to see this page." in english


@pytest.mark.parametrize("order", ["before", "after"])
def test_the_hosts_locale_selector_decides(tmp_path, order):
    app = build_app(tmp_path, babel=order, selector=lambda: "fr")
    client = app.test_client()
    assert page_language(client, accept="en")[0] == "fr"
    # Both domains answer, and neither takes the other's catalogue.
    mixed = client.get("/host").get_data(as_text=True)
    assert mixed == "Bonjour (domaine hôte)|Bonjour (notre domaine)"


@pytest.mark.parametrize("order", ["before", "after"])
def test_a_host_babel_without_a_selector_means_its_default_locale(tmp_path, order):
    """A host that set Babel up without a selector has one language, whichever
    Accept-Language says: our pages are in it too."""
    app = build_app(tmp_path, babel=order, BABEL_DEFAULT_LOCALE="fr")
    client = app.test_client()
    assert page_language(client, accept="en")[0] == "fr"
    assert client.get("/host").get_data(as_text=True).endswith("|Bonjour (notre domaine)")


def test_without_a_host_babel_its_own_strings_stay_untouched(tmp_path):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "fr"])
    # The host's catalogue is still Babel's default domain, in our chosen language.
    body = app.test_client().get("/host", headers={"Accept-Language": "fr"})
    assert body.get_data(as_text=True) == "Bonjour (domaine hôte)|Bonjour (notre domaine)"
    assert "i18n" not in app.jinja_env.extensions  # we did not configure the host's Jinja


class FrenchAdapter(UserAdapter):
    def locale(self, user):
        return "fr" if user.email.startswith("marie") else None


def with_french_marie(app):
    """Marie's record says French, Max's names no language (``FrenchAdapter``)."""
    app.extensions["passwordless"].adapter = FrenchAdapter(db, User)
    with app.app_context():
        db.session.add_all([User(email="marie@example.com"), User(email="max@example.com")])
        db.session.commit()


def test_outside_a_request_the_adapter_names_the_language(tmp_path):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "fr"])
    with_french_marie(app)
    with app.app_context():
        marie = db.session.scalar(db.select(User).filter_by(email="marie@example.com"))
        other = db.session.scalar(db.select(User).filter_by(email="max@example.com"))
        with i18n.language_for(marie):
            assert i18n.gettext("Hello") == "Bonjour (notre domaine)"
        with i18n.language_for(other):
            assert i18n.gettext("Hello") == "Hello"
    # In a request, the request's language: the record never shows on a page.
    with app.test_request_context(headers={"Accept-Language": "en"}), i18n.language_for(marie):
        assert i18n.gettext("Hello") == "Hello"


def test_a_message_is_written_in_the_language_of_the_request_that_caused_it(tmp_path):
    """Rendered in the request, sent on the background thread: still French."""
    app = build_app(
        tmp_path, PASSWORDLESS_LANGUAGES=["en", "fr"], PASSWORDLESS_SEND_IN_BACKGROUND=True
    )
    with app.app_context():
        db.session.add(User(email="marie@example.com"))
        db.session.commit()
    client = app.test_client()
    page = client.get("/auth/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post(
        "/auth/login",
        data={"email": "marie@example.com", "csrf_token": token},
        headers={"Accept-Language": "fr"},
    )
    ours = app.extensions["passwordless"]
    ours.dispatcher.wait()
    (message,) = ours.outbox
    assert message.subject == "Votre lien de connexion pour Test App"
    assert message.text.startswith("Bonjour,\n")
    assert "10 minutes (fr)" in message.text
    assert 'lang="fr"' in message.html


def test_a_message_outside_a_request_takes_the_adapters_language(tmp_path):
    from flask_passwordless.delivery import render_email

    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "fr"])
    with_french_marie(app)
    with app.app_context():
        context = {"link": "https://app.example.com/auth/login/link?token=x", "code": "123456"}
        french = render_email("login", "marie@example.com", lifetime="10 minutes", **context)
        english = render_email("login", "max@example.com", lifetime="10 minutes", **context)
    assert french.subject == "Votre lien de connexion pour Test App"
    assert english.subject == "Your sign-in link for Test App"


@pytest.mark.parametrize(
    ("accept", "day", "moment"),
    [
        ("en", "Dec 1, 2026", "Dec 1, 2026, 11:42\u202fAM UTC"),
        ("de", "01.12.2026", "01.12.2026, 11:42 UTC"),
        ("ja", "2026/12/01", "2026/12/01 11:42 UTC"),
    ],
)
def test_dates_are_written_the_readers_way(tmp_path, accept, day, moment):
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "de", "ja"])
    when = datetime(2026, 12, 1, 11, 42)  # naive UTC, as the tables keep it
    with app.test_request_context(headers={"Accept-Language": accept}):
        assert i18n.format_date(when) == day
        assert i18n.format_datetime(when).replace(" ", " ") == moment.replace(" ", " ")


# The catalogues ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
POT = i18n.TRANSLATIONS / f"{i18n.DOMAIN}.pot"
PO_FILES = sorted(i18n.TRANSLATIONS.glob(f"*/LC_MESSAGES/{i18n.DOMAIN}.po"))


def read_catalogue(path: Path) -> Catalog:
    with open(path, "rb") as source:
        return read_po(source)


def language_of(path: Path) -> str:
    return path.parent.parent.name


def source_strings() -> set:
    """Every string in our Python and templates, extracted as ``make translations`` does."""
    with open(ROOT / "babel.cfg") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    makefile = (ROOT / "Makefile").read_text()
    ours = re.search(r"^KEYWORDS := (.*)$", makefile, re.M).group(1).replace("-k ", "").split()
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(ours)}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return {message for _file, _line, message, _comments, _context in found}


def test_the_template_holds_every_string_of_the_source():
    """A string added without ``make translations`` would stay English everywhere."""
    listed = {message.id for message in read_catalogue(POT) if message.id}
    assert source_strings() == listed, "run `make translations` and commit the result"


def test_every_language_has_its_catalogue_from_the_current_template():
    languages = {language_of(path) for path in PO_FILES}
    assert {"de", "fr", "es", "pt_BR", "ja", "ar"} <= languages
    template = {message.id for message in read_catalogue(POT) if message.id}
    for path in PO_FILES:
        ids = {m.id for m in read_catalogue(path) if m.id}
        assert ids == template, f"{path} is not updated: run `make translations`"


@pytest.mark.parametrize("path", PO_FILES, ids=language_of)
def test_every_translation_keeps_the_placeholders_of_its_source(path):
    """Babel's checkers: the same %(name)s placeholders, the language's number of plural forms."""
    problems = [
        f"{message.id!r}: {error}"
        for message, errors in read_catalogue(path).check()
        for error in errors
    ]
    assert problems == []


@pytest.mark.parametrize("language", [x for x in i18n.SHIPPED_LANGUAGES if x != "en"])
def test_a_shipped_catalogue_is_complete_and_compiled(language):
    path = i18n.TRANSLATIONS / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    catalogue = read_catalogue(path)
    untranslated = [m.id for m in catalogue if m.id and not all(_forms(m.string))]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
    with open(path.with_suffix(".mo"), "rb") as compiled:
        shipped = {_key(m.id): _key(m.string) for m in read_mo(compiled) if m.id}
    expected = {_key(m.id): _key(m.string) for m in catalogue if m.id}
    assert shipped == expected, "run `make translations`"


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def _forms(string) -> tuple:
    return string if isinstance(string, tuple) else (string,)


def test_only_shipped_languages_are_compiled():
    """A half-translated catalogue must not show half-English pages: it is not compiled."""
    compiled = {language_of(p) for p in i18n.TRANSLATIONS.glob(f"*/LC_MESSAGES/{i18n.DOMAIN}.mo")}
    assert compiled == set(i18n.SHIPPED_LANGUAGES) - {"en"}


def test_wtforms_own_messages_come_in_the_page_language(tmp_path):
    """Flask-WTF translates WTForms' messages with Babel's locale: ours, here."""
    from flask_passwordless.forms import NewPasswordForm

    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "de"], WTF_CSRF_ENABLED=False)
    long = "x" * 1025
    for accept, expected in [
        ("de", "Feld kann nicht länger als 1024 Zeichen sein."),
        ("en", "Field cannot be longer than 1024 characters."),
    ]:
        with app.test_request_context(
            "/",
            method="POST",
            data={"password": long, "confirm": long},
            headers={"Accept-Language": accept},
        ):
            form = NewPasswordForm()
            form.validate()
            assert expected in form.password.errors


def test_wtforms_own_messages_stay_english_when_the_host_turns_their_translation_off(tmp_path):
    from flask_passwordless.forms import NewPasswordForm

    config = {"WTF_CSRF_ENABLED": False, "WTF_I18N_ENABLED": False}
    app = build_app(tmp_path, PASSWORDLESS_LANGUAGES=["en", "de"], **config)
    long = "x" * 1025
    data = {"password": long, "confirm": long}
    with app.test_request_context("/", method="POST", data=data, headers={"Accept-Language": "de"}):
        form = NewPasswordForm()
        form.validate()
        assert "Field cannot be longer than 1024 characters." in form.password.errors


def test_a_german_notice_about_new_recovery_codes_reads_in_the_plural(tmp_path):
    """The label stands after a colon, so no verb has to agree with it (German
    "neue Wiederherstellungscodes" is plural, "ein Passkey" is not)."""
    app = build_app(tmp_path)
    with app.test_request_context(headers={"Accept-Language": "de"}):
        from flask_passwordless.delivery import render_email

        label = i18n.gettext("new recovery codes")
        message = render_email("authenticator_changed", "a@example.com", added=True, label=label)
    assert "Soeben zu Ihrem Konto bei" in message.text
    assert "hinzugefügt: neue Wiederherstellungscodes." in message.text
