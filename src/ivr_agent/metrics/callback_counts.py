"""The summary's callback figures (S5): callbacks counted by ``due_at``, from the roll-ups
(``rollup_callbacks``, migration 0014) for whole grains and from the callback tables for
the partial edges — the same counts either way.

A callback's completing attempt is its last attempt with outcome ``completed`` (a survey) or
``connected`` (a return call handed to the operators, S8): in the raw query a lateral
subquery per callback, served by the ``(callback_id, attempt_no)`` key. Overdue is judged
at ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy import (
    Numeric as SqlNumeric,
)

from ivr_agent.core.callbacks import OPEN_STATUSES
from ivr_agent.core.figures import CallbackCounts
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallbackAttemptRow,
    CallbackRow,
    RollupCallbackFactsRow,
    RollupCallbacksRow,
)
from ivr_agent.metrics.rollups import read_basis, split

#: The values both queries return, in this order.
_VALUES = (
    "due",
    "completed",
    "open_overdue",
    "completed_late",
    "service_due",
    "service_within",
    "satisfaction_sum",
    "satisfaction_scored",
)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def raw_callback_query(
    ranges: list[tuple[datetime, datetime]],
    *,
    now: datetime,
    service_due_minutes: int,
    pbx_ids: Sequence[str] | None = None,
) -> Select[Any]:
    """The counts of the callbacks due in ``ranges`` (``[low, high)`` each), from the
    callback tables (of the PBXs ``pbx_ids`` only, when given); cancelled callbacks do not
    count."""
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
    due = or_(*(and_(cb.due_at >= low, cb.due_at < high) for low, high in ranges))
    query = (
        select(
            func.count().label("due"),
            _count(completed).label("completed"),
            _count(and_(cb.status.in_(OPEN_STATUSES), cb.deadline < now)).label("open_overdue"),
            _count(and_(completed, last.c.started_at > cb.deadline)).label("completed_late"),
            _count(service).label("service_due"),
            _count(and_(service, completed, within)).label("service_within"),
            # An exact decimal sum, as the roll-ups keep it.
            func.coalesce(
                func.sum(cast(cb.satisfaction_index, SqlNumeric)).filter(scored), 0
            ).label("satisfaction_sum"),
            _count(scored).label("satisfaction_scored"),
        )
        .select_from(cb)
        .outerjoin(last, true())
        .where(due, cb.status != "cancelled")
    )
    return query if pbx_ids is None else query.where(cb.pbx_id.in_(pbx_ids))


def rolled_callback_query(
    low: datetime, high: datetime, *, now: datetime, pbx_ids: Sequence[str] | None = None
) -> Select[Any]:
    """The counts of the roll-up rows of ``[low, high)`` (whole grains; of the PBXs
    ``pbx_ids`` only, when given). A row's open callbacks are all overdue once its latest
    open deadline has passed; until then they are counted from the kept facts of that row."""
    r = RollupCallbacksRow
    k = RollupCallbackFactsRow
    overdue_now = (
        select(func.count())
        .where(k.bucket_start == r.bucket_start, k.pbx_id == r.pbx_id, k.open_deadline < now)
        .scalar_subquery()
    )
    overdue = case(((r.open == 0) | (r.open_last_deadline < now), r.open), else_=overdue_now)
    columns: list[ColumnElement[Any]] = [
        func.coalesce(func.sum(r.due), 0).label("due"),
        func.coalesce(func.sum(r.completed), 0).label("completed"),
        cast(func.coalesce(func.sum(overdue), 0), BigInteger).label("open_overdue"),
        func.coalesce(func.sum(r.late), 0).label("completed_late"),
        func.coalesce(func.sum(r.service_due), 0).label("service_due"),
        func.coalesce(func.sum(r.service_within), 0).label("service_within"),
        func.coalesce(func.sum(r.satisfaction_sum), 0).label("satisfaction_sum"),
        func.coalesce(func.sum(r.scored), 0).label("satisfaction_scored"),
    ]
    query = select(*columns).where(r.bucket_start >= low, r.bucket_start < high)
    return query if pbx_ids is None else query.where(r.pbx_id.in_(pbx_ids))


async def callback_summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    service_due_minutes: int,
    use_rollups: bool = True,
    pbx_ids: Sequence[str] | None = None,
) -> CallbackCounts:
    """Counts of the callbacks due in ``[start, end)`` (S5), of the PBXs ``pbx_ids`` only
    when given; read-only. The roll-ups serve the whole grains when they were built with
    ``service_due_minutes``."""
    totals = [Decimal(0)] * len(_VALUES)
    async with database.transaction("callback summary") as session:
        conn = await session.connection()
        basis = await read_basis(session) if use_rollups else None
        edges = [(0, start, end)]
        if basis is not None and basis.callback_service_due_minutes == service_due_minutes:
            inner, edges, _grains = split(edges, basis.grain_seconds)
            if inner:
                rolled = rolled_callback_query(*inner[0][1:], now=now, pbx_ids=pbx_ids)
                row = (await conn.execute(rolled)).one()
                totals = [
                    t + Decimal(row._mapping[v]) for t, v in zip(totals, _VALUES, strict=True)
                ]
        if edges:
            query = raw_callback_query(
                [(low, high) for _n, low, high in edges],
                now=now,
                service_due_minutes=service_due_minutes,
                pbx_ids=pbx_ids,
            )
            row = (await conn.execute(query)).one()
            totals = [t + Decimal(row._mapping[v]) for t, v in zip(totals, _VALUES, strict=True)]
    values = dict(zip(_VALUES, totals, strict=True))
    return CallbackCounts(
        due=int(values["due"]),
        completed=int(values["completed"]),
        open_overdue=int(values["open_overdue"]),
        completed_late=int(values["completed_late"]),
        service_due=int(values["service_due"]),
        service_within=int(values["service_within"]),
        satisfaction_sum=float(values["satisfaction_sum"]),
        satisfaction_scored=int(values["satisfaction_scored"]),
    )
