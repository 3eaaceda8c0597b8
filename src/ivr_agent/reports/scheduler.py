"""The agent's report producer: each closed period's reports, without anyone asking.

Every ``poll_seconds`` it asks :func:`due_periods` which periods have closed (local time,
from an injectable clock) within the catch-up horizon and writes the reports still missing
(:meth:`ReportArchive.produce` is idempotent). Polling, rather than sleeping until the next
local midnight, survives clock jumps, daylight-saving changes, suspended hosts and a
database that was down at midnight: the next round writes what the last one could not.

Several agents sharing one database each write the reports into their own data dir.

A period that ended before the first call the database holds is not reported: a new install
would otherwise write a month of empty reports (PDFs through chromium) at its first start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select

from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import CallRow
from ivr_agent.platform.logging import get_logger
from ivr_agent.reports.archive import ReportArchive, due_periods
from ivr_agent.reports.mail import ReportMail
from ivr_agent.reports.render import ReportFormat
from ivr_agent.settings import Settings

log = get_logger(__name__)

#: How often closed periods are looked for (a day's report is at most this late).
POLL_SECONDS = 60.0


async def first_call_at(database: Database) -> datetime | None:
    """When the first call the database holds was offered (None: no call yet)."""
    async with database.transaction("first call") as session:
        first: datetime | None = await session.scalar(select(func.min(CallRow.offered_at)))
        return first


async def run_producer(
    database: Database,
    settings: Settings,
    archive: ReportArchive,
    formats: Sequence[ReportFormat],
    *,
    now: Callable[[], datetime],
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    mail: ReportMail | None = None,
) -> None:
    """Write the reports of every closed period, then again every ``poll_seconds``; forever.

    ``mail``: where each round's new reports are e-mailed (``IVR_AGENT_REPORTS_MAIL_TO``).
    """
    failing = False
    while True:
        try:
            moment = now()
            first = await first_call_at(database)
            periods = [p for p in due_periods(moment, settings) if first and p.end > first]
            written = await archive.produce(database, settings, periods, formats, now=moment)
        except StoreError as exc:
            if not failing:  # the database's readiness says the rest; retried next round
                log.warning("reports not produced", error=str(exc))
            failing = True
        else:
            failing = False
            if mail is not None and written:
                await mail.send(archive.directory, written)
        await sleep(poll_seconds)
