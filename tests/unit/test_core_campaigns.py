"""The pure rules of regular campaigns: days, runs, customer lists, the campaign schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.core.callbacks import (
    CallbackConfig,
    CallbackState,
    Window,
    next_state,
    schedule,
)
from ivr_agent.core.campaigns import (
    MAX_ROW_ERRORS,
    Customer,
    CustomerListError,
    RunCounts,
    campaign_figures,
    check_campaign_name,
    customer_list,
    latest_run_date,
    next_run_after,
    normalise_number,
    parse_days,
    parse_windows,
    run_dates_in_month,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = CallbackConfig()


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def midnight(day: date) -> datetime:
    return local(day, 0)


# ------------------------------------------------------------------ days and runs --


def test_given_days_as_text_or_list_then_sorted_once_each_and_bad_ones_named() -> None:
    assert parse_days("15, 1,15") == (1, 15)
    assert parse_days([31, 1]) == (1, 31)
    for bad in ("", "0", "32", "1;15", "a", "1.5"):
        with pytest.raises(ValueError, match="day"):
            parse_days(bad)


def test_given_days_past_a_months_end_then_they_run_on_its_last_day_once() -> None:
    assert run_dates_in_month((1, 15, 31), 2027, 4) == [
        date(2027, 4, 1),
        date(2027, 4, 15),
        date(2027, 4, 30),
    ]
    assert run_dates_in_month((30, 31), 2027, 2) == [date(2027, 2, 28)]
    assert run_dates_in_month((29,), 2028, 2) == [date(2028, 2, 29)]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        # On a run day: that day's run (an agent started later that day catches up).
        (date(2027, 3, 15), date(2027, 3, 15)),
        # The day after a run day the agent missed entirely: that run, late.
        (date(2027, 3, 16), date(2027, 3, 15)),
        # Early in a month: the previous month's last run, never an older one.
        (date(2027, 4, 1), date(2027, 4, 1)),
        (date(2027, 3, 3), date(2027, 3, 1)),
    ],
)
def test_given_today_then_the_latest_run_day_is_the_one_to_create(
    today: date, expected: date
) -> None:
    assert latest_run_date((1, 15), today, first_day=date(2027, 1, 1)) == expected


def test_given_a_campaign_created_after_its_latest_run_day_then_no_run_until_the_next() -> None:
    created = date(2027, 3, 10)
    assert latest_run_date((1, 15), date(2027, 3, 10), first_day=created) is None
    assert latest_run_date((1, 15), date(2027, 3, 15), first_day=created) == date(2027, 3, 15)
    assert next_run_after((1, 15), date(2027, 3, 10)) == date(2027, 3, 15)
    assert next_run_after((1, 15), date(2027, 12, 20)) == date(2028, 1, 1)


@given(
    st.sets(st.integers(1, 31), min_size=1, max_size=5),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2031, 12, 31)),
)
def test_the_latest_run_day_is_a_run_day_and_no_later_one_precedes_today(
    days: set[int], today: date
) -> None:
    found = latest_run_date(days, today, first_day=date(2024, 1, 1))
    assert found is not None
    assert found <= today
    assert found in run_dates_in_month(days, found.year, found.month)
    # No run day lies between it and today.
    assert next_run_after(days, found) > today


# ----------------------------------------------------------------- customer lists --


def test_given_numbers_as_people_write_them_then_they_are_normalised() -> None:
    assert normalise_number("138-0013-8000") == "13800138000"
    assert normalise_number(" (010) 1234 5678 ") == "01012345678"
    assert normalise_number("＋８６１３８００１３８０００") == "+8613800138000"  # full-width
    assert normalise_number(13800138000) == "13800138000"
    assert normalise_number(13800138000.0) == "13800138000"
    for bad, problem in (
        ("", "missing"),
        (None, "missing"),
        ("1234", "5 to 20"),
        ("abc12345", "digits"),
    ):
        with pytest.raises(ValueError, match=problem):
            normalise_number(bad)


def test_given_duplicate_numbers_then_one_customer_each_first_name_wins() -> None:
    rows = [
        (2, {"number": "13800138000", "name": "张三"}),
        (3, {"number": "138 0013 8000", "name": "张三丰"}),
        (4, {"number": "13900139000", "name": None}),
        (5, {"number": "13900139000", "name": "李四"}),
    ]
    assert customer_list(rows) == [
        Customer("13800138000", "张三"),
        Customer("13900139000", "李四"),
    ]


def test_given_bad_rows_then_every_one_is_named_up_to_the_cap_and_the_rest_counted() -> None:
    rows = [(n, {"number": "12", "name": None}) for n in range(2, 2 + MAX_ROW_ERRORS + 5)]
    rows.insert(0, (1, {"number": "13800138000", "name": "ok"}))
    with pytest.raises(CustomerListError) as caught:
        customer_list(rows)
    error = caught.value
    assert error.total == MAX_ROW_ERRORS + 5
    assert [r.row for r in error.rows] == list(range(2, 2 + MAX_ROW_ERRORS))
    assert "row 2: must have 5 to 20 digits (has 2)" in str(error)
    assert "and 5 more bad rows" in str(error)


def test_given_a_bad_name_or_no_customer_then_the_list_is_refused() -> None:
    with pytest.raises(CustomerListError, match="row 7: must not contain control"):
        customer_list([(7, {"number": "13800138000", "name": "a\nb"})])
    with pytest.raises(CustomerListError, match="no customers"):
        customer_list([])


def test_given_campaign_names_then_blank_and_control_characters_are_refused() -> None:
    assert check_campaign_name(" 每月回访 ") == "每月回访"
    for bad in ("", "  ", "a\tb", 5):
        with pytest.raises(ValueError, match="must"):
            check_campaign_name(bad)


# --------------------------------------------------------- the campaign schedule --

# A Monday; the 1st and the 15th of March 2027 are a Monday and a Monday.
RUN_DAY = date(2027, 3, 1)


def test_given_a_run_then_due_at_the_first_window_with_the_day_for_retries() -> None:
    plan = schedule("campaign", midnight(RUN_DAY), local(RUN_DAY, 0, 1), CONFIG)
    assert plan.due_at == local(RUN_DAY, 10, 30)
    assert plan.deadline == local(RUN_DAY, 17, 30)  # the end of the day's last window
    assert not plan.overdue


def test_given_a_run_created_late_in_the_day_then_retries_reach_the_next_working_day() -> None:
    plan = schedule("campaign", midnight(RUN_DAY), local(RUN_DAY, 17, 20), CONFIG)
    assert plan.due_at == local(RUN_DAY, 17, 20)
    # Three attempts need room past 17:30: the worst case ends in the next day's windows.
    assert plan.deadline > local(RUN_DAY, 17, 30)
    assert plan.deadline.astimezone(SHANGHAI).date() == RUN_DAY + timedelta(days=1)
    assert not plan.overdue


def test_given_a_run_day_off_then_it_is_dialled_the_next_working_day() -> None:
    saturday = date(2027, 5, 15)
    plan = schedule("campaign", midnight(saturday), midnight(saturday), CONFIG)
    assert plan.due_at == local(date(2027, 5, 17), 10, 30)
    assert plan.deadline == local(date(2027, 5, 17), 17, 30)
    holiday = replace(CONFIG, days_off=frozenset({date(2027, 5, 17)}))
    assert schedule("campaign", midnight(saturday), midnight(saturday), holiday).due_at == local(
        date(2027, 5, 18), 10, 30
    )


def test_given_own_windows_then_due_retried_and_ended_inside_them() -> None:
    own = parse_windows("09:00-10:00, 19:00-20:00")
    plan = schedule("campaign", midnight(RUN_DAY), midnight(RUN_DAY), CONFIG, windows=own)
    assert plan.due_at == local(RUN_DAY, 9)
    assert plan.deadline == local(RUN_DAY, 20)
    state = CallbackState("campaign", plan.deadline, windows=own)
    after = next_state(
        state,
        "no_answer",
        started_at=local(RUN_DAY, 9, 50),
        ended_at=local(RUN_DAY, 9, 51),
        config=CONFIG,
    )
    # The retry interval ends at 10:21, past the campaign's morning window: its evening one
    # (the settings' 10:30 window does not apply to this callback).
    assert after.next_attempt_at == local(RUN_DAY, 19)
    assert CONFIG.allowed_windows("campaign", own) == own
    assert CONFIG.allowed_windows("campaign") == CONFIG.windows


def test_given_windows_text_then_parsed_or_refused_with_the_reason() -> None:
    assert parse_windows("10:30-11:30,15:00-17:30") == CONFIG.windows
    assert parse_windows("22:00-02:00") == (Window(time(22), time(2)),)
    for bad in ("10:30", "25:00-26:00", "10:00-10:00", ""):
        with pytest.raises(ValueError, match="window"):
            parse_windows(bad)


# ------------------------------------------------------------------------ figures --


def test_given_run_counts_then_figures_state_their_formulas_and_totals_add_up() -> None:
    first = RunCounts(
        callbacks=4, completed=2, declined=1, open=1, satisfaction_sum=8.4, satisfaction_scored=2
    )
    second = RunCounts(callbacks=4, unreachable=3, cancelled=1, overdue=2)
    total = first + second
    assert total == RunCounts(
        callbacks=8,
        completed=2,
        declined=1,
        unreachable=3,
        cancelled=1,
        open=1,
        overdue=2,
        satisfaction_sum=8.4,
        satisfaction_scored=2,
    )
    figures = campaign_figures(4, total, "all runs")
    assert figures["customers"]["value"] == 4
    assert figures["completion_rate"] == {
        "value": 0.25,
        "formula": "completed / callbacks = 2 / 8",
    }
    assert figures["satisfaction_index"]["value"] == 4.2
    assert "8.4 / 2" in figures["satisfaction_index"]["formula"]
    assert campaign_figures(0, RunCounts(), "the run")["completion_rate"]["value"] is None
    assert all(f["formula"] for f in figures.values())
