"""Counting the complaints of an interval for the S7 figures (``core/figures.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from ivr_agent.core.complaints import COMPLAINT_STATES, OPEN, RESOLVED
from ivr_agent.core.figures import ComplaintCounts
from ivr_agent.core.records import RECORD_TYPES
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallRecordRow, CallRow, ComplaintRow
from ivr_agent.metrics.pbxs import complaint_of_pbxs

#: How the daily complaint statistics (S7) are counted, stated beside them.
STATISTICS_FORMULA = (
    "by_department and by_state: count of complaints with created_at in [from, to) per "
    "handling department (null: not assigned yet) and per state now; records_by_type: count "
    "of the current call records (latest version) of the inbound calls offered in [from, to) "
    "per type"
)


#: The per-operator complaint count in ``group_by=operator`` (and the monthly assessment).
OPERATOR_COMPLAINTS_FORMULA = (
    "count of complaints with created_at in [from, to) registered about a call this operator "
    "answered (a complaint without a call, e.g. from a service callback, is nobody's)"
)


async def complaints_by_operator(
    database: Database,
    start: datetime,
    end: datetime,
    pbx_ids: Sequence[str] | None = None,
) -> dict[str | None, int]:
    """How many complaints registered in ``[start, end)`` concern each operator's calls
    (of the PBXs ``pbx_ids`` only, when given)."""
    query = (
        select(CallRow.operator_id, func.count())
        .select_from(ComplaintRow)
        .join(CallRow, CallRow.call_id == ComplaintRow.call_id)
        .where(ComplaintRow.created_at >= start, ComplaintRow.created_at < end)
        .group_by(CallRow.operator_id)
    )
    if pbx_ids is not None:
        query = query.where(CallRow.pbx_id.in_(pbx_ids))
    async with database.transaction("complaints by operator") as session:
        return {operator: n for operator, n in await session.execute(query)}


async def complaint_summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    chase_after: timedelta,
    pbx_ids: Sequence[str] | None = None,
) -> ComplaintCounts:
    """The complaints registered in ``[start, end)``: how many, and of those how many are
    resolved (or confirmed), overdue at ``now``, and were ever escalated; with ``pbx_ids``,
    only those about their calls or callbacks (:func:`complaint_of_pbxs`)."""
    c = ComplaintRow
    is_open = c.state.in_(sorted(OPEN))
    query = select(
        func.count().label("registered"),
        func.count().filter(c.state.in_(sorted(RESOLVED))).label("resolved"),
        func.count().filter(is_open, c.silent_since < now - chase_after).label("overdue"),
        func.count().filter(c.escalated_at.is_not(None)).label("escalated"),
    ).where(c.created_at >= start, c.created_at < end)
    if pbx_ids is not None:
        query = query.where(complaint_of_pbxs(pbx_ids))
    async with database.transaction("complaint summary") as session:
        row = (await session.execute(query)).one()
    return ComplaintCounts(
        registered=row.registered,
        resolved=row.resolved,
        overdue=row.overdue,
        escalated=row.escalated,
    )


async def complaint_statistics(
    database: Database, start: datetime, end: datetime, pbx_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """S7's daily summary of ``[start, end)``: complaints by department and by state, and
    the calls' records by type (consultation, complaint, suggestion, business); of the PBXs
    ``pbx_ids`` only, when given."""
    c = ComplaintRow
    in_interval: tuple[ColumnElement[bool], ...] = (c.created_at >= start, c.created_at < end)
    if pbx_ids is not None:
        in_interval = (*in_interval, complaint_of_pbxs(pbx_ids))
    r = CallRecordRow
    newer = select(CallRecordRow.record_id).where(CallRecordRow.supersedes == r.record_id)
    records = (
        select(r.type, func.count())
        .join(CallRow, CallRow.call_id == r.call_id)
        .where(
            CallRow.direction == "inbound",
            CallRow.offered_at >= start,
            CallRow.offered_at < end,
            ~newer.exists(),
        )
        .group_by(r.type)
    )
    if pbx_ids is not None:
        records = records.where(CallRow.pbx_id.in_(pbx_ids))
    async with database.transaction("complaint statistics") as session:
        departments = await session.execute(
            select(c.department_id, func.count()).where(*in_interval).group_by(c.department_id)
        )
        by_department = [{"department_id": d, "count": n} for d, n in departments]
        states = await session.execute(
            select(c.state, func.count()).where(*in_interval).group_by(c.state)
        )
        by_state = {state: n for state, n in states}
        by_type = {kind: n for kind, n in await session.execute(records)}
    by_department.sort(key=lambda row: (row["department_id"] is None, row["department_id"] or ""))
    return {
        "by_department": by_department,
        "by_state": {state: by_state.get(state, 0) for state in COMPLAINT_STATES},
        "records_by_type": {kind: by_type.get(kind, 0) for kind in RECORD_TYPES},
        "formula": STATISTICS_FORMULA,
    }
