"""Time buckets in the call centre's time zone, and the roll-ups' grain (pure).

A summary groups calls by local hour, day, week (from Monday) or calendar month. Days,
weeks and months start at local midnight, so a day lasts 23 or 25 hours across a
daylight-saving change; hours start at the local full hour and are one real hour apart.

The roll-up tables count calls per *grain* of UTC time (``date_bin`` from the Unix epoch).
A local bucket can be read from them exactly when its bounds fall on grain boundaries, so
the grain is the largest divisor of one hour that divides every UTC offset the zone has
used since 1970: 3600 s for whole-hour zones (Asia/Shanghai, Europe/Berlin with DST),
1800 s for Asia/Kolkata (+5:30) or Australia/Adelaide, 900 s for Asia/Kathmandu (+5:45).
"""

from __future__ import annotations

import enum
import functools
import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOUR_SECONDS = 3600
#: Where the roll-ups' grains are counted from (PostgreSQL ``date_bin``'s origin there too).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unit(enum.StrEnum):
    """A local time bucket."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def first_day(day: date, unit: Unit) -> date:
    """The first local date of the day, week (Monday) or month containing ``day``."""
    if unit is Unit.WEEK:
        return day - timedelta(days=day.weekday())
    if unit is Unit.MONTH:
        return day.replace(day=1)
    return day


def _next_day(day: date, unit: Unit) -> date:
    if unit is Unit.DAY:
        return day + timedelta(days=1)
    if unit is Unit.WEEK:
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucket_end(start: datetime, unit: Unit, zone: ZoneInfo) -> datetime:
    """The end (exclusive) of the bucket starting at ``start``: one real hour later for
    an hour, else the next local midnight starting a day, week or month."""
    if unit is Unit.HOUR:
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
    return _midnight(_next_day(start.astimezone(zone).date(), unit), zone)


def bucket_starts(start: datetime, end: datetime, unit: Unit, zone: ZoneInfo) -> list[datetime]:
    """Starts of the buckets of ``unit`` covering ``[start, end)`` in ``zone``, oldest first
    (the first may start before ``start``)."""
    local = start.astimezone(zone)
    if unit is Unit.HOUR:
        # The local full hour: in a zone with a :30 or :45 offset it is not a UTC full hour.
        first = local.replace(minute=0, second=0, microsecond=0)
        # In UTC: Python subtracts two times of one zone as wall clocks (wrong across DST).
        utc = first.astimezone(UTC)
        count = math.ceil((end.astimezone(UTC) - utc).total_seconds() / HOUR_SECONDS)
        return [(utc + timedelta(hours=n)).astimezone(zone) for n in range(count)]
    day = first_day(local.date(), unit)
    starts = []
    while (moment := _midnight(day, zone)) < end:
        starts.append(moment)
        day = _next_day(day, unit)
    return starts


@functools.lru_cache(maxsize=32)
def zone_grain_seconds(zone_name: str, since_year: int = 1970, until_year: int = 2100) -> int:
    """The roll-up grain for ``zone_name``: the greatest common divisor of 3600 and every
    UTC offset (in seconds) the zone has from ``since_year`` to ``until_year``, sampled
    daily (an offset in force for less than a day is ignored)."""
    zone = ZoneInfo(zone_name)
    grain = HOUR_SECONDS
    moment = datetime(since_year, 1, 1, tzinfo=UTC)
    end = datetime(until_year, 1, 1, tzinfo=UTC)
    step = timedelta(days=1)
    while moment < end and grain > 1:
        offset = moment.astimezone(zone).utcoffset() or timedelta(0)
        grain = math.gcd(grain, int(offset.total_seconds()))
        moment += step
    return grain


def floor_to_grain(moment: datetime, grain_seconds: int) -> datetime:
    """The grain boundary at or before ``moment`` (UTC epoch-aligned)."""
    # timedelta arithmetic is exact to the microsecond (a float timestamp is not).
    step = timedelta(seconds=grain_seconds)
    return EPOCH + ((moment - EPOCH) // step) * step


def ceil_to_grain(moment: datetime, grain_seconds: int) -> datetime:
    """The grain boundary at or after ``moment`` (UTC epoch-aligned)."""
    floor = floor_to_grain(moment, grain_seconds)
    return floor if floor == moment else floor + timedelta(seconds=grain_seconds)
