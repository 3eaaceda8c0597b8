"""Report periods in the call centre's zone: weeks from Monday, calendar months, local days
across daylight-saving changes, the last closed period and the catch-up horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr_agent.reports import PeriodKind, containing, last_closed
from ivr_agent.reports.periods import closed_since

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("kind", "day", "first", "after", "label"),
    [
        (PeriodKind.DAY, date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 24), "2026-11-23"),
        # 2026-11-26 is a Thursday: its week runs Monday 23rd to Sunday 29th.
        (PeriodKind.WEEK, date(2026, 11, 26), date(2026, 11, 23), date(2026, 11, 30), "2026-W48"),
        (PeriodKind.WEEK, date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 30), "2026-W48"),
        (PeriodKind.MONTH, date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
        (PeriodKind.MONTH, date(2026, 2, 10), date(2026, 2, 1), date(2026, 3, 1), "2026-02"),
    ],
)
def test_given_a_date_then_its_period_runs_between_local_midnights(
    kind: PeriodKind, day: date, first: date, after: date, label: str
) -> None:
    period = containing(kind, day, SHANGHAI)
    assert period.start == datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    assert period.end == datetime(after.year, after.month, after.day, tzinfo=SHANGHAI)
    assert period.label == label


def test_given_a_daylight_saving_change_then_the_local_day_lasts_23_hours() -> None:
    period = containing(PeriodKind.DAY, date(2026, 3, 29), BERLIN)
    # Subtracting two times of one zone gives wall-clock time: compare the instants.
    assert period.end.astimezone(UTC) - period.start.astimezone(UTC) == timedelta(hours=23)
    assert period.end.astimezone(BERLIN).hour == 0


def test_given_now_then_the_last_closed_period_is_the_one_before_the_current() -> None:
    now = datetime(2026, 12, 1, 0, 0, 30, tzinfo=SHANGHAI)
    assert last_closed(PeriodKind.DAY, now, SHANGHAI).label == "2026-11-30"
    assert last_closed(PeriodKind.WEEK, now, SHANGHAI).label == "2026-W48"
    assert last_closed(PeriodKind.MONTH, now, SHANGHAI).label == "2026-11"
    # 23:59:59 in Shanghai, given in UTC: the local day has not closed yet.
    late = datetime(2026, 11, 30, 15, 59, 59, tzinfo=ZoneInfo("UTC"))  # 23:59:59 local
    assert last_closed(PeriodKind.DAY, late, SHANGHAI).label == "2026-11-29"


def test_given_a_horizon_then_every_closed_period_since_is_listed_oldest_first() -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    days = closed_since(PeriodKind.DAY, now, SHANGHAI, date(2026, 11, 28))
    assert [p.label for p in days] == [
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
    ]
    weeks = closed_since(PeriodKind.WEEK, now, SHANGHAI, date(2026, 11, 28))
    assert [p.label for p in weeks] == ["2026-W48"]  # ends Sunday the 29th
    assert closed_since(PeriodKind.DAY, now, SHANGHAI, date(2026, 12, 2)) == []


def test_given_a_bad_date_then_the_report_command_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ivr_agent.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "report",
                "--period",
                "day",
                "--date",
                "23/11/2026",
                "--format",
                "xlsx",
                "--output",
                "x.xlsx",
            ]
        )
    assert exit_info.value.code == 2
    assert "argument --date: not an ISO 8601 date" in capsys.readouterr().err
