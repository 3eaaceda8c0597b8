"""Listing complaints: by registration time, with the filters of ``GET /api/complaints``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select

from ivr_agent.complaints.model import Complaint
from ivr_agent.core.complaints import OPEN
from ivr_agent.db.database import Database
from ivr_agent.db.models import ComplaintRow

#: Largest page :func:`list_complaints` returns.
MAX_PAGE = 500


@dataclass(frozen=True)
class ComplaintFilter:
    """Which complaints to list; ``None`` leaves a filter out."""

    state: str | None = None
    department_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    overdue: bool | None = None
    escalated: bool | None = None


def overdue_sql(now: datetime, chase_after: timedelta) -> ColumnElement[bool]:
    """SQL for :func:`ivr_agent.core.complaints.overdue`: open and silent too long."""
    c = ComplaintRow
    return and_(c.state.in_(sorted(OPEN)), c.silent_since < now - chase_after)


def _conditions(
    f: ComplaintFilter, now: datetime, chase_after: timedelta
) -> list[ColumnElement[bool]]:
    c = ComplaintRow
    conditions: list[ColumnElement[bool]] = []
    if f.state is not None:
        conditions.append(c.state == f.state)
    if f.department_id is not None:
        conditions.append(c.department_id == f.department_id)
    if f.created_from is not None:
        conditions.append(c.created_at >= f.created_from)
    if f.created_to is not None:
        conditions.append(c.created_at < f.created_to)
    if f.overdue is not None:
        late = overdue_sql(now, chase_after)
        conditions.append(late if f.overdue else ~late)
    if f.escalated is not None:
        conditions.append(c.escalated_at.is_not(None) if f.escalated else c.escalated_at.is_(None))
    return conditions


async def list_complaints(
    db: Database,
    filters: ComplaintFilter,
    *,
    now: datetime,
    chase_after: timedelta,
    limit: int = 100,
    offset: int = 0,
) -> list[Complaint]:
    """The complaints matching ``filters``, latest registered first (without timelines)."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_PAGE} and offset >= 0")
    query = (
        select(ComplaintRow)
        .where(*_conditions(filters, now, chase_after))
        .order_by(ComplaintRow.created_at.desc(), ComplaintRow.complaint_id)
        .limit(limit)
        .offset(offset)
    )
    async with db.transaction("list complaints") as session:
        return [Complaint(row) for row in await session.scalars(query)]
