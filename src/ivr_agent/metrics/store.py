"""Aggregate queries over the ``calls`` table for ``GET /api/metrics/summary``.

Everything is counted in PostgreSQL (``count(*) FILTER (WHERE …)``, ``sum``, ``max``) over
the inbound calls offered in ``[start, end)``, which the index on ``calls.offered_at``
serves; only one row per group comes back. Turning counts into figures (ratios, formulas)
is :mod:`ivr_agent.core.figures`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    bindparam,
    extract,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ivr_agent.core.breaches import LATE_WRAP_UP
from ivr_agent.core.callbacks import OPEN_STATUSES
from ivr_agent.core.figures import CallbackCounts, Counts
from ivr_agent.core.standards import SATISFACTION_ANSWERS
from ivr_agent.db.breaches import DEFAULT_WRAP_UP, STANDARD_BREACH_SQL, late_wrap_up_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow, CallRow


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


def _aggregates(
    hold_severe_seconds: float, call_target_seconds: float, wrap_up: timedelta
) -> list[ColumnElement[Any]]:
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
        _count(and_(answered, c.talk_seconds <= call_target_seconds)).label("within_target"),
        _count(c.operator_hung_up_first.is_(True)).label("operator_first"),
        *(
            _count(c.extra["satisfaction"].astext == answer).label(f"satisfaction_{answer}")
            for answer in SATISFACTION_ANSWERS
        ),
        _count(c.complete.is_(False)).label("incomplete"),
        # S8, at the database's clock: a record still missing is late once it is due.
        _count(late_wrap_up_sql(wrap_up)).label("late_wrap_ups"),
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
        within_target_duration=row.within_target,
        operator_hung_up_first=row.operator_first,
        satisfaction_satisfied=row.satisfaction_satisfied,
        satisfaction_suggestion=row.satisfaction_suggestion,
        satisfaction_invalid=row.satisfaction_invalid,
        satisfaction_no_answer=row.satisfaction_no_answer,
        incomplete=row.incomplete,
        late_wrap_ups=row.late_wrap_ups,
    )


async def summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    hold_severe_seconds: float,
    call_target_seconds: float,
    group_by: GroupBy | None = None,
    zone: str = "UTC",
    wrap_up: timedelta = DEFAULT_WRAP_UP,
) -> Summary:
    """Counts of the inbound calls offered in ``[start, end)``, in total and per group.

    ``hour``/``day`` buckets are cut in the time zone ``zone`` (the call centre's), so a
    day is a local day also across daylight-saving changes; only buckets with calls are
    returned, oldest first. ``operator`` groups by ``operator_id`` (``None``: unanswered),
    ``None`` last.
    """
    query = summary_query(
        start,
        end,
        hold_severe_seconds=hold_severe_seconds,
        call_target_seconds=call_target_seconds,
        group_by=group_by,
        zone=zone,
        wrap_up=wrap_up,
    )
    async with database.transaction("metrics summary") as session:
        rows = (await session.execute(query)).all()
    if group_by is None:
        return Summary(total=_counts(rows[0]), groups=None)
    groups = tuple(Group(key=row.key, counts=_counts(row)) for row in rows if row.offered)
    # The groups partition the interval's calls, and every count adds up: the total is
    # their sum (an empty interval: all zero), with no second pass over the rows.
    total = sum((g.counts for g in groups), Counts())
    return Summary(total=total, groups=groups)


def buckets(start: datetime, end: datetime, unit: GroupBy, zone: str) -> list[datetime]:
    """Starts of the hour or day buckets covering ``[start, end)`` in ``zone``, oldest first.

    Days start at local midnight (so a day is a local day across daylight-saving changes);
    hours at the local full hour, one real hour apart.
    """
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    if unit is GroupBy.DAY:
        day = local.date()
        starts = []
        while (moment := datetime.combine(day, time(0), tzinfo=tz)) < end:
            starts.append(moment)
            day += timedelta(days=1)
        return starts
    first = local.replace(minute=0, second=0, microsecond=0)
    count = math.ceil((end - first).total_seconds() / 3600)
    return [first + timedelta(hours=n) for n in range(count)]


def summary_query(
    start: datetime,
    end: datetime,
    *,
    hold_severe_seconds: float,
    call_target_seconds: float,
    group_by: GroupBy | None = None,
    zone: str = "UTC",
    wrap_up: timedelta = DEFAULT_WRAP_UP,
) -> Select[Any]:
    """The one statement :func:`summary` runs (also what the benchmark explains).

    By operator: a plain ``GROUP BY operator_id`` (few distinct values: a hash aggregate).
    By hour or day: the bucket bounds are computed here and joined as ``unnest`` of two
    arrays, each bucket aggregated by a lateral range scan of the ``offered_at`` index — no
    sort of the interval's rows, no time-zone arithmetic per row. ``GROUP BY date_trunc(…)``
    made PostgreSQL expect one group per distinct ``offered_at`` and sort every row (on
    disk for a year); see benchmarks/README.md.
    """
    c = CallRow
    aggregates = _aggregates(hold_severe_seconds, call_target_seconds, wrap_up)
    if group_by is None:
        where = and_(c.direction == "inbound", c.offered_at >= start, c.offered_at < end)
        return select(*aggregates).where(where)
    if group_by is GroupBy.OPERATOR:
        where = and_(c.direction == "inbound", c.offered_at >= start, c.offered_at < end)
        key = c.operator_id.expression
        return (
            select(key.label("key"), *aggregates)
            .where(where)
            .group_by(key)
            .order_by(key.asc().nulls_last())
        )
    starts = buckets(start, end, group_by, zone)
    # Clip the first and last bucket to the interval: only calls in [start, end) count.
    lows = [max(s, start) for s in starts]
    highs = [min(s, end) for s in [*starts[1:], end]]
    array_type = ARRAY(DateTime(timezone=True))
    bounds = (
        func.unnest(
            bindparam("bucket_starts", starts, type_=array_type),
            bindparam("bucket_lows", lows, type_=array_type),
            bindparam("bucket_highs", highs, type_=array_type),
        )
        .table_valued("key", "low", "high")
        .render_derived(name="bucket", with_types=False)
    )
    per_bucket = (
        select(*aggregates)
        .where(c.direction == "inbound", c.offered_at >= bounds.c.low, c.offered_at < bounds.c.high)
        .lateral("figures")
    )
    return (
        select(bounds.c.key.label("key"), per_bucket)
        .select_from(bounds.join(per_bucket, true()))
        .order_by(bounds.c.key)
    )


async def callback_summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    service_due_minutes: int,
) -> CallbackCounts:
    """Counts of the callbacks due in ``[start, end)`` (S5); read-only over the callback tables.

    The completing attempt of a callback is its last attempt with outcome ``completed`` or
    ``connected`` (a return call handed to the operators): a lateral subquery per callback,
    served by the ``(callback_id, attempt_no)`` key.
    Overdue is judged at ``now``.
    """
    cb = CallbackRow
    a = CallbackAttemptRow
    last = (
        select(a.started_at.label("started_at"))
        # A return call (S8) completes by being handed to the operators: ``connected``.
        .where(a.callback_id == cb.callback_id, a.outcome.in_(("completed", "connected")))
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
            _count(and_(cb.status.in_(OPEN_STATUSES), cb.deadline < now)).label("open_overdue"),
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


@dataclass(frozen=True)
class Breach:
    """A call that broke a standard, for the dashboard's list of latest breaches."""

    call_id: str
    ended_at: datetime
    operator_id: str | None
    caller_number: str | None
    kinds: tuple[str, ...]
    ring_seconds: float | None
    max_hold_seconds: float | None
    talk_seconds: float | None


@dataclass
class OpenCallbacks:
    """Callbacks not finished yet, as last counted (exported as gauges)."""

    #: Pending or in progress (cancelled and finished ones left out).
    open: int = 0
    #: Of those, the ones whose deadline has passed.
    overdue: int = 0


async def count_open_callbacks(database: Database) -> OpenCallbacks:
    """Open callbacks and the overdue ones among them, at the database's ``now()``."""
    cb = CallbackRow
    query = select(
        func.count().label("open"),
        _count(cb.deadline < func.now()).label("overdue"),
    ).where(cb.status.in_(OPEN_STATUSES))
    async with database.transaction("open callbacks") as session:
        row = (await session.execute(query)).one()
    return OpenCallbacks(open=row.open, overdue=row.overdue)


async def latest_breaches(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    limit: int = 20,
    wrap_up: timedelta | None = None,
) -> list[Breach]:
    """The inbound calls offered in ``[start, end)`` that broke a standard, latest end first;
    with ``wrap_up`` (S8's time), also those whose record is late (``late_wrap_up``)."""
    c = CallRow
    conditions = dict(STANDARD_BREACH_SQL)
    if wrap_up is not None:
        conditions[LATE_WRAP_UP] = late_wrap_up_sql(wrap_up)
    flags = [condition.label(kind) for kind, condition in conditions.items()]
    query = (
        select(
            c.call_id,
            c.ended_at,
            c.operator_id,
            c.caller_number,
            c.ring_seconds,
            c.max_hold_seconds,
            c.talk_seconds,
            *flags,
        )
        .where(c.direction == "inbound", c.offered_at >= start, c.offered_at < end)
        .where(or_(*conditions.values()))
        .order_by(c.ended_at.desc(), c.call_id)
        .limit(limit)
    )
    async with database.transaction("latest breaches") as session:
        rows = (await session.execute(query)).all()
    return [
        Breach(
            call_id=row.call_id,
            ended_at=row.ended_at,
            operator_id=row.operator_id,
            caller_number=row.caller_number,
            kinds=tuple(kind for kind in conditions if getattr(row, kind)),
            ring_seconds=row.ring_seconds,
            max_hold_seconds=row.max_hold_seconds,
            talk_seconds=row.talk_seconds,
        )
        for row in rows
    ]
