"""Properties of the S5 scheduling rules over random windows, zones, days and outcomes.

The oracle :func:`inside` judges a time by its local wall clock, independently of the
implementation (which works on UTC instants): a window belongs to the working day it opens
on. The second pass through a repeated hour (clocks going back) is excluded from the
checks: the rules document that a boundary there means its first occurrence.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ivr_agent.core.callbacks import (
    FAILURES,
    OUTCOMES,
    REASONS,
    CallbackConfig,
    CallbackState,
    Window,
    add_working_time,
    next_allowed,
    next_state,
    schedule,
)
from ivr_agent.core.phone import check_customer_number

ZONES = [
    "Asia/Shanghai",
    "UTC",
    "Asia/Kolkata",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
]

instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)
times_of_day = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = (
    st.tuples(times_of_day, times_of_day)
    .filter(lambda pair: pair[0] != pair[1])
    .map(lambda pair: Window(*pair))
)


@st.composite
def configs(draw: st.DrawFn) -> CallbackConfig:
    return CallbackConfig(
        zone=ZoneInfo(draw(st.sampled_from(ZONES))),
        windows=tuple(draw(st.lists(windows, min_size=1, max_size=3))),
        working_days=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        working_hours=tuple(draw(st.lists(windows, min_size=1, max_size=2))),
        service_ignores_windows=draw(st.booleans()),
        retry_interval=timedelta(minutes=draw(st.integers(1, 600))),
        max_attempts=draw(st.integers(1, 5)),
        complaint_min=timedelta(hours=draw(st.integers(0, 48))),
        complaint_max=timedelta(hours=draw(st.integers(48, 120))),
    )


def repeated(moment: datetime, config: CallbackConfig) -> bool:
    """True in the second pass through a repeated local hour."""
    return moment.astimezone(config.zone).fold == 1


def works(day: date, config: CallbackConfig) -> bool:
    """The calendar oracle (S5): a make-up day is worked, a holiday is not, else the weekday."""
    if day in config.days_on:
        return True
    return day.weekday() in config.working_days and day not in config.days_off


def inside(moment: datetime, wins: tuple[Window, ...], config: CallbackConfig) -> bool:
    """The wall-clock oracle: inside a window that opened on a working day."""
    local = moment.astimezone(config.zone)
    now, today = local.time().replace(tzinfo=None), local.date()
    yesterday = today - timedelta(days=1)
    for w in wins:
        if w.start < w.end:
            if works(today, config) and w.start <= now < w.end:
                return True
        else:
            if works(today, config) and now >= w.start:
                return True
            if works(yesterday, config) and now < w.end:
                return True
    return False


@settings(max_examples=400, deadline=None)
@given(configs(), instants, st.sampled_from(REASONS))
def test_next_allowed_is_the_first_allowed_instant(
    config: CallbackConfig, moment: datetime, reason: str
) -> None:
    assert_first_allowed(config, moment, reason)


def assert_first_allowed(config: CallbackConfig, moment: datetime, reason: str) -> None:
    """``next_allowed`` from ``moment`` is allowed, and nothing allowed comes before it."""
    assume(not repeated(moment, config))
    wins = config.allowed_windows(reason)
    found = next_allowed(moment, wins, config)
    assert found >= moment
    assert inside(found, wins, config)
    if found > moment:
        # Nothing allowed just before it (a boundary opens there, or the search began there).
        before = max(moment, found - timedelta(seconds=1))
        if not repeated(before, config):
            assert not inside(before, wins, config)
        assert not inside(moment, wins, config)


@st.composite
def holiday_breaks(draw: st.DrawFn) -> tuple[CallbackConfig, datetime]:
    """A config with a break of up to 12 days off (and some make-up days around it), and a
    moment from a few days before the break to a few days after it."""
    config = draw(configs())
    first = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 1)))
    off = frozenset(first + timedelta(days=n) for n in range(draw(st.integers(1, 12))))
    around = [first + timedelta(days=n) for n in range(-9, 22)]
    on = frozenset(draw(st.lists(st.sampled_from(around), max_size=3))) - off
    day = first + timedelta(days=draw(st.integers(-3, 15)))
    at = datetime.combine(day, draw(times_of_day), tzinfo=config.zone)
    return replace(config, days_off=off, days_on=on), at.astimezone(UTC)


@settings(max_examples=400, deadline=None)
@given(holiday_breaks(), st.sampled_from(REASONS))
def test_next_allowed_skips_holiday_breaks_and_keeps_make_up_days(
    case: tuple[CallbackConfig, datetime], reason: str
) -> None:
    config, moment = case
    assert_first_allowed(config, moment, reason)


@settings(max_examples=300, deadline=None)
@given(holiday_breaks(), st.integers(0, 600), st.integers(0, 600))
def test_working_time_adds_up_and_ends_in_working_hours(
    case: tuple[CallbackConfig, datetime], first: int, then: int
) -> None:
    config, start = case
    a, b = timedelta(minutes=first), timedelta(minutes=then)
    once = add_working_time(start, a + b, config)
    assert add_working_time(add_working_time(start, a, config), b, config) == once
    assert once >= start + a + b  # working time never runs faster than real time
    # It ends inside working hours, or exactly at a closing.
    edge = once - timedelta(seconds=1)
    assert inside(once, config.working_hours, config) or inside(edge, config.working_hours, config)


def test_nothing_added_at_a_closing_stays_at_that_closing() -> None:
    # Found by the property above: 15 minutes of Monday 00:00-00:15 working time ended at
    # 00:15 on the 8th; adding nothing more then moved on to the next Monday's opening.
    config = CallbackConfig(
        zone=ZoneInfo("Asia/Shanghai"),
        windows=(Window(time(0, 0), time(0, 15)),),
        working_days=frozenset({0}),
        days_off=frozenset({date(2024, 1, 1)}),
        working_hours=(Window(time(0, 0), time(0, 15)),),
    )
    start = datetime(2023, 12, 31, 16, 0, tzinfo=UTC)  # Monday 1 January, a holiday
    ends = add_working_time(start, timedelta(minutes=15), config)
    assert ends == datetime(2024, 1, 7, 16, 15, tzinfo=UTC)  # Monday 8th, 00:15 local
    assert add_working_time(ends, timedelta(0), config) == ends
    # Outside working hours, nothing added still waits for the next opening.
    assert add_working_time(start, timedelta(0), config) == datetime(2024, 1, 7, 16, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(configs(), instants, st.integers(0, 10 * 86_400), st.sampled_from(REASONS))
def test_schedule_is_never_early_and_always_allowed(
    config: CallbackConfig, reference: datetime, delay: int, reason: str
) -> None:
    now = reference + timedelta(seconds=delay)
    plan = schedule(reason, reference, now, config)
    earliest = reference + (config.complaint_min if reason == "complaint_resolved" else timedelta())
    assert plan.due_at >= max(now, earliest)
    if reason == "specialist":
        # S8: at once whatever the windows, due within minutes of the hand-over.
        assert plan.due_at == max(now, reference)
        assert plan.deadline == reference + config.specialist_due
        return
    assert inside(plan.due_at, config.allowed_windows(reason), config) or repeated(
        plan.due_at, config
    )
    assert plan.overdue == (plan.due_at > plan.deadline)
    if reason in ("abandoned_call", "manual", "campaign"):
        assert not plan.overdue  # their deadline leaves room for every attempt


@settings(max_examples=300, deadline=None)
@given(
    configs(),
    instants,
    st.sampled_from(REASONS),
    st.lists(
        st.tuples(st.sampled_from(OUTCOMES), st.integers(0, 7200), st.integers(0, 900)),
        min_size=1,
        max_size=30,
    ),
)
def test_a_callback_life_keeps_every_rule(
    config: CallbackConfig,
    reference: datetime,
    reason: str,
    attempts: list[tuple[str, int, int]],
) -> None:
    """Dial at (or late after) each scheduled time with random outcomes until it ends."""
    plan = schedule(reason, reference, reference, config)
    state = CallbackState(reason, plan.deadline, overdue=plan.overdue)
    wins = config.allowed_windows(reason)
    scheduled: datetime | None = plan.due_at
    dials = dials_after_deadline = 0
    status = "pending"
    for outcome, lateness, length in attempts:
        if scheduled is None:
            break
        started = scheduled + timedelta(seconds=lateness)  # the dialer may be late
        ended = started + timedelta(seconds=length)
        dials += 1
        dials_after_deadline += started > plan.deadline
        after = next_state(state, outcome, started_at=started, ended_at=ended, config=config)
        status = after.status
        assert after.failed_attempts <= config.max_attempts
        assert after.reschedules <= config.max_attempts + 1
        assert after.overdue >= state.overdue  # the flag never clears
        if after.next_attempt_at is not None:
            assert status == "pending"
            # Never at once: the retry interval, or (S8) a specialist call-back's shorter gap
            # while its due time allows.
            gap = config.retry_interval
            if reason == "specialist":
                gap = min(gap, config.specialist_retry_gap)
            assert after.next_attempt_at >= ended + gap
            assert inside(after.next_attempt_at, wins, config) or repeated(
                after.next_attempt_at, config
            )
            if after.next_attempt_at > plan.deadline:
                assert after.overdue
        else:
            assert status in ("completed", "declined", "unreachable")
        if outcome in FAILURES and after.failed_attempts == config.max_attempts:
            assert status == "unreachable"
        state = replace(
            state,
            failed_attempts=after.failed_attempts,
            reschedules=after.reschedules,
            overdue=after.overdue,
        )
        scheduled = after.next_attempt_at
    assert dials <= 2 * config.max_attempts + 1
    assert dials_after_deadline <= 1
    if dials_after_deadline:
        assert state.overdue


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30) | st.from_regex(r"\+?[0-9]{3,22}", fullmatch=True))
def test_only_plain_digit_numbers_are_accepted(number: str) -> None:
    """Whatever the text, an accepted number is 5-20 ASCII digits with an optional +."""
    digits = number.removeprefix("+")
    plain = 5 <= len(digits) <= 20 and all(c in "0123456789" for c in digits)
    if plain:
        assert check_customer_number(number) == number
    else:
        with pytest.raises(ValueError, match=r"^must "):
            check_customer_number(number)
