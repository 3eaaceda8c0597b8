"""Report periods (day, week, month) in the call centre's time zone (pure).

A period is ``[start, end)`` between two local midnights: a day; a week from Monday; a
calendar month. Bounds are built from local dates, so a period is right across
daylight-saving changes (a local day may last 23 or 25 hours).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class PeriodKind(enum.StrEnum):
    """How long a report's period is."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    """One report period: its kind and its first local day; ``start``/``end`` in ``zone``."""

    kind: PeriodKind
    first_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """Local midnight at the start of the period."""
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Local midnight after the period's last day (exclusive)."""
        return datetime.combine(_next_first_day(self.kind, self.first_day), time(0), self.zone)

    @property
    def label(self) -> str:
        """Names the period in ids and file names: ``2026-11-23``, ``2026-W48``, ``2026-11``."""
        if self.kind is PeriodKind.DAY:
            return self.first_day.isoformat()
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        return self.first_day.strftime("%Y-%m")

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return containing(self.kind, self.first_day - timedelta(days=1), self.zone)


def _next_first_day(kind: PeriodKind, first: date) -> date:
    if kind is PeriodKind.DAY:
        return first + timedelta(days=1)
    if kind is PeriodKind.WEEK:
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def containing(kind: PeriodKind, day: date, zone: ZoneInfo) -> Period:
    """The period of ``kind`` that contains the local date ``day`` (weeks start Monday)."""
    if kind is PeriodKind.DAY:
        return Period(kind, day, zone)
    if kind is PeriodKind.WEEK:
        return Period(kind, day - timedelta(days=day.weekday()), zone)
    return Period(kind, day.replace(day=1), zone)


def last_closed(kind: PeriodKind, now: datetime, zone: ZoneInfo) -> Period:
    """The latest period of ``kind`` that has ended at ``now`` (yesterday, last week, …)."""
    return containing(kind, now.astimezone(zone).date(), zone).previous()


def closed_since(kind: PeriodKind, now: datetime, zone: ZoneInfo, horizon: date) -> list[Period]:
    """The closed periods of ``kind`` at ``now`` whose last day is on or after ``horizon``,
    oldest first (how far the agent catches up after downtime)."""
    periods: list[Period] = []
    period = last_closed(kind, now, zone)
    while period.end.date() > horizon:
        periods.append(period)
        period = period.previous()
    return periods[::-1]
