"""Campaigns in PostgreSQL: create one with its list, pause or resume it, create a run.

A run is created in one transaction: its ``campaign_runs`` row (primary key campaign + local
date), then one callback per customer of the list by ``INSERT … SELECT … ON CONFLICT DO
NOTHING`` on the unique index ``(campaign_id, run_date, customer_number)``. Two agents, or a
tick repeated after a crash, creating the same run at once never create a second callback
for a customer: the second waits on the first's run row and then inserts nothing. The
callbacks are scheduled by the pure rules (``core.callbacks.schedule``, reason
``campaign``) with the campaign's own windows, which each callback keeps
(``calling_windows``) for the dialer's re-check and retries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import Boolean, Date, Text, Uuid, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import in_transaction, utc
from ivr_agent.core.callbacks import CallbackConfig, Window, local_instant, schedule
from ivr_agent.core.campaigns import (
    Customer,
    check_campaign_name,
    format_days,
    format_windows,
    stored_windows,
)
from ivr_agent.core.ids import DEFAULT_PBX_ID, is_uuid
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallbackRow,
    CampaignCustomerRow,
    CampaignRow,
    CampaignRunRow,
    Timestamp,
)

#: Customers per INSERT of a list (asyncpg allows 32767 parameters per statement).
_CHUNK = 5000


class CampaignNotFound(LookupError):
    """No campaign with the given id."""


class CampaignExists(ValueError):
    """A campaign with this name already exists (names are unique)."""


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to create, already checked (``core.campaigns``): its list deduplicated."""

    name: str
    days: tuple[int, ...]
    windows: tuple[Window, ...] | None
    customers: list[Customer]


@dataclass(frozen=True)
class RunResult:
    """A run the scheduler looked at: whether this call created it, and its callbacks."""

    campaign_id: str
    run_date: date
    created: bool
    callbacks: int


async def create_campaign(db: Database | AsyncSession, new: NewCampaign, starts_on: date) -> str:
    """Store a campaign with its list, active from local date ``starts_on``; its id.

    :class:`CampaignExists` if the name is taken; ``ValueError`` for a bad name. All or
    nothing: the campaign and every customer, or nothing. With an open session the caller
    owns the transaction.
    """
    name = check_campaign_name(new.name)
    campaign_id = str(uuid.uuid4())

    async def work(session: AsyncSession) -> str:
        taken = await session.scalar(
            select(CampaignRow.campaign_id).where(CampaignRow.name == name)
        )
        if taken is not None:
            raise CampaignExists(f"name: a campaign named {name!r} exists ({taken})")
        session.add(
            CampaignRow(
                campaign_id=campaign_id,
                name=name,
                days=format_days(new.days),
                calling_windows=None if new.windows is None else format_windows(new.windows),
                starts_on=starts_on,
            )
        )
        await session.flush()
        rows = [
            {
                "campaign_id": campaign_id,
                "customer_number": c.number,
                "customer_name": c.name,
                "position": n,
            }
            for n, c in enumerate(new.customers, start=1)
        ]
        for start in range(0, len(rows), _CHUNK):
            await session.execute(insert(CampaignCustomerRow), rows[start : start + _CHUNK])
        return campaign_id

    return await in_transaction(db, "create campaign", work)


async def set_active(
    db: Database | AsyncSession, campaign_id: str, active: bool, now: datetime
) -> int:
    """Resume (``active``) or pause a campaign; how many callbacks pausing cancelled.

    With an open session the caller owns the transaction. Pausing stops new runs and
    cancels the campaign's callbacks still ``pending`` (one being dialled finishes);
    resuming lets the next run day create its run — a run already created (its customers
    cancelled by the pause) is not made again.
    """
    at = utc("now", now)

    async def work(session: AsyncSession) -> int:
        row = await _campaign(session, campaign_id, lock=True)
        row.active = active
        row.updated_at = at
        if active:
            return 0
        result = await session.execute(
            update(CallbackRow)
            .where(CallbackRow.campaign_id == campaign_id, CallbackRow.status == "pending")
            .values(status="cancelled", status_reason="campaign paused", updated_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    return await in_transaction(db, "pause or resume campaign", work)


async def _campaign(session: AsyncSession, campaign_id: str, *, lock: bool = False) -> CampaignRow:
    if not is_uuid(campaign_id):
        raise CampaignNotFound(f"no campaign {campaign_id!r}")
    row = await session.get(CampaignRow, campaign_id, with_for_update=lock)
    if row is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return row


async def create_run(
    db: Database,
    campaign_id: str,
    run_date: date,
    config: CallbackConfig,
    now: datetime,
    *,
    pbx_id: str = DEFAULT_PBX_ID,
) -> RunResult:
    """Create the run of ``campaign_id`` on local ``run_date`` with one callback per customer,
    unless it exists (see the module's docstring); scheduled from ``now``, dialled through
    ``pbx_id``."""
    current = utc("now", now)

    async def work(session: AsyncSession) -> RunResult:
        campaign = await _campaign(session, campaign_id)
        made = await session.scalar(
            pg_insert(CampaignRunRow)
            .values(campaign_id=campaign_id, run_date=run_date, callbacks=0)
            .on_conflict_do_nothing()
            .returning(CampaignRunRow.run_date)
        )
        own = stored_windows(campaign.calling_windows)
        reference = local_instant(run_date, time(0), config.zone)
        plan = schedule("campaign", reference, current, config, windows=own)
        customers = select(
            func.gen_random_uuid(),
            literal(pbx_id, Text()),
            CampaignCustomerRow.customer_number,
            CampaignCustomerRow.customer_name,
            literal("campaign"),
            literal(reference, Timestamp),
            literal(plan.due_at, Timestamp),
            literal(plan.deadline, Timestamp),
            literal("pending"),
            literal(plan.due_at, Timestamp),
            literal(plan.overdue, Boolean()),
            literal(f"campaign run {run_date.isoformat()}"),
            literal(campaign_id, Uuid(as_uuid=False)),
            literal(run_date, Date()),
            literal(campaign.calling_windows, Text()),
        ).where(CampaignCustomerRow.campaign_id == campaign_id)
        columns = [
            "callback_id",
            "pbx_id",
            "customer_number",
            "customer_name",
            "reason",
            "reference_time",
            "due_at",
            "deadline",
            "status",
            "next_attempt_at",
            "overdue",
            "status_reason",
            "campaign_id",
            "run_date",
            "calling_windows",
        ]
        # Even when the run row exists: the unique index makes a repeat insert nothing.
        await session.execute(
            pg_insert(CallbackRow)
            .from_select(columns, customers)
            .on_conflict_do_nothing(
                index_elements=["campaign_id", "run_date", "customer_number"],
                index_where=CallbackRow.campaign_id.is_not(None),
            )
        )
        count = await session.scalar(
            select(func.count()).where(
                CallbackRow.campaign_id == campaign_id, CallbackRow.run_date == run_date
            )
        )
        await session.execute(
            update(CampaignRunRow)
            .where(CampaignRunRow.campaign_id == campaign_id, CampaignRunRow.run_date == run_date)
            .values(callbacks=count)
        )
        return RunResult(campaign_id, run_date, made is not None, int(count or 0))

    return await in_transaction(db, "create campaign run", work)


@dataclass(frozen=True)
class ActiveCampaign:
    """What the scheduler needs of an active campaign."""

    campaign_id: str
    days: str
    starts_on: date
    runs: frozenset[date]


async def active_campaigns(db: Database, since: date) -> list[ActiveCampaign]:
    """Active campaigns with their runs on or after ``since`` (enough to know whether the
    latest run day has its run)."""

    async def work(session: AsyncSession) -> list[ActiveCampaign]:
        campaigns = (
            await session.scalars(
                select(CampaignRow).where(CampaignRow.active).order_by(CampaignRow.created_at)
            )
        ).all()
        runs = (
            await session.execute(
                select(CampaignRunRow.campaign_id, CampaignRunRow.run_date).where(
                    CampaignRunRow.run_date >= since
                )
            )
        ).all()
        by_campaign: dict[str, set[date]] = {}
        for cid, day in runs:
            by_campaign.setdefault(str(cid), set()).add(day)
        return [
            ActiveCampaign(
                c.campaign_id, c.days, c.starts_on, frozenset(by_campaign.get(c.campaign_id, ()))
            )
            for c in campaigns
        ]

    return await in_transaction(db, "list active campaigns", work)
