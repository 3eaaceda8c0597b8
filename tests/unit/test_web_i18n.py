"""The pages' languages: every text the code and templates mark is translated in zh-CN (no
English left on a Chinese page), the compiled catalogue in the package is the one its
``.po`` gives, the names the core defines once are translated, and a browser's
``Accept-Language`` picks among the offered languages."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ivr_agent.core.breaches import BREACH_LABELS, BREACHES
from ivr_agent.core.complaints import STATE_LABELS
from ivr_agent.core.figures import (
    FIGURE_LABELS,
    CallbackCounts,
    ComplaintCounts,
    Counts,
    FigureSettings,
    complaint_figures,
)
from ivr_agent.core.figures import callback_figures as callback_figures_of
from ivr_agent.core.figures import figures as figures_of
from ivr_agent.core.follow_up_figures import FollowUpCounts, follow_up_figures
from ivr_agent.core.outcome import CALL_KIND_LABELS, DIRECTION_LABELS, SILENCE_LABELS
from ivr_agent.core.satisfaction import INDEX_LABELS, INDICES
from ivr_agent.setting_types import UI_LANGUAGES
from ivr_agent.web.i18n import SOURCE_LANGUAGE, catalogue_path, negotiate, page_locale

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ivr_agent"
TRANSLATED = [language for language in UI_LANGUAGES if language != SOURCE_LANGUAGE]
#: What may stay in Latin letters on a Chinese page: names of roles, commands and formats.
LATIN_KEPT = re.compile(
    r"<code>.*?</code>|%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdf]|\b(?:API|HttpOnly|Cookie|qa|admin|"
    r"YYYY-MM-DD)\b"
)

Key = str | tuple[str, str]


def _extracted() -> set[Key]:
    """Every text the package marks for translation, as ``pybabel extract -F babel.cfg``
    finds it: msgid (a plural's singular), or (context, msgid)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keys: set[Key] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            keys.add((context, msgid) if context else msgid)
    return keys


def _catalogue(language: str) -> Catalog:
    with catalogue_path(language).with_suffix(".po").open("rb") as file:
        return read_po(file, locale=language.replace("-", "_"))


def _key(message: object) -> Key:
    msgid = message.id  # type: ignore[attr-defined]
    singular = msgid[0] if isinstance(msgid, tuple) else msgid
    context = message.context  # type: ignore[attr-defined]
    return (context, singular) if context else singular


def _strings(message: object) -> list[str]:
    string = message.string  # type: ignore[attr-defined]
    return list(string) if isinstance(string, tuple) else [string]


def test_the_source_texts_are_found_in_code_templates_and_the_core() -> None:
    found = _extracted()
    # A template text, a page module's text, a core label, a plural and a context.
    assert {"Service level per hour", "Forbidden", "long call", ("call", "Abandoned")} <= found
    assert "page %(page)s of %(pages)s · %(total)s call" in found
    assert len(found) > 150


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_text_is_translated_and_nothing_else_is_in_the_catalogue(
    language: str,
) -> None:
    catalogue = _catalogue(language)
    entries = {_key(m): m for m in catalogue if m.id}
    found = _extracted()
    missing = sorted(map(str, found - set(entries)))
    assert missing == [], f"not in {language}'s messages.po (pybabel update): {missing}"
    stale = sorted(map(str, set(entries) - found))
    assert stale == [], f"in {language}'s messages.po but no longer in the code: {stale}"
    untranslated = [
        str(k) for k, m in entries.items() if m.fuzzy or not all(s.strip() for s in _strings(m))
    ]
    assert untranslated == [], f"untranslated or fuzzy in {language}: {untranslated}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_their_placeholders_and_leave_no_english(language: str) -> None:
    catalogue = _catalogue(language)
    # Babel's own checks: the same %(name)s placeholders, of the same types.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert problems == []
    english = []
    for message in catalogue:
        for string in _strings(message) if message.id else []:
            left = LATIN_KEPT.sub("", string)
            if re.search(r"[A-Za-z]", left):
                english.append((message.id, string))
    assert english == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_in_the_package_is_the_one_its_po_gives(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue(language))
    stale = "stale: run pybabel compile -d src/ivr_agent/web/locale"
    assert catalogue_path(language).read_bytes() == compiled.getvalue(), stale


def test_the_wheel_takes_the_compiled_catalogues() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"**/*.mo"' in pyproject


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_names_the_core_defines_once_are_translated(language: str) -> None:
    t = page_locale(language)
    assert set(BREACH_LABELS) == set(BREACHES)
    assert set(INDEX_LABELS) == set(INDICES)
    settings = FigureSettings()
    names = {
        *figures_of(Counts(), settings),
        *callback_figures_of(CallbackCounts(), settings),
        *complaint_figures(ComplaintCounts(), 0, settings),
        *follow_up_figures(FollowUpCounts(), 180.0),
    }
    assert set(FIGURE_LABELS) == names
    for labels in (
        BREACH_LABELS,
        FIGURE_LABELS,
        INDEX_LABELS,
        DIRECTION_LABELS,
        CALL_KIND_LABELS,
        SILENCE_LABELS,
        STATE_LABELS,
    ):
        for english in labels.values():
            assert t.gettext(english) != english, english
    assert t.gettext(BREACH_LABELS["late_answer"]) == "接听超时"
    assert t.gettext(FIGURE_LABELS["service_level"]) == "服务水平"
    assert t.gettext(FIGURE_LABELS["answer_rate"]) == "接通率"
    assert t.gettext(FIGURE_LABELS["asa_seconds"]) == "平均应答时间"


def test_dates_and_numbers_follow_the_locale() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    moment = datetime(2025, 11, 23, 1, 4, 5, tzinfo=ZoneInfo("UTC"))
    zh, en = page_locale("zh-CN"), page_locale("en-US")
    assert zh.date_time(moment, zone) == "2025年11月23日 09:04:05"
    assert en.date_time(moment, zone) == "Nov 23, 2025, 9:04:05\u202fAM"
    assert zh.day(moment.date()) == "2025年11月23日星期日"
    assert zh.time_of_day(moment, zone, milliseconds=True) == "09:04:05.000"
    assert (zh.seconds(12.25), en.seconds(12.25)) == ("12.2 秒", "12.2 s")
    assert zh.seconds(1.5, signed=True) == "+1.5 秒"
    assert (zh.percent(0.9125), en.count(12345), zh.count(None)) == ("91.2%", "12,345", "—")


@pytest.mark.parametrize(
    ("header", "offered", "chosen"),
    [
        (None, ("zh-CN", "en-US"), "zh-CN"),
        ("", ("en-US", "zh-CN"), "en-US"),
        ("zh-CN,zh;q=0.9", ("zh-CN", "en-US"), "zh-CN"),
        ("en-US,en;q=0.9", ("zh-CN", "en-US"), "en-US"),
        ("en-GB,en;q=0.9,zh-CN;q=0.8", ("zh-CN", "en-US"), "en-US"),
        ("zh-TW", ("en-US", "zh-CN"), "zh-CN"),
        ("ZH", ("en-US", "zh-CN"), "zh-CN"),
        ("fr-FR,de;q=0.5", ("zh-CN", "en-US"), "zh-CN"),
        ("en;q=0.2,zh;q=0.8", ("en-US", "zh-CN"), "zh-CN"),
        ("en;q=0,zh;q=0.1", ("en-US", "zh-CN"), "zh-CN"),
        ("*", ("en-US", "zh-CN"), "en-US"),
        ("en-US", ("zh-CN",), "zh-CN"),
        ("en;q=nonsense,zh;q=2", ("en-US", "zh-CN"), "en-US"),
        ("en-US;q=0.5," * 1000, ("zh-CN", "en-US"), "en-US"),
    ],
)
def test_the_browser_picks_among_the_offered_languages(
    header: str | None, offered: tuple[str, ...], chosen: str
) -> None:
    assert negotiate(header, offered) == chosen


def test_given_no_compiled_catalogue_then_loading_the_language_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ivr_agent.web import i18n

    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    with pytest.raises(i18n.MissingCatalogue, match="zh-CN"):
        i18n._translations("zh-CN")
    assert i18n._translations("en-US").gettext("Sign in") == "Sign in"  # the source needs none
