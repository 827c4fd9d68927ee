"""The reader's language: our own Flask-Babel domain, and which language is used.

Our strings live in the ``flask_passwordless`` domain, so a host's
``messages`` catalogues and ours never collide. The language is Flask-Babel's
``get_locale()``: the host's selector (or its ``BABEL_DEFAULT_LOCALE``) when
the host set Babel up, before or after us; otherwise ours, the best match of
``Accept-Language``. Never the user record's language before sign-in: pages
for known and unknown addresses must stay byte-identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from babel import Locale, dates, lists
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, force_locale, get_locale
from flask_babel import _get_current_context as babel_context
from jinja2 import pass_eval_context
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from .state import state

#: Where the ``.pot``, the ``.po`` files and the compiled ``.mo`` files live.
TRANSLATIONS = Path(__file__).resolve().with_name("translations")
DOMAIN = "flask_passwordless"
SOURCE_LANGUAGE = "en"
#: Languages whose catalogues are complete (tests/test_i18n.py holds each one to
#: that); only these are compiled and offered. The others' ``.po`` files wait
#: for translators.
SHIPPED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "pt_BR", "ja", "ar")
#: Longest ``Accept-Language`` whose best match is kept; longer ones are matched each time.
KEPT_HEADER_LENGTH = 200


def _setting(name: str) -> Any:
    # Not config.setting: config imports the errors, whose messages import us.
    return current_app.config["PASSWORDLESS_" + name]


class PasswordlessDomain(Domain):
    """Our catalogues, then the host's ``PASSWORDLESS_TRANSLATION_DIRECTORIES``.

    Flask-Babel merges the directories in order and a later entry wins, so a
    host's catalogue can add a language or change a single string.
    """

    def __init__(self) -> None:
        super().__init__(domain=DOMAIN)

    @property
    def translation_directories(self) -> list[str]:
        extra = current_app.config.get("PASSWORDLESS_TRANSLATION_DIRECTORIES") or ()
        if isinstance(extra, str | os.PathLike):
            extra = [extra]
        root = current_app.root_path
        return [str(TRANSLATIONS), *(os.path.join(root, folder) for folder in extra)]

    def get_translations(self) -> Any:
        """The source strings in an app without Babel (a bare app in a script).

        Kept on the request for as long as its language stays the same: a page
        looks its strings up dozens of times, and Flask-Babel's own lookup
        spells the locale out again on each of them.
        """
        if not has_app_context() or "babel" not in current_app.extensions:
            return NullTranslations()
        ctx = babel_context()
        if ctx is None:
            return super().get_translations()
        kept = getattr(ctx, "passwordless_translations", None)
        if kept is not None and kept[0] is getattr(ctx, "babel_locale", None):
            return kept[1]
        translations = super().get_translations()  # sets ctx.babel_locale
        ctx.passwordless_translations = (getattr(ctx, "babel_locale", None), translations)
        return translations

    def get_translations_cache(self, ctx: Any) -> dict[Any, Any]:
        """One cache per app: two apps in a process may add different catalogues."""
        ours = current_app.extensions.get("passwordless")
        return ours.translations if ours is not None else self.cache


domain = PasswordlessDomain()
gettext = domain.gettext
ngettext = domain.ngettext
lazy_gettext = domain.lazy_gettext
lazy_ngettext = domain.lazy_ngettext


def tag(locale: Locale | str) -> str:
    """The BCP 47 tag of a locale: ``pt-BR``, as ``lang`` and ``Accept-Language`` write it."""
    return str(locale).replace("_", "-")


def parse(language: Locale | str) -> Locale:
    return language if isinstance(language, Locale) else Locale.parse(tag(language), sep="-")


@lru_cache(maxsize=64)
def _locale_names(languages: tuple[str, ...]) -> tuple[str, ...]:
    """Parsed once per list: parsing locales costs more than the rest of a page's
    choice of language."""
    return tuple(str(parse(name)) for name in languages)


@lru_cache(maxsize=64)
def _tags_to_names(names: tuple[str, ...]) -> dict[str, str]:
    return {tag(name): name for name in names}


def default_language() -> str:
    """``BABEL_DEFAULT_LOCALE`` when it is offered, else the first offered language."""
    return _default_of(*_choice_settings())


def best_language() -> str:
    """The offered language that best matches this request's ``Accept-Language``.

    Our locale selector when the host has no Babel of its own; a host's selector
    may call it too. It reads the request only, never the user record (see the
    module docstring). Every page asks once: the answer is kept per header (a
    short one: browsers send a few dozen characters).
    """
    if not has_request_context():
        return default_language()
    header = request.headers.get("Accept-Language", "")
    choose = _best_match if len(header) <= KEPT_HEADER_LENGTH else _best_match.__wrapped__
    return choose(header, *_choice_settings())


def _choice_settings() -> tuple[tuple[str, ...], str]:
    """``PASSWORDLESS_LANGUAGES`` (a host may list one it adds a catalogue for), else
    every shipped language; and ``BABEL_DEFAULT_LOCALE``."""
    languages = tuple(_setting("LANGUAGES") or SHIPPED_LANGUAGES)
    return languages, current_app.config.get("BABEL_DEFAULT_LOCALE", SOURCE_LANGUAGE)


@lru_cache(maxsize=256)
def _best_match(header: str, languages: tuple[str, ...], babel_default: str) -> str:
    by_tag = _tags_to_names(_locale_names(languages))
    match = parse_accept_header(header, LanguageAccept).best_match(list(by_tag))
    return by_tag[match] if match else _default_of(languages, babel_default)


@lru_cache(maxsize=64)
def _default_of(languages: tuple[str, ...], babel_default: str) -> str:
    offered = _locale_names(languages)
    default = str(parse(babel_default))
    return default if default in offered else offered[0]


def set_up(app: Flask) -> None:
    """Set Babel up unless the host did (a host that does it later replaces ours,
    and its selector decides), and give templates our functions."""
    if "babel" not in app.extensions:
        # configure_jinja=False: the host's Jinja environment gets no i18n
        # extension or filters it did not ask for; our templates use our globals.
        Babel(app, configure_jinja=False, locale_selector=best_language)
    app.jinja_env.globals.update(pl_gettext=template_gettext, pl_ngettext=template_ngettext)
    app.jinja_env.filters.update(
        pl_date=format_date, pl_datetime=format_datetime, pl_list=format_list
    )


def we_select(app: Flask | None = None) -> bool:
    """Is the language ours to choose from Accept-Language (no host selector)?"""
    babel = (app or current_app).extensions.get("babel")
    return babel is not None and babel.locale_selector is best_language


def current_locale() -> Locale:
    """The language of this page or message (the source language outside any app)."""
    return (get_locale() if has_app_context() else None) or parse(SOURCE_LANGUAGE)


def text_direction(locale: Locale | None = None) -> str:
    """``rtl`` or ``ltr``, for ``<html dir>``."""
    order = (locale or current_locale()).character_order
    return "rtl" if order == "right-to-left" else "ltr"


def page_language() -> dict[str, str]:
    """What a layout needs for ``<html lang="..." dir="...">``."""
    locale = current_locale()
    return {"passwordless_lang": tag(locale), "passwordless_dir": text_direction(locale)}


@contextmanager
def language_for(user: Any) -> Iterator[None]:
    """The language of a message to ``user``.

    In a request, the request's: the message is written for whoever caused it,
    and before sign-in the user record must not change anything (enumeration).
    Outside one (a CLI command, a task), ``UserAdapter.locale(user)``, else the
    default.
    """
    chosen = None
    if not has_request_context() and user is not None:
        chosen = state().adapter.locale(user)
    if not chosen:
        yield
        return
    with force_locale(str(parse(chosen))):
        yield


@pass_eval_context
def template_gettext(eval_ctx: Any, string: str, **variables: Any) -> str:
    """``pl_gettext("Hello %(name)s", name=...)`` in our templates: our domain
    whatever the host's Jinja environment has, values escaped in HTML."""
    text = domain.get_translations().ugettext(string)
    return _fill(eval_ctx, text, variables)


@pass_eval_context
def template_ngettext(eval_ctx: Any, singular: str, plural: str, num: int, **variables: Any) -> str:
    """``pl_ngettext("%(num)d minute", "%(num)d minutes", n)``: the language's plural form."""
    text = domain.get_translations().ungettext(singular, plural, num)
    return _fill(eval_ctx, text, {"num": num, **variables})


def _fill(eval_ctx: Any, text: str, variables: dict[str, Any]) -> str:
    if eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - catalogues are ours or the host's, like templates
    return text % variables if variables else text


def wtforms_translations() -> Any:
    """WTForms' own messages in the reader's language, for our forms' ``Meta``:
    each language's catalogue is read from disk once per process (Flask-WTF
    reads it again on every request). None (the English source) when
    ``WTF_I18N_ENABLED`` is off or there is no Babel."""
    if not current_app.config.get("WTF_I18N_ENABLED", True):
        return None
    if "babel" not in current_app.extensions:
        return None
    return _wtforms_catalogue(current_locale())


@lru_cache(maxsize=64)
def _wtforms_catalogue(locale: Locale) -> Any:
    from wtforms.i18n import messages_path

    return Translations.load(messages_path(), [locale], domain="wtforms")


def _aware(moment: datetime) -> datetime:
    """Our tables keep naive UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_date(moment: datetime) -> str:
    """A day in the reader's form: ``Dec 1, 2026``, ``01.12.2026``, ``2026/12/01``."""
    return dates.format_date(_aware(moment), "medium", locale=current_locale())


def format_datetime(moment: datetime) -> str:
    """A day and a minute, in UTC and saying so: ``Dec 1, 2026, 11:42 AM UTC``."""
    locale = current_locale()
    moment = _aware(moment)
    time_pattern, utc, frame = _datetime_patterns(locale)
    time = dates.format_time(moment, time_pattern, tzinfo=timezone.utc, locale=locale)
    day = dates.format_date(moment, "medium", locale=locale)
    return frame.replace("{1}", day).replace("{0}", f"{time} {utc}")


@lru_cache(maxsize=64)
def _datetime_patterns(locale: Locale) -> tuple[str, str, str]:
    """A language's short time pattern, its name for UTC (Babel looks it up slowly,
    and it never changes) and its frame for a day and a time."""
    utc = dates.format_time(datetime(2000, 1, 1, tzinfo=timezone.utc), "z", locale=locale)
    frame = str(locale.datetime_formats["medium"]).replace("'", "")
    return locale.time_formats["short"].pattern, utc, frame


def format_list(items: Any, style: Literal["standard", "or"] = "standard") -> str:
    """``Password and Text message``, ``Passwort und SMS``: the language's own "and"
    (``style="or"``: its "or")."""
    return lists.format_list([str(item) for item in items], style=style, locale=current_locale())
