"""The working-day calendar of callbacks (S5): public holidays off, make-up working days on.

The rules (``ivr_agent.core.callbacks``) only look dates up; this module finds them:

* the national calendar of ``IVR_AGENT_HOLIDAYS`` (a country code, ``CN`` by default) from
  the ``holidays`` package: for China its public holidays with their days off in lieu, and
  the weekend days worked instead (调休, ``weekend_workdays``), as the State Council sets
  them each year;
* then the admin's override file ``IVR_AGENT_HOLIDAYS_FILE`` (TOML), which wins over the
  package: a year whose arrangement the installed package does not carry yet (the State
  Council publishes it in November or December), a local holiday, a day the centre works::

      # 2027 as announced (example)
      off = [2027-02-06, "2027-02-08..2027-02-12"]   # dates, or first..last ranges
      on = [2027-02-20]

A file edited into a wrong one while the agent runs is refused with a warning in the log and
the dates last read stay in force; at start a wrong file (or country) stops the agent.

Dates are taken for the years around today (:data:`YEARS_BACK`, :data:`YEARS_AHEAD`); an
agent is expected to restart (upgrade) more often than that.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import holidays

from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.platform.logging import get_logger
from ivr_agent.settings import Settings

log = get_logger(__name__)

YEARS_BACK = 1
YEARS_AHEAD = 3
#: A range in the override file longer than this is a typo, not a holiday.
MAX_RANGE_DAYS = 366


#: The last override read without fault, per file, and the fault reported since.
_last_good: dict[Path, WorkingDates] = {}
_last_error: dict[Path, str] = {}


class CalendarError(ValueError):
    """The holiday settings or the override file are wrong; the message names what."""


@dataclass(frozen=True)
class WorkingDates:
    """Dates that break the weekly pattern of working days."""

    off: frozenset[date]
    on: frozenset[date]


def callback_config(settings: Settings, *, today: date | None = None) -> CallbackConfig:
    """The callback rules' config with the calendar's dates (see the module docstring).

    Raises :class:`CalendarError` for an unknown country or a bad override file.
    """
    dates = working_dates(settings.holidays, settings.holidays_file, today or date.today())
    return CallbackConfig.from_settings(settings, days_off=dates.off, days_on=dates.on)


def working_dates(country: str, override: Path | None, today: date) -> WorkingDates:
    """The national calendar's dates, then the override file's on top."""
    years = tuple(range(today.year - YEARS_BACK, today.year + YEARS_AHEAD + 1))
    national = _national(country, years) if country else WorkingDates(frozenset(), frozenset())
    if override is None:
        return national
    try:
        extra = _override(override, _modified(override))
    except CalendarError as exc:
        # Edited into a wrong file while running: keep the dates last read, say so once.
        last = _last_good.get(override)
        if last is None:
            raise
        if _last_error.get(override) != str(exc):
            _last_error[override] = str(exc)
            log.warning("holidays_file_wrong_keeping_last", error=str(exc))
        extra = last
    else:
        _last_good[override] = extra
        _last_error.pop(override, None)
    return WorkingDates(
        off=(national.off - extra.on) | extra.off,
        on=(national.on - extra.off) | extra.on,
    )


@functools.lru_cache(maxsize=8)
def _national(country: str, years: tuple[int, ...]) -> WorkingDates:
    try:
        calendar = holidays.country_holidays(country, years=years)
    except NotImplementedError:
        raise CalendarError(
            f"IVR_AGENT_HOLIDAYS: {country!r} is not a country the holidays package knows "
            "(an ISO 3166 code such as CN, HK, TW; empty for no public holidays)"
        ) from None
    worked: set[date] = set(getattr(calendar, "weekend_workdays", ()))
    return WorkingDates(off=frozenset(calendar.keys()), on=frozenset(worked))


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as exc:
        raise CalendarError(f"IVR_AGENT_HOLIDAYS_FILE: cannot read {path}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _override(path: Path, _modified_ns: int) -> WorkingDates:
    # Cached by path and modification time: callers build a config per request, and an
    # edited file is read again.
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"IVR_AGENT_HOLIDAYS_FILE: cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"IVR_AGENT_HOLIDAYS_FILE {path}: not TOML: {exc}") from None
    unknown = set(data) - {"off", "on"}
    if unknown:
        raise CalendarError(
            f"IVR_AGENT_HOLIDAYS_FILE {path}: unknown key(s) {', '.join(sorted(unknown))} "
            "(only off and on)"
        )
    off = _dates(path, "off", data.get("off", []))
    on = _dates(path, "on", data.get("on", []))
    both = off & on
    if both:
        raise CalendarError(
            f"IVR_AGENT_HOLIDAYS_FILE {path}: {min(both)} is both off and on "
            f"({len(both)} date(s) in both lists)"
        )
    return WorkingDates(off=off, on=on)


def _dates(path: Path, key: str, values: Any) -> frozenset[date]:
    where = f"IVR_AGENT_HOLIDAYS_FILE {path}: {key}"
    if not isinstance(values, list):
        raise CalendarError(f"{where} must be a list of dates")
    found: set[date] = set()
    for value in values:
        if isinstance(value, date) and not hasattr(value, "hour"):
            found.add(value)
        elif isinstance(value, str):
            found.update(_range(where, value))
        else:
            raise CalendarError(
                f"{where}: {value!r} is neither a date (2027-02-06) nor a range "
                '("2027-02-06..2027-02-12")'
            )
    return frozenset(found)


def _range(where: str, text: str) -> list[date]:
    first_text, dots, last_text = text.partition("..")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if dots else first
    except ValueError:
        raise CalendarError(
            f'{where}: {text!r} is not a date or a range like "2027-02-06..2027-02-12"'
        ) from None
    days = (last - first).days
    if not 0 <= days < MAX_RANGE_DAYS:
        raise CalendarError(
            f"{where}: range {text!r} must run forward and span less than {MAX_RANGE_DAYS} days"
        )
    return [first + timedelta(days=n) for n in range(days + 1)]
