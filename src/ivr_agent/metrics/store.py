"""Queries over the callbacks and the calls' breaches for the metrics API and ``/metrics``.

The summary's counts of calls are :mod:`ivr_agent.metrics.counts` (re-exported here);
callbacks are counted by ``due_at`` (S5), breaches listed latest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select

from ivr_agent.core.breaches import LATE_WRAP_UP
from ivr_agent.core.callbacks import OPEN_STATUSES
from ivr_agent.db.breaches import STANDARD_BREACH_SQL, late_wrap_up_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow, CallRow
from ivr_agent.metrics.callback_counts import callback_summary
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
    pbx_ids: Sequence[str] | None = None,
) -> list[Breach]:
    """The inbound calls offered in ``[start, end)`` that broke a standard, latest end first;
    with ``wrap_up`` (S8's time), also those whose record is late (``late_wrap_up``); of the
    PBXs ``pbx_ids`` only, when given."""
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
    if pbx_ids is not None:
        query = query.where(c.pbx_id.in_(pbx_ids))
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
