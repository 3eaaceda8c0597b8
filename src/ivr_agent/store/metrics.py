"""Aggregate queries over the ``calls`` table for ``GET /api/metrics/summary``.

Everything is counted in PostgreSQL (``count(*) FILTER (WHERE …)``, ``sum``, ``max``) over
the inbound calls offered in ``[start, end)``, which the index on ``calls.offered_at``
serves; only one row per group comes back. Turning counts into figures (ratios, formulas)
is :mod:`ivr_agent.core.figures`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, extract, func, select, true

from ivr_agent.core.figures import CallbackCounts, Counts
from ivr_agent.store.db import Database
from ivr_agent.store.models import CallbackAttemptRow, CallbackRow, CallRow


class GroupBy(enum.StrEnum):
    """How ``summary`` splits the interval."""

    OPERATOR = "operator"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True)
class Group:
    """One group's key (operator id, or the bucket's start) and its counts."""

    key: str | datetime | None
    counts: Counts


@dataclass(frozen=True)
class Summary:
    """The counts of the whole interval and, when grouped, of each group."""

    total: Counts
    groups: tuple[Group, ...] | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _aggregates(hold_severe_seconds: float) -> list[ColumnElement[Any]]:
    c = CallRow
    answered = c.answered_at.is_not(None)
    wait = func.coalesce(c.ring_seconds, extract("epoch", c.ended_at - c.wait_started_at))
    return [
        func.count().label("offered"),
        _count(answered).label("answered"),
        _count(and_(answered, c.answered_within_standard.is_(True))).label("within"),
        _count(c.abandoned.is_(True)).label("abandoned"),
        _count(and_(c.abandoned.is_(True), c.short_abandon.is_(True))).label("short_abandons"),
        func.coalesce(func.sum(c.ring_seconds).filter(answered), 0.0).label("ring_sum"),
        func.max(wait).label("longest_wait"),
        _count(c.hold_over_limit.is_(True)).label("hold_over_limit"),
        _count(c.max_hold_seconds > hold_severe_seconds).label("hold_severe"),
        _count(c.silence == "prompted_then_spoke").label("silence_spoke"),
        _count(c.silence == "hung_up_silent").label("silence_hung_up"),
        _count(c.over_max_duration.is_(True)).label("over_max_duration"),
        _count(c.complete.is_(False)).label("incomplete"),
    ]


def _counts(row: Any) -> Counts:
    longest = row.longest_wait
    return Counts(
        offered=row.offered,
        answered=row.answered,
        answered_within_standard=row.within,
        abandoned=row.abandoned,
        short_abandons=row.short_abandons,
        ring_seconds_sum=float(row.ring_sum),
        longest_wait_seconds=None if longest is None else round(float(longest), 3),
        hold_over_limit=row.hold_over_limit,
        hold_severe=row.hold_severe,
        silence_prompted_then_spoke=row.silence_spoke,
        silence_hung_up_silent=row.silence_hung_up,
        over_max_duration=row.over_max_duration,
        incomplete=row.incomplete,
    )


async def summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    hold_severe_seconds: float,
    group_by: GroupBy | None = None,
    zone: str = "UTC",
) -> Summary:
    """Counts of the inbound calls offered in ``[start, end)``, in total and per group.

    ``hour``/``day`` buckets are cut in the time zone ``zone`` (the call centre's), so a
    day is a local day also across daylight-saving changes; only buckets with calls are
    returned, oldest first. ``operator`` groups by ``operator_id`` (``None``: unanswered),
    ``None`` last.
    """
    query = summary_query(
        start, end, hold_severe_seconds=hold_severe_seconds, group_by=group_by, zone=zone
    )
    async with database.transaction("metrics summary") as session:
        rows = (await session.execute(query)).all()
    if group_by is None:
        return Summary(total=_counts(rows[0]), groups=None)
    groups = tuple(Group(key=row.key, counts=_counts(row)) for row in rows)
    # The groups partition the interval's calls, and every count adds up: the total is
    # their sum (an empty interval: all zero). One parallel hash aggregate, no sort.
    total = sum((g.counts for g in groups), Counts())
    return Summary(total=total, groups=groups)


def summary_query(
    start: datetime,
    end: datetime,
    *,
    hold_severe_seconds: float,
    group_by: GroupBy | None = None,
    zone: str = "UTC",
) -> Select[Any]:
    """The one statement :func:`summary` runs (also what the benchmark explains).

    Grouped, it is a plain ``GROUP BY`` the planner runs as a parallel hash aggregate;
    ``GROUPING SETS ((key), ())`` (groups and total in one statement) made PostgreSQL sort
    every row of the interval instead, on disk for a year: 634 ms against 1,000,000 calls
    (benchmarks/README.md).
    """
    c = CallRow
    where = and_(c.direction == "inbound", c.offered_at >= start, c.offered_at < end)
    aggregates = _aggregates(hold_severe_seconds)
    if group_by is None:
        return select(*aggregates).where(where)
    if group_by is GroupBy.OPERATOR:
        key: ColumnElement[Any] = CallRow.operator_id.expression
        order = key.asc().nulls_last()
    else:
        key = func.date_trunc(group_by.value, CallRow.offered_at, zone)
        order = key.asc()
    return select(key.label("key"), *aggregates).where(where).group_by(key).order_by(order)


#: Callback statuses still waiting for a successful attempt.
OPEN_CALLBACK_STATUSES = ("pending", "in_progress")


async def callback_summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    service_due_minutes: int,
) -> CallbackCounts:
    """Counts of the callbacks due in ``[start, end)`` (S5); read-only over the callback tables.

    The completing attempt of a callback is its last attempt with outcome ``completed`` (a
    lateral subquery per callback, served by the ``(callback_id, attempt_no)`` key).
    Overdue is judged at ``now``.
    """
    cb = CallbackRow
    a = CallbackAttemptRow
    last = (
        select(a.started_at.label("started_at"))
        .where(a.callback_id == cb.callback_id, a.outcome == "completed")
        .order_by(a.attempt_no.desc())
        .limit(1)
        .lateral("last_attempt")
    )
    completed = cb.status == "completed"
    service = cb.reason == "service_completed"
    within = last.c.started_at <= cb.reference_time + timedelta(minutes=service_due_minutes)
    scored = and_(completed, cb.satisfaction_index.is_not(None))
    query = (
        select(
            func.count().label("due"),
            _count(completed).label("completed"),
            _count(and_(cb.status.in_(OPEN_CALLBACK_STATUSES), cb.deadline < now)).label(
                "open_overdue"
            ),
            _count(and_(completed, last.c.started_at > cb.deadline)).label("completed_late"),
            _count(service).label("service_due"),
            _count(and_(service, completed, within)).label("service_within"),
            func.coalesce(func.sum(cb.satisfaction_index).filter(scored), 0.0).label(
                "satisfaction_sum"
            ),
            _count(scored).label("satisfaction_scored"),
        )
        .select_from(cb)
        .outerjoin(last, true())
        .where(cb.due_at >= start, cb.due_at < end, cb.status != "cancelled")
    )
    async with database.transaction("callback summary") as session:
        row = (await session.execute(query)).one()
    return CallbackCounts(
        due=row.due,
        completed=row.completed,
        open_overdue=row.open_overdue,
        completed_late=row.completed_late,
        service_due=row.service_due,
        service_within=row.service_within,
        satisfaction_sum=float(row.satisfaction_sum),
        satisfaction_scored=row.satisfaction_scored,
    )
