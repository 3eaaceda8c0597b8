"""Queries over the callbacks and the calls' breaches for the metrics API and ``/metrics``.

The summary's counts of calls are :mod:`ivr_agent.metrics.counts` (re-exported here);
callbacks are counted by ``due_at`` (S5), breaches listed latest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, true

from ivr_agent.core.breaches import LATE_WRAP_UP
from ivr_agent.core.callbacks import OPEN_STATUSES
from ivr_agent.core.figures import CallbackCounts
from ivr_agent.db.breaches import STANDARD_BREACH_SQL, late_wrap_up_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow, CallRow
from ivr_agent.metrics.counts import Group, GroupBy, Summary, summary

__all__ = [
    "Breach",
    "Group",
    "GroupBy",
    "OpenCallbacks",
    "Summary",
    "callback_summary",
    "count_open_callbacks",
    "latest_breaches",
    "summary",
]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


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
