"""The callback calendar (S5): China's public holidays and make-up working days from the
``holidays`` package, the admin's override file on top, and the rules that use them."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr_agent.callbacks import CalendarError, callback_config
from ivr_agent.callbacks.calendar import working_dates
from ivr_agent.core.callbacks import next_allowed, schedule
from ivr_agent.settings import load_settings

SH = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 3)


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def _working(first: date, last: date) -> list[bool]:
    config = callback_config(load_settings(), today=TODAY)  # IVR_AGENT_HOLIDAYS=CN
    return [config.is_working_day(day) for day in sorted(_days(first, last))]


def test_given_china_then_the_2026_spring_festival_is_9_days_off_between_two_worked_saturdays() -> (
    None
):
    # Saturday 14 February worked; Sunday 15 to Monday 23 off; Saturday 28 worked.
    assert _working(date(2026, 2, 14), date(2026, 2, 24)) == [True] + [False] * 9 + [True]
    assert _working(date(2026, 2, 28), date(2026, 2, 28)) == [True]
    dates = working_dates("CN", None, TODAY)
    assert {date(2026, 2, 14), date(2026, 2, 28)} <= dates.on


def test_given_china_then_the_2026_national_day_week_and_its_make_up_days() -> None:
    assert _working(date(2026, 9, 20), date(2026, 9, 20)) == [True]  # a Sunday worked
    assert _working(date(2026, 10, 1), date(2026, 10, 8)) == [False] * 7 + [True]
    assert _working(date(2026, 10, 10), date(2026, 10, 10)) == [True]  # a Saturday worked


def _override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    return path


#: The 2027 arrangement as an admin types it from the State Council's notice; the file wins
#: over whatever the installed package guesses for a year it has no notice for.
ANNOUNCED_2027 = """
# Spring Festival: 9 days, Saturday 20 February worked
off = ["2027-02-06..2027-02-14", "2027-10-01..2027-10-07"]
on = [2027-02-20, 2027-09-26, 2027-10-09]
"""


def test_given_the_2027_notice_in_the_override_file_then_it_wins(tmp_path: Path) -> None:
    dates = working_dates("CN", _override(tmp_path, ANNOUNCED_2027), TODAY)
    assert _days(date(2027, 2, 6), date(2027, 2, 14)) <= dates.off
    assert _days(date(2027, 10, 1), date(2027, 10, 7)) <= dates.off
    assert {date(2027, 2, 20), date(2027, 9, 26), date(2027, 10, 9)} <= dates.on


def test_given_2027_then_callbacks_wait_out_the_spring_festival_and_use_the_make_up_day(
    tmp_path: Path,
) -> None:
    settings = load_settings(holidays_file=_override(tmp_path, ANNOUNCED_2027))
    config = callback_config(settings, today=TODAY)
    friday = datetime(2027, 2, 5, 18, 0, tzinfo=SH)
    assert next_allowed(friday, config.windows, config) == datetime(2027, 2, 15, 10, 30, tzinfo=SH)
    saturday = datetime(2027, 2, 20, 9, 0, tzinfo=SH)
    assert next_allowed(saturday, config.windows, config) == datetime(
        2027, 2, 20, 10, 30, tzinfo=SH
    )
    # National Day: a service completed on 30 September at 17:00 has 1 h that day, the
    # rest after the week off.
    plan = schedule(
        "service_completed",
        datetime(2027, 9, 30, 17, 0, tzinfo=SH),
        datetime(2027, 9, 30, 17, 0, tzinfo=SH),
        config,
    )
    assert plan.deadline == datetime(2027, 10, 8, 11, 0, tzinfo=SH)


def test_given_the_override_file_then_a_holiday_can_be_worked_and_a_workday_taken_off(
    tmp_path: Path,
) -> None:
    path = _override(tmp_path, "on = [2026-10-08]\noff = [2026-12-24]\n")
    dates = working_dates("CN", path, TODAY)
    assert date(2026, 10, 8) in dates.on
    assert date(2026, 10, 8) not in dates.off
    assert date(2026, 12, 24) in dates.off


def test_given_no_country_then_only_the_override_file_counts(tmp_path: Path) -> None:
    assert working_dates("", None, TODAY).off == frozenset()
    dates = working_dates("", _override(tmp_path, 'off = ["2026-12-24..2026-12-26"]'), TODAY)
    assert dates.off == _days(date(2026, 12, 24), date(2026, 12, 26))


def test_given_an_edited_override_file_then_it_is_read_again(tmp_path: Path) -> None:
    path = _override(tmp_path, "off = [2026-12-24]\n")
    assert date(2026, 12, 24) in working_dates("", path, TODAY).off
    path.write_text("off = [2026-12-25]\n", encoding="utf-8")
    later = path.stat().st_mtime_ns + 1_000_000  # a coarse file-system clock aside
    os.utime(path, ns=(later, later))
    assert working_dates("", path, TODAY).off == {date(2026, 12, 25)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("off = [", "not TOML"),
        ("holiday = [2026-12-24]", "unknown key(s) holiday (only off and on)"),
        ('off = "2026-12-24"', "off must be a list of dates"),
        ("off = [20261224]", "is neither a date"),
        ('off = ["24/12/2026"]', "is not a date or a range"),
        ('off = ["2026-12-26..2026-12-24"]', "must run forward"),
        ("off = [2026-12-24]\non = [2026-12-24]", "2026-12-24 is both off and on"),
        ("off = [2026-12-24T09:00:00]", "is neither a date"),
    ],
)
def test_given_a_bad_override_file_then_the_error_names_the_file_and_the_fault(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _override(tmp_path, text)
    with pytest.raises(CalendarError, match="IVR_AGENT_HOLIDAYS_FILE") as caught:
        working_dates("CN", path, TODAY)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_given_a_missing_override_file_or_an_unknown_country_then_a_clear_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(CalendarError, match="cannot read"):
        working_dates("CN", tmp_path / "nope.toml", TODAY)
    with pytest.raises(CalendarError, match="'XX' is not a country the holidays package knows"):
        working_dates("XX", None, TODAY)


def test_given_a_bad_country_setting_then_settings_refuse_it() -> None:
    with pytest.raises(ValueError, match="IVR_AGENT_HOLIDAYS"):
        load_settings(holidays="china")


def test_given_the_file_edited_into_a_wrong_one_while_running_then_the_last_dates_stay(
    tmp_path: Path,
) -> None:
    path = _override(tmp_path, "off = [2026-12-24]\n")
    assert working_dates("", path, TODAY).off == {date(2026, 12, 24)}
    path.write_text("off = [2026-12-2", encoding="utf-8")  # saved half-way
    later = path.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(later, later))
    assert working_dates("", path, TODAY).off == {date(2026, 12, 24)}
    # A file wrong from the start has nothing to keep: the error goes up.
    fresh = tmp_path / "other.toml"
    fresh.write_text("off = [2026-12-2", encoding="utf-8")
    with pytest.raises(CalendarError, match="not TOML"):
        working_dates("", fresh, TODAY)
