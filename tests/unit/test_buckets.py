"""Local hour/day/week/month buckets (DST zones too) and the roll-ups' grain per zone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr_agent.core.buckets import (
    Unit,
    bucket_end,
    bucket_starts,
    ceil_to_grain,
    floor_to_grain,
    zone_grain_seconds,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")


def test_given_a_wednesday_then_its_week_starts_on_the_monday_at_local_midnight() -> None:
    wednesday = datetime(2026, 11, 25, 15, 0, tzinfo=SHANGHAI)
    starts = bucket_starts(wednesday, wednesday + timedelta(days=10), Unit.WEEK, SHANGHAI)
    assert starts == [
        datetime(2026, 11, 23, tzinfo=SHANGHAI),
        datetime(2026, 11, 30, tzinfo=SHANGHAI),
    ]
    assert starts[0].weekday() == 0
    assert bucket_end(starts[-1], Unit.WEEK, SHANGHAI) == datetime(2026, 12, 7, tzinfo=SHANGHAI)


def test_given_a_year_end_then_months_are_local_calendar_months() -> None:
    start = datetime(2026, 11, 15, tzinfo=SHANGHAI)
    starts = bucket_starts(start, datetime(2027, 2, 1, tzinfo=SHANGHAI), Unit.MONTH, SHANGHAI)
    assert [s.date().isoformat() for s in starts] == ["2026-11-01", "2026-12-01", "2027-01-01"]
    # Shanghai midnight is 16:00 UTC the day before.
    assert starts[1].astimezone(UTC) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert bucket_end(starts[1], Unit.MONTH, SHANGHAI) == datetime(2027, 1, 1, tzinfo=SHANGHAI)


def test_given_the_spring_dst_change_then_the_day_has_23_hours() -> None:
    day = datetime(2026, 3, 29, tzinfo=BERLIN)
    end = bucket_end(day, Unit.DAY, BERLIN)
    # Both in one zone, Python subtracts wall clocks: compare instants.
    assert end.astimezone(UTC) - day.astimezone(UTC) == timedelta(hours=23)
    hours = bucket_starts(day, end, Unit.HOUR, BERLIN)
    assert len(hours) == 23
    assert [h.hour for h in hours[:4]] == [0, 1, 3, 4]  # 02:00 does not exist that day
    april = bucket_starts(day, datetime(2026, 4, 2, tzinfo=BERLIN), Unit.MONTH, BERLIN)
    assert april[1] == datetime(2026, 4, 1, tzinfo=BERLIN)
    assert april[1].utcoffset() == timedelta(hours=2)


def test_given_the_autumn_dst_change_then_the_day_has_25_hours_and_hours_are_real_hours() -> None:
    day = datetime(2026, 10, 25, tzinfo=BERLIN)
    end = bucket_end(day, Unit.DAY, BERLIN)
    assert end.astimezone(UTC) - day.astimezone(UTC) == timedelta(hours=25)
    hours = bucket_starts(day, end, Unit.HOUR, BERLIN)
    assert len(hours) == 25
    # 02:00 comes twice: once in summer time, once in winter time, one real hour apart.
    twice = [h for h in hours if h.hour == 2]
    assert [h.utcoffset() for h in twice] == [timedelta(hours=2), timedelta(hours=1)]
    for first, second in itertools.pairwise(hours):
        assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
        assert bucket_end(first, Unit.HOUR, BERLIN) == second


def test_given_a_half_hour_zone_then_local_hours_start_at_half_past_in_utc() -> None:
    start = datetime(2026, 11, 23, 9, 40, tzinfo=KOLKATA)
    hours = bucket_starts(start, start + timedelta(hours=2), Unit.HOUR, KOLKATA)
    assert hours[0] == datetime(2026, 11, 23, 9, 0, tzinfo=KOLKATA)
    assert hours[0].astimezone(UTC).minute == 30
    assert len(hours) == 3


@pytest.mark.parametrize(
    ("zone", "grain"),
    [
        ("UTC", 3600),
        ("Asia/Shanghai", 3600),
        ("Europe/Berlin", 3600),  # DST moves whole hours
        ("America/New_York", 3600),
        ("Asia/Kolkata", 1800),  # +5:30
        ("Australia/Adelaide", 1800),  # +9:30 / +10:30
        ("Australia/Lord_Howe", 1800),  # +10:30 / +11:00: DST of half an hour
        ("Asia/Kathmandu", 900),  # +5:45 (and +5:30 before 1986)
        ("Pacific/Chatham", 900),  # +12:45 / +13:45
    ],
)
def test_the_grain_divides_every_offset_of_the_zone(zone: str, grain: int) -> None:
    assert zone_grain_seconds(zone) == grain


def test_given_grain_bounds_then_floor_and_ceil_are_exact_to_the_microsecond() -> None:
    hour = datetime(2026, 11, 23, 2, tzinfo=UTC)
    assert floor_to_grain(hour, 3600) == hour
    assert ceil_to_grain(hour, 3600) == hour
    just_before = hour - timedelta(microseconds=1)
    assert floor_to_grain(just_before, 3600) == hour - timedelta(hours=1)
    assert ceil_to_grain(just_before, 3600) == hour
    assert ceil_to_grain(hour + timedelta(microseconds=1), 900) == hour + timedelta(minutes=15)
    # A local time in another zone is the same instant.
    assert floor_to_grain(datetime(2026, 11, 23, 10, 59, tzinfo=SHANGHAI), 3600) == hour
