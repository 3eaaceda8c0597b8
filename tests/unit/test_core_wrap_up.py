"""S8's late_wrap_up rule (core/breaches.py): a pure function of the call's end, the record's
first entry time and "now", and the wrap-up time (10 minutes unless set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr_agent.core.breaches import LATE_WRAP_UP, WRAP_UP_MINUTES, breaches_of, late_wrap_up
from tests.support.outcomes import sample_outcome

END = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)


def test_the_default_wrap_up_time_is_ten_minutes() -> None:
    assert WRAP_UP_MINUTES == 10.0
    # Called without a wrap-up time, the rule uses the default.
    assert late_wrap_up(END, END + TEN + timedelta(microseconds=1), END) is True
    assert late_wrap_up(END, END + TEN, END) is False


@pytest.mark.parametrize(
    ("entered_after", "late"),
    [
        (timedelta(0), False),
        (timedelta(minutes=9, seconds=59), False),
        (TEN, False),  # exactly 10 min after hang-up: still in time (挂机后10分钟内)
        (TEN + timedelta(microseconds=1), True),
        (timedelta(minutes=30), True),
    ],
)
def test_given_a_record_entered_after_hang_up_then_late_only_past_the_wrap_up_time(
    entered_after: timedelta, late: bool
) -> None:
    # "now" is much later: once entered, only the entry time counts.
    now = END + timedelta(days=1)
    assert late_wrap_up(END, END + entered_after, now, TEN) is late


@pytest.mark.parametrize(
    ("now_after", "late"),
    [
        (timedelta(minutes=5), False),
        (TEN, False),  # due exactly now: not late yet
        (TEN + timedelta(seconds=1), True),
    ],
)
def test_given_no_record_yet_then_late_once_the_wrap_up_time_has_passed(
    now_after: timedelta, late: bool
) -> None:
    assert late_wrap_up(END, None, END + now_after, TEN) is late


def test_given_a_timely_record_corrected_late_then_the_first_entry_counts() -> None:
    # The store keeps version 1's time; a correction an hour later does not move it, so the
    # rule is asked about the first entry, which was in time.
    first_entry = END + timedelta(minutes=3)
    assert late_wrap_up(END, first_entry, END + timedelta(hours=1), TEN) is False


def test_given_a_short_setting_then_seconds_count() -> None:
    short = timedelta(seconds=5)
    assert late_wrap_up(END, END + timedelta(seconds=4), END, short) is False
    assert late_wrap_up(END, END + timedelta(seconds=6), END, short) is True


def test_given_a_late_wrap_up_then_it_is_the_last_breach_listed() -> None:
    outcome = sample_outcome()
    found = breaches_of(outcome, None, None, wrap_up_late=True)
    assert found[-1] == LATE_WRAP_UP
    assert LATE_WRAP_UP not in breaches_of(outcome, None, None)
