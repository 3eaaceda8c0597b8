"""Reading campaigns back: the list, and one campaign with its figures per run and overall.

SQL counts the callbacks of each run by status (``campaign_figures`` of ``core.campaigns``
turns the counts into figures with their formulas). Times go out in the call centre's zone.
"""

from __future__ import annotations

from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import in_transaction
from ivr_agent.core.campaigns import RunCounts, campaign_figures, next_run_after, parse_days
from ivr_agent.core.ids import is_uuid
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow, CampaignCustomerRow, CampaignRow, CampaignRunRow


def _summary(
    row: CampaignRow, customers: int, runs: int, zone: tzinfo, today: date
) -> dict[str, Any]:
    days = parse_days(row.days)
    return {
        "campaign_id": row.campaign_id,
        "name": row.name,
        "days": list(days),
        "calling_windows": row.calling_windows,
        "active": row.active,
        "starts_on": row.starts_on.isoformat(),
        "next_run": next_run_after(days, max(today, row.starts_on) - timedelta(days=1)).isoformat()
        if row.active
        else None,
        "customers": customers,
        "run_count": runs,
        "created_at": row.created_at.astimezone(zone).isoformat(),
    }


async def list_campaigns(db: Database, zone: tzinfo, today: date) -> list[dict[str, Any]]:
    """Every campaign, oldest first: days, windows, state, customers, runs, next run day."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        customers = (
            select(CampaignCustomerRow.campaign_id, func.count().label("n"))
            .group_by(CampaignCustomerRow.campaign_id)
            .subquery()
        )
        runs = (
            select(CampaignRunRow.campaign_id, func.count().label("n"))
            .group_by(CampaignRunRow.campaign_id)
            .subquery()
        )
        rows = (
            await session.execute(
                select(CampaignRow, customers.c.n, runs.c.n)
                .outerjoin(customers, customers.c.campaign_id == CampaignRow.campaign_id)
                .outerjoin(runs, runs.c.campaign_id == CampaignRow.campaign_id)
                .order_by(CampaignRow.created_at, CampaignRow.campaign_id)
            )
        ).all()
        return [_summary(row, n or 0, r or 0, zone, today) for row, n, r in rows]

    return await in_transaction(db, "list campaigns", work)


def _counts_columns() -> list[Any]:
    status = CallbackRow.status
    scored = (status == "completed") & CallbackRow.satisfaction_index.is_not(None)
    return [
        func.count(),
        func.count().filter(status == "completed"),
        func.count().filter(status == "declined"),
        func.count().filter(status == "unreachable"),
        func.count().filter(status == "cancelled"),
        func.count().filter(status.in_(("pending", "in_progress"))),
        func.count().filter(CallbackRow.overdue),
        func.coalesce(func.sum(CallbackRow.satisfaction_index).filter(scored), 0.0),
        func.count().filter(scored),
    ]


def _run_counts(values: list[Any]) -> RunCounts:
    """The row of :func:`_counts_columns`, in :class:`RunCounts`' field order."""
    callbacks, completed, declined, unreachable, cancelled, still_open, overdue = (
        int(v) for v in values[:7]
    )
    return RunCounts(
        callbacks=callbacks,
        completed=completed,
        declined=declined,
        unreachable=unreachable,
        cancelled=cancelled,
        open=still_open,
        overdue=overdue,
        satisfaction_sum=float(values[7]),
        satisfaction_scored=int(values[8]),
    )


async def get_campaign(
    db: Database, campaign_id: str, zone: tzinfo, today: date
) -> dict[str, Any] | None:
    """One campaign with its runs (newest first), each with its figures, and the figures of
    all its runs together; None if there is none with this id."""
    if not is_uuid(campaign_id):
        return None

    async def work(session: AsyncSession) -> dict[str, Any] | None:
        row = await session.get(CampaignRow, campaign_id)
        if row is None:
            return None
        customers = int(
            await session.scalar(
                select(func.count()).where(CampaignCustomerRow.campaign_id == campaign_id)
            )
            or 0
        )
        runs = (
            await session.scalars(
                select(CampaignRunRow)
                .where(CampaignRunRow.campaign_id == campaign_id)
                .order_by(CampaignRunRow.run_date.desc())
            )
        ).all()
        counted = {
            day: _run_counts(values)
            for day, *values in (
                await session.execute(
                    select(CallbackRow.run_date, *_counts_columns())
                    .where(CallbackRow.campaign_id == campaign_id)
                    .group_by(CallbackRow.run_date)
                )
            ).all()
        }
        total = RunCounts()
        listed = []
        for run in runs:
            counts = counted.get(run.run_date, RunCounts())
            total += counts
            listed.append(
                {
                    "run_date": run.run_date.isoformat(),
                    "created_at": run.created_at.astimezone(zone).isoformat(),
                    "figures": campaign_figures(customers, counts, "the run"),
                }
            )
        return _summary(row, customers, len(runs), zone, today) | {
            "figures": campaign_figures(customers, total, "all runs"),
            "runs": listed,
        }

    return await in_transaction(db, "read campaign", work)


async def campaign_customers(db: Database, campaign_id: str) -> list[tuple[str, str | None]]:
    """The campaign's list in its imported order: ``(number, name)``."""

    async def work(session: AsyncSession) -> list[tuple[str, str | None]]:
        rows = await session.execute(
            select(CampaignCustomerRow.customer_number, CampaignCustomerRow.customer_name)
            .where(CampaignCustomerRow.campaign_id == campaign_id)
            .order_by(CampaignCustomerRow.position)
        )
        return [(number, name) for number, name in rows.all()]

    return await in_transaction(db, "read campaign customers", work)
