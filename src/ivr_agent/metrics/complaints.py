"""Counting the complaints of an interval for the S7 figures (``core/figures.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ivr_agent.core.complaints import OPEN, RESOLVED
from ivr_agent.core.figures import ComplaintCounts
from ivr_agent.db.database import Database
from ivr_agent.db.models import ComplaintRow


async def complaint_summary(
    database: Database, start: datetime, end: datetime, *, now: datetime, chase_after: timedelta
) -> ComplaintCounts:
    """The complaints registered in ``[start, end)``: how many, and of those how many are
    resolved (or confirmed), overdue at ``now``, and were ever escalated."""
    c = ComplaintRow
    is_open = c.state.in_(sorted(OPEN))
    query = select(
        func.count().label("registered"),
        func.count().filter(c.state.in_(sorted(RESOLVED))).label("resolved"),
        func.count().filter(is_open, c.silent_since < now - chase_after).label("overdue"),
        func.count().filter(c.escalated_at.is_not(None)).label("escalated"),
    ).where(c.created_at >= start, c.created_at < end)
    async with database.transaction("complaint summary") as session:
        row = (await session.execute(query)).one()
    return ComplaintCounts(
        registered=row.registered,
        resolved=row.resolved,
        overdue=row.overdue,
        escalated=row.escalated,
    )
