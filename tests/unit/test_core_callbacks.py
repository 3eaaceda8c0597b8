"""The S5 scheduling rules, case by case: windows, midnight, zones, DST, due times, retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from ivr_agent.core.callbacks import (
    ANSWERED_OUTCOMES,
    FAILURES,
    OPEN_STATUSES,
    OUTCOMES,
    REASONS,
    STATUSES,
    CallbackConfig,
    CallbackState,
    FinalStatus,
    ScriptOutcome,
    Window,
    add_working_time,
    better_time_at,
    check_customer_name,
    is_allowed,
    local_instant,
    next_allowed,
    next_state,
    schedule,
)
from ivr_agent.core.phone import check_customer_number
from ivr_agent.core.satisfaction import satisfaction_index
from ivr_agent.db.models import ATTEMPT_OUTCOMES, CALLBACK_REASONS
from ivr_agent.settings import load_settings

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
CONFIG = CallbackConfig()
WINDOWS = CONFIG.windows


def sh(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Shanghai time in November 2026 (the 23rd is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


# --- windows -----------------------------------------------------------------------------

# (given, expected next allowed instant) with the default windows 10:30-11:30, 15:00-17:30 Mon-Fri.
DEFAULT_WINDOW_CASES = [
    (sh(23, 10, 29), sh(23, 10, 30)),  # just before the first window
    (sh(23, 10, 30), sh(23, 10, 30)),  # its opening is inside
    (sh(23, 11, 29), sh(23, 11, 29)),
    (sh(23, 11, 30), sh(23, 15, 0)),  # its end is outside: next window
    (sh(23, 17, 30), sh(24, 10, 30)),  # after the last window: next day
    (sh(27, 17, 45), sh(30, 10, 30)),  # Friday evening: Monday
    (sh(28, 11, 0), sh(30, 10, 30)),  # Saturday inside window hours: still Monday
    (sh(23, 3, 0), sh(23, 10, 30)),
]


@pytest.mark.parametrize(("given", "expected"), DEFAULT_WINDOW_CASES)
def test_given_default_windows_then_next_allowed_is_the_next_opening(
    given: datetime, expected: datetime
) -> None:
    assert next_allowed(given, WINDOWS, CONFIG) == expected
    assert is_allowed(given, WINDOWS, CONFIG) == (given == expected)


def test_given_the_same_instant_in_another_zone_then_the_answer_is_the_same_instant() -> None:
    given = sh(23, 9, 0)
    assert next_allowed(given.astimezone(UTC), WINDOWS, CONFIG) == sh(23, 10, 30)
    assert next_allowed(given.astimezone(NY), WINDOWS, CONFIG) == sh(23, 10, 30)


def test_given_a_naive_time_then_value_error() -> None:
    with pytest.raises(ValueError, match="zone"):
        next_allowed(datetime(2026, 11, 23, 10, 0), WINDOWS, CONFIG)


NIGHT = (Window(time(22, 0), time(2, 0)),)
NIGHT_CONFIG = replace(CONFIG, windows=NIGHT)

# A window crossing midnight belongs to the day it opens on (working days Mon-Fri).
MIDNIGHT_CASES = [
    (sh(23, 21, 0), sh(23, 22, 0)),  # Monday evening: opens at 22:00
    (sh(23, 23, 30), sh(23, 23, 30)),  # Monday night: inside
    (sh(24, 1, 59), sh(24, 1, 59)),  # Tuesday 01:59: Monday's window still open
    (sh(24, 2, 0), sh(24, 22, 0)),  # its end: Tuesday's window
    (sh(28, 1, 0), sh(28, 1, 0)),  # Saturday 01:00: opened Friday, a working day
    (sh(28, 22, 30), sh(30, 22, 0)),  # Saturday night: no window opens on a day off
    (sh(30, 1, 0), sh(30, 22, 0)),  # Monday 01:00: opened Sunday, a day off
]


@pytest.mark.parametrize(("given", "expected"), MIDNIGHT_CASES)
def test_given_a_window_across_midnight_then_it_belongs_to_the_day_it_opens(
    given: datetime, expected: datetime
) -> None:
    assert next_allowed(given, NIGHT, NIGHT_CONFIG) == expected


def test_given_a_zone_with_dst_then_windows_follow_local_time() -> None:
    config = replace(CONFIG, zone=NY)
    # Saturday 2026-03-07, before the change: Monday 10:30 is EDT (UTC-4), not EST (UTC-5).
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=NY)
    assert next_allowed(saturday, config.windows, config) == datetime(
        2026, 3, 9, 14, 30, tzinfo=UTC
    )
    # And in autumn back to EST.
    friday = datetime(2026, 10, 30, 18, 0, tzinfo=NY)
    assert next_allowed(friday, config.windows, config) == datetime(2026, 11, 2, 15, 30, tzinfo=UTC)


def test_given_a_window_opening_in_the_spring_forward_gap_then_it_opens_at_the_jump() -> None:
    # 2026-03-08 02:00 EST the clocks jump to 03:00 EDT: 02:30 does not exist.
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    config = replace(
        CONFIG, zone=NY, windows=(Window(time(2, 30), time(4, 0)),), working_days=frozenset({6})
    )
    given = datetime(2026, 3, 8, 1, 0, tzinfo=NY)
    assert next_allowed(given, config.windows, config) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_given_a_boundary_in_the_repeated_hour_then_its_first_occurrence() -> None:
    # 2026-11-01 02:00 EDT the clocks go back to 01:00 EST: 01:30 happens twice.
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


def test_given_a_retry_across_a_dst_change_then_the_interval_is_real_time() -> None:
    config = replace(
        CONFIG,
        zone=NY,
        windows=(Window(time(0, 0), time(23, 59)),),
        working_days=frozenset(range(7)),
        retry_interval=timedelta(minutes=30),
    )
    state = CallbackState("manual", datetime(2026, 3, 10, tzinfo=UTC))
    # Ends 01:45 EST; 30 real minutes later it is 03:15 EDT (the wall clock moved 90 minutes).
    ended = datetime(2026, 3, 8, 1, 45, tzinfo=NY)
    after = next_state(state, "busy", started_at=ended, ended_at=ended, config=config)
    assert after.next_attempt_at == ended.astimezone(UTC) + timedelta(minutes=30)
    assert after.next_attempt_at.astimezone(NY).strftime("%H:%M") == "03:15"


def test_given_windows_in_kolkata_then_half_hour_offsets_are_exact() -> None:
    config = replace(CONFIG, zone=ZoneInfo("Asia/Kolkata"))
    given = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 09:30 IST
    assert next_allowed(given, config.windows, config) == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


# --- due time and deadline ------------------------------------------------------------------


def test_given_a_service_call_in_working_hours_then_due_at_once_deadline_3h() -> None:
    plan = schedule("service_completed", sh(23, 14, 0), sh(23, 14, 0), CONFIG)
    assert (plan.due_at, plan.deadline, plan.target_by) == (
        sh(23, 14, 0),
        sh(23, 17, 0),
        sh(23, 14, 30),
    )
    assert not plan.overdue


def test_given_service_callbacks_must_keep_windows_then_due_at_the_next_window() -> None:
    config = replace(CONFIG, service_ignores_windows=False)
    plan = schedule("service_completed", sh(23, 14, 0), sh(23, 14, 0), config)
    assert plan.due_at == sh(23, 15, 0)


def test_given_a_service_call_friday_evening_then_its_clock_starts_at_mondays_opening() -> None:
    # S5: the 30 min / 3 h run in working time; outside it the clock waits for the opening.
    plan = schedule("service_completed", sh(27, 19, 0), sh(27, 19, 1), CONFIG)
    assert plan.due_at == sh(30, 9, 0)  # working hours open at 09:00
    assert plan.target_by == sh(30, 9, 30)
    assert plan.deadline == sh(30, 12, 0)
    assert not plan.overdue


def test_given_a_service_call_an_hour_before_closing_then_its_3_h_run_into_the_next_morning() -> (
    None
):
    plan = schedule("service_completed", sh(23, 17, 0), sh(23, 17, 0), CONFIG)
    assert (plan.due_at, plan.target_by) == (sh(23, 17, 0), sh(23, 17, 30))
    assert plan.deadline == sh(24, 11, 0)  # 17:00-18:00, then 09:00-11:00
    # Reported at 20:00 (after closing): due at the next opening, not overdue.
    late = schedule("service_completed", sh(23, 17, 0), sh(23, 20, 0), CONFIG)
    assert (late.due_at, late.overdue) == (sh(24, 9, 0), False)


def test_given_working_time_then_it_skips_nights_weekends_and_holidays() -> None:
    config = replace(CONFIG, days_off=frozenset({date(2026, 11, 30)}))  # a Monday off
    friday_5pm = sh(27, 17, 0)
    # 17:00-18:00 Friday, the weekend and Monday off, 09:00-11:00 Tuesday.
    assert add_working_time(friday_5pm, timedelta(hours=3), config) == sh(1, 11, 0, month=12)
    # Exactly to the closing, then on from the next opening.
    assert add_working_time(friday_5pm, timedelta(hours=1), config) == sh(27, 18, 0)
    assert add_working_time(sh(28, 12, 0), timedelta(0), config) == sh(1, 9, 0, month=12)


# --- the national calendar: holidays and make-up working days ------------------------------

#: The Spring Festival break of 2026 as the State Council set it: Sunday 15 February to
#: Monday 23 February off (9 days), Saturday 14 and Saturday 28 February worked.
SPRING_2026_OFF = frozenset(date(2026, 2, 15) + timedelta(days=n) for n in range(9))
SPRING_2026_ON = frozenset({date(2026, 2, 14), date(2026, 2, 28)})
SPRING_2026 = replace(CONFIG, days_off=SPRING_2026_OFF, days_on=SPRING_2026_ON)


def test_given_the_9_day_spring_festival_then_the_next_window_is_after_it() -> None:
    eve = datetime(2026, 2, 13, 18, 0, tzinfo=SH)  # Friday evening before the break
    # Saturday 14 February is a make-up working day: the morning window is open.
    assert next_allowed(eve, WINDOWS, SPRING_2026) == datetime(2026, 2, 14, 10, 30, tzinfo=SH)
    after_saturday = datetime(2026, 2, 14, 18, 0, tzinfo=SH)
    assert next_allowed(after_saturday, WINDOWS, SPRING_2026) == datetime(
        2026, 2, 24, 10, 30, tzinfo=SH
    )
    assert not is_allowed(datetime(2026, 2, 16, 10, 45, tzinfo=SH), WINDOWS, SPRING_2026)
    assert is_allowed(datetime(2026, 2, 28, 15, 30, tzinfo=SH), WINDOWS, SPRING_2026)


def test_given_a_service_completed_in_the_break_then_its_clock_starts_when_work_resumes() -> None:
    plan = schedule(
        "service_completed",
        datetime(2026, 2, 17, 10, 0, tzinfo=SH),
        datetime(2026, 2, 17, 10, 0, tzinfo=SH),
        SPRING_2026,
    )
    assert plan.due_at == datetime(2026, 2, 24, 9, 0, tzinfo=SH)
    assert plan.deadline == datetime(2026, 2, 24, 12, 0, tzinfo=SH)
    assert not plan.overdue


def test_given_a_retry_falling_in_a_holiday_then_it_waits_for_the_next_working_day() -> None:
    state = CallbackState("manual", deadline=datetime(2026, 3, 1, tzinfo=SH))
    ended = datetime(2026, 2, 14, 17, 10, tzinfo=SH)  # the make-up Saturday, last window
    after = next_state(state, "no_answer", started_at=ended, ended_at=ended, config=SPRING_2026)
    assert after.next_attempt_at == datetime(2026, 2, 24, 10, 30, tzinfo=SH)


def test_given_every_day_off_then_a_clear_error_not_a_hang() -> None:
    every = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(800))
    config = replace(CONFIG, days_off=every)
    with pytest.raises(ValueError, match="no calling window on a working day in the year"):
        next_allowed(datetime(2026, 6, 1, tzinfo=SH), WINDOWS, config)


def test_given_a_resolved_complaint_then_due_24h_later_in_a_window_deadline_72h() -> None:
    plan = schedule("complaint_resolved", sh(23, 10, 0), sh(23, 10, 5), CONFIG)
    assert plan.due_at == sh(24, 10, 30)
    assert plan.deadline == sh(26, 10, 0)
    # Reported late: never earlier than now.
    late = schedule("complaint_resolved", sh(23, 10, 0), sh(25, 16, 0), CONFIG)
    assert late.due_at == sh(25, 16, 0)


@pytest.mark.parametrize("reason", ["abandoned_call", "manual"])
def test_given_an_abandoned_call_then_as_soon_as_possible_and_room_for_every_attempt(
    reason: str,
) -> None:
    plan = schedule(reason, sh(23, 10, 0), sh(23, 10, 1), CONFIG)
    assert plan.due_at == sh(23, 10, 30)
    # Worst case: 10:30, 11:00 (inside), then 11:30+ → 15:00: that window ends 17:30.
    assert plan.deadline == sh(23, 17, 30)
    plan = schedule(reason, sh(23, 17, 0), sh(23, 17, 0), CONFIG)
    assert (plan.due_at, plan.deadline) == (sh(23, 17, 0), sh(24, 11, 30))
    assert not plan.overdue


def test_given_an_unknown_reason_or_naive_time_then_value_error() -> None:
    with pytest.raises(ValueError, match="reason must be one of"):
        schedule("whenever", sh(23, 10), sh(23, 10), CONFIG)
    with pytest.raises(ValueError, match="reference_time must carry a time zone"):
        schedule("manual", datetime(2026, 11, 23, 10, 0), sh(23, 10), CONFIG)


# --- after an attempt --------------------------------------------------------------------------

STATE = CallbackState("manual", deadline=sh(24, 17, 30))


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "hung_up", "failed"])
def test_given_a_failure_then_no_redial_before_the_interval_and_inside_a_window(
    outcome: str,
) -> None:
    after = next_state(
        STATE, outcome, started_at=sh(23, 10, 30), ended_at=sh(23, 10, 31), config=CONFIG
    )
    assert (after.status, after.next_attempt_at) == ("pending", sh(23, 11, 1))
    assert after.failed_attempts == 1
    # Ending at 11:10: 11:40 is outside, so the afternoon window.
    after = next_state(
        STATE, outcome, started_at=sh(23, 11, 9), ended_at=sh(23, 11, 10), config=CONFIG
    )
    assert after.next_attempt_at == sh(23, 15, 0)


def test_given_the_last_allowed_failure_then_unreachable() -> None:
    state = replace(STATE, failed_attempts=2)
    after = next_state(
        state, "no_answer", started_at=sh(23, 15), ended_at=sh(23, 15, 1), config=CONFIG
    )
    assert (after.status, after.next_attempt_at, after.failed_attempts) == ("unreachable", None, 3)


def test_given_the_customer_presses_2_then_rescheduled_without_counting_a_failure() -> None:
    state = replace(STATE, failed_attempts=2)
    after = next_state(
        state, "rescheduled", started_at=sh(23, 15), ended_at=sh(23, 15, 2), config=CONFIG
    )
    assert (after.status, after.next_attempt_at) == ("pending", sh(23, 15, 32))
    assert (after.failed_attempts, after.reschedules) == (2, 1)


def test_given_the_customer_says_not_now_too_often_then_declined() -> None:
    state = replace(STATE, reschedules=CONFIG.max_attempts)
    after = next_state(
        state, "rescheduled", started_at=sh(23, 15), ended_at=sh(23, 15, 2), config=CONFIG
    )
    assert (after.status, after.outcome, after.next_attempt_at) == ("declined", "rescheduled", None)


@pytest.mark.parametrize(
    ("outcome", "status"), [("completed", "completed"), ("declined", "declined")]
)
def test_given_an_answer_then_final(outcome: str, status: str) -> None:
    after = next_state(STATE, outcome, started_at=sh(23, 15), ended_at=sh(23, 15, 3), config=CONFIG)
    assert (after.status, after.next_attempt_at, after.overdue) == (status, None, False)


def test_given_the_next_attempt_would_pass_the_deadline_then_overdue_and_dialled_once_more() -> (
    None
):
    state = CallbackState("manual", deadline=sh(23, 17, 30))
    after = next_state(
        state, "no_answer", started_at=sh(23, 17, 10), ended_at=sh(23, 17, 11), config=CONFIG
    )
    assert (after.status, after.next_attempt_at, after.overdue) == ("pending", sh(24, 10, 30), True)
    # That overdue attempt fails too: no more, even though attempts remain.
    overdue = replace(state, failed_attempts=1, overdue=True)
    final = next_state(
        overdue, "busy", started_at=sh(24, 10, 30), ended_at=sh(24, 10, 31), config=CONFIG
    )
    assert (final.status, final.next_attempt_at, final.overdue) == ("unreachable", None, True)


def test_given_a_completion_after_the_deadline_then_completed_and_flagged() -> None:
    state = CallbackState("manual", deadline=sh(23, 17, 30))
    after = next_state(
        state, "completed", started_at=sh(24, 10, 30), ended_at=sh(24, 10, 33), config=CONFIG
    )
    assert (after.status, after.overdue) == ("completed", True)


def test_given_bad_input_then_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="outcome must be one of"):
        next_state(STATE, "maybe", started_at=sh(23, 15), ended_at=sh(23, 15), config=CONFIG)
    with pytest.raises(ValueError, match="ended_at must not be before"):
        next_state(STATE, "busy", started_at=sh(23, 15), ended_at=sh(23, 14), config=CONFIG)
    with pytest.raises(ValueError, match="retry_interval"):
        replace(CONFIG, retry_interval=timedelta(0))
    with pytest.raises(ValueError, match="working_days"):
        replace(CONFIG, working_days=frozenset())


# --- customer data ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["13800138000", "+8613800138000", "12345", "1" * 20])
def test_given_a_dialable_number_then_accepted(number: str) -> None:
    assert check_customer_number(number) == number


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("1380013800\r\n", "digits only"),
        ("1380013800\n", "digits only"),
        ("123&456", "digits only"),
        ("138abc00138", "digits only"),
        ("138 0013 8000", "digits only"),
        ("++12345", "digits only"),
        ("1234", "5 to 20 digits"),
        ("1" * 21, "5 to 20 digits"),
        ("", "5 to 20 digits"),
        ("１３８００１３８０００", "digits only"),  # full-width digits are not ASCII digits
        (13800138000, "string"),
    ],
)
def test_given_a_bad_number_then_value_error_says_what(number: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_customer_number(number)


def test_given_names_then_control_characters_and_long_names_are_refused() -> None:
    assert check_customer_name(" 张三 ") == "张三"
    assert check_customer_name("  ") is None
    assert check_customer_name(None) is None
    for bad in ("张\r\n三", "a\x00b", "x\u2028y", "a" * 65, 42):
        with pytest.raises(ValueError):
            check_customer_name(bad)


def test_given_five_scores_then_the_index_is_their_mean() -> None:
    scores = {"skill": 5, "attitude": 4, "timeliness": 3, "parts": 2, "overall": 5}
    assert satisfaction_index(scores) == pytest.approx(3.8)
    with pytest.raises(ValueError, match="missing overall"):
        satisfaction_index({k: v for k, v in scores.items() if k != "overall"})
    with pytest.raises(ValueError, match="1-5"):
        satisfaction_index({**scores, "parts": 6})
    with pytest.raises(ValueError, match="unknown survey index"):
        satisfaction_index({**scores, "mood": 3})


# --- agreement with the schema and the settings -------------------------------------------------


def test_given_the_schema_then_it_lists_the_same_reasons_and_outcomes() -> None:
    assert REASONS == CALLBACK_REASONS
    assert OUTCOMES == ATTEMPT_OUTCOMES


def test_given_the_outcome_kinds_then_answered_and_failed_split_every_outcome() -> None:
    assert set(OUTCOMES) == ANSWERED_OUTCOMES | FAILURES
    assert not ANSWERED_OUTCOMES & FAILURES
    assert set(get_args(ScriptOutcome)) == ANSWERED_OUTCOMES | {"hung_up"}
    assert set(OPEN_STATUSES) | set(get_args(FinalStatus)) == set(STATUSES)
    assert not set(OPEN_STATUSES) & set(get_args(FinalStatus))


def test_given_default_settings_then_the_config_has_the_handbook_values() -> None:
    assert CallbackConfig.from_settings(load_settings(_env_file=None)) == CallbackConfig()


# --- "not now": the time the customer chose ------------------------------------------------


@pytest.mark.parametrize(
    ("better", "expected"),
    [
        ("later_today", sh(23, 11, 10)),  # the usual: 30 min after the call, in a window
        ("tomorrow_morning", sh(24, 10, 30)),
        ("tomorrow_afternoon", sh(24, 15, 0)),
    ],
)
def test_given_a_chosen_better_time_then_the_next_attempt_is_in_it(
    better: str, expected: datetime
) -> None:
    state = CallbackState("manual", deadline=sh(27, 17, 30))
    ended = sh(23, 10, 40)
    after = next_state(
        state, "rescheduled", started_at=ended, ended_at=ended, config=CONFIG, better_time=better
    )
    assert (after.status, after.next_attempt_at, after.reschedules) == ("pending", expected, 1)
    assert after.why == f"the customer chose {better}"
    assert better_time_at(ended, better, WINDOWS, CONFIG) == expected


def test_given_tomorrow_chosen_on_a_friday_or_before_a_holiday_then_the_next_working_day() -> None:
    friday = sh(27, 16, 0)
    assert better_time_at(friday, "tomorrow_morning", WINDOWS, CONFIG) == sh(30, 10, 30)
    # The make-up Saturday before the 2026 Spring Festival is a working day; after it, the
    # break: "tomorrow" is the 24th.
    eve = datetime(2026, 2, 13, 16, 0, tzinfo=SH)
    assert better_time_at(eve, "tomorrow_afternoon", WINDOWS, SPRING_2026) == datetime(
        2026, 2, 14, 15, 0, tzinfo=SH
    )
    saturday = datetime(2026, 2, 14, 16, 0, tzinfo=SH)
    assert better_time_at(saturday, "tomorrow_morning", WINDOWS, SPRING_2026) == datetime(
        2026, 2, 24, 10, 30, tzinfo=SH
    )


def test_given_a_better_time_past_the_deadline_then_overdue_and_one_more_call() -> None:
    state = CallbackState("service_completed", deadline=sh(23, 17, 0))
    ended = sh(23, 14, 10)
    after = next_state(
        state,
        "rescheduled",
        started_at=ended,
        ended_at=ended,
        config=CONFIG,
        better_time="tomorrow_morning",
    )
    assert (after.next_attempt_at, after.overdue) == (sh(24, 9, 0), True)


def test_given_an_unknown_better_time_then_value_error() -> None:
    state = CallbackState("manual", deadline=sh(27, 17, 30))
    with pytest.raises(ValueError, match="better time must be one of"):
        next_state(
            state,
            "rescheduled",
            started_at=sh(23, 10),
            ended_at=sh(23, 10),
            config=CONFIG,
            better_time="whenever",
        )
