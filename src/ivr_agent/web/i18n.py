"""The pages' languages: which one a request gets, its translations, and its formats.

The pages are written in English (the catalogues' source, ``en-US``) and translated through
Babel message catalogues: ``web/locale/<ll_CC>/LC_MESSAGES/messages.po`` is the source a
translator edits, the ``.mo`` beside it is what the package loads (compiled and committed;
``tests/unit/test_web_i18n.py`` fails when a ``.mo`` is stale or a text is untranslated).
To change a text::

    pybabel extract -F babel.cfg -o /tmp/messages.pot src/ivr_agent
    pybabel update --no-location --width=100 -i /tmp/messages.pot -d src/ivr_agent/web/locale
    # translate the new (and fuzzy) entries of each messages.po, then
    pybabel compile -d src/ivr_agent/web/locale

Which language: the setting ``IVR_AGENT_UI_LANGUAGES`` (default ``zh-CN,en-US``) lists those
offered; the browser's ``Accept-Language`` picks among them (its most preferred tag that one
of them matches, exactly or by language: ``zh-TW`` and ``zh`` get ``zh-CN``, ``en-GB`` gets
``en-US``), and a browser that names none of them gets the first. One language alone fixes
the pages' language whatever the browser asks.

Names the core defines once (breach labels, figure labels, survey indices) are English texts
marked with ``core.texts.N_``; the pages translate them with :meth:`PageLocale.gettext`.
Dates and numbers are formatted by Babel in the page's locale.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from ivr_agent.platform.keys import SETTINGS
from ivr_agent.setting_types import UI_LANGUAGES

#: The language the pages are written in: its texts are the catalogues' message ids.
SOURCE_LANGUAGE = UI_LANGUAGES[0]
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
#: Shown where there is nothing to show (no value, nothing to divide).
DASH = "—"
#: An ``Accept-Language`` longer than this is read only this far (no browser sends more).
MAX_ACCEPT_LANGUAGE = 512


class MissingCatalogue(RuntimeError):
    """A language the pages offer has no compiled catalogue in the package."""


def catalogue_path(language: str) -> Path:
    """Where the compiled catalogue of ``language`` (``zh-CN``) lives in the package."""
    return LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _translations(language: str) -> NullTranslations:
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    path = catalogue_path(language)
    try:
        with path.open("rb") as file:
            return Translations(file, domain=DOMAIN)
    except FileNotFoundError:
        raise MissingCatalogue(
            f"no catalogue for {language} at {path}: run pybabel compile (see ivr_agent.web.i18n)"
        ) from None


@dataclass(frozen=True)
class PageLocale:
    """One language of the pages: its tag (``<html lang>``), translations and formats.

    Every format shows :data:`DASH` for ``None``.
    """

    tag: str
    locale: Locale
    translations: NullTranslations

    def gettext(self, message: str) -> str:
        """``message`` (an English text of the pages or of the core) in this language."""
        return self.translations.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        """``message`` in this language, where ``context`` tells it from the same English."""
        return str(self.translations.pgettext(context, message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form of ``singular``/``plural`` for ``n`` in this language."""
        return self.translations.ngettext(singular, plural, n)

    def count(self, value: int | None) -> str:
        """A count (``1,234``)."""
        return DASH if value is None else format_decimal(value, locale=self.locale)

    def decimal(self, value: float | None, digits: int = 1) -> str:
        """A number with ``digits`` decimals (``4.2``)."""
        if value is None:
            return DASH
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        return format_decimal(value, pattern, locale=self.locale)

    def percent(self, value: float | None) -> str:
        """A fraction as a percentage with one decimal (``0.6`` → ``60.0%``)."""
        if value is None:
            return DASH
        return format_percent(value, "#,##0.0%", locale=self.locale)

    def whole_percent(self, value: float) -> str:
        """A fraction as a whole percentage (``0.5`` → ``50%``), for axes."""
        return format_percent(value, "#,##0%", locale=self.locale)

    def seconds(self, value: float | None, *, signed: bool = False) -> str:
        """Seconds with one decimal and their unit (``12.5 s``, ``12.5 秒``); ``signed``
        writes ``+`` before a positive value (an offset)."""
        if value is None:
            return DASH
        pattern = "+#,##0.0;-#,##0.0" if signed else "#,##0.0"
        number = format_decimal(value, pattern, locale=self.locale)
        return self.gettext("%(seconds)s s") % {"seconds": number}

    def date_time(self, moment: datetime | None, zone: ZoneInfo) -> str:
        """A date and time of day in ``zone`` (the locale's medium format)."""
        if moment is None:
            return DASH
        return format_datetime(moment, "medium", tzinfo=zone, locale=self.locale)

    def date_time_short(self, moment: datetime, zone: ZoneInfo) -> str:
        """A date and time to the minute in ``zone`` (the locale's short format)."""
        return format_datetime(moment, "short", tzinfo=zone, locale=self.locale)

    def time_of_day(self, moment: datetime, zone: ZoneInfo, *, milliseconds: bool = False) -> str:
        """The time of day in ``zone``; with ``milliseconds``, 24-hour ``HH:mm:ss.SSS``."""
        if milliseconds:
            return format_time(moment, "HH:mm:ss.SSS", tzinfo=zone, locale=self.locale)
        return format_time(moment, "medium", tzinfo=zone, locale=self.locale)

    def day(self, day: date) -> str:
        """A day written out in full (``2025年11月23日星期日``)."""
        return format_date(day, "full", locale=self.locale)


@functools.cache
def page_locale(language: str) -> PageLocale:
    """The pages' locale of ``language`` (one of :data:`~ivr_agent.setting_types.UI_LANGUAGES`).

    :class:`MissingCatalogue` when its compiled catalogue is not in the package.
    """
    if language not in UI_LANGUAGES:
        raise ValueError(f"{language!r}: the pages speak {', '.join(UI_LANGUAGES)}")
    return PageLocale(language, Locale.parse(language, sep="-"), _translations(language))


def _preferences(accept_language: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most preferred first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, parameters = part.partition(";")
        tag = tag.strip().lower()
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and 0.0 < quality <= 1.0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | None, offered: Sequence[str]) -> str:
    """The language of ``offered`` the browser prefers, by its ``Accept-Language``: its
    most preferred tag that matches one exactly, or by language (``zh-TW`` → ``zh-CN``);
    ``*``, no header or no match: the first of ``offered``."""
    for tag in _preferences(accept_language or ""):
        if tag == "*":
            break
        for language in offered:
            if language.lower() == tag:
                return language
        primary = tag.split("-")[0]
        for language in offered:
            if language.lower().split("-")[0] == primary:
                return language
    return offered[0]


def request_locale(request: web.Request) -> PageLocale:
    """The locale of the page ``request`` asks for: the settings' ``ui_languages`` as the
    browser's ``Accept-Language`` chooses among them."""
    offered = request.app[SETTINGS].ui_languages
    return page_locale(negotiate(request.headers.get("Accept-Language"), offered))
