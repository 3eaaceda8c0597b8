"""The campaign scheduler: on a campaign's run day, create the run's callbacks (once).

Each tick (every :data:`TICK_SECONDS`, and at once when woken, e.g. after a campaign is
created) looks at every active campaign and creates its latest run day's run if it does not
exist yet (``core.campaigns.latest_run_date``: today's on a run day, including an agent
started later that day; the latest missed one after an outage; never an older one). Creating
is idempotent in PostgreSQL (``campaigns.store.create_run``), so every agent sharing the
database may run a scheduler and a tick may be repeated. Time comes from an injected clock,
and the calling calendar from a function read on each tick (the holiday file may change).
The dialer then dials the callbacks like any other: due at the run day's first window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from ivr_agent.campaigns.store import RunResult, active_campaigns, create_run
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.campaigns import latest_run_date, parse_days
from ivr_agent.core.ids import DEFAULT_PBX_ID
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: How often the scheduler looks for a run to create: runs are per day, a minute is prompt.
TICK_SECONDS = 60.0
#: How far back runs are read to know whether the latest run day has its run (the latest
#: run day is at most a month and a half back: every month has one).
_LOOKBACK = timedelta(days=62)


async def create_due_runs(
    db: Database, config: CallbackConfig, now: datetime, *, pbx_id: str = DEFAULT_PBX_ID
) -> list[RunResult]:
    """Create the due run of every active campaign that lacks it; the runs this call made.
    Their callbacks are dialled through ``pbx_id`` (the creating agent's PBX).

    A run counts as made by this call only if it created the run row (another agent racing
    for it gets ``created=False`` and is not listed).
    """
    today = now.astimezone(config.zone).date()
    made = []
    for campaign in await active_campaigns(db, today - _LOOKBACK):
        day = latest_run_date(parse_days(campaign.days), today, campaign.starts_on)
        if day is None or day in campaign.runs:
            continue
        result = await create_run(db, campaign.campaign_id, day, config, now, pbx_id=pbx_id)
        if result.created:
            log.info(
                "campaign_run_created",
                campaign_id=result.campaign_id,
                run_date=day.isoformat(),
                callbacks=result.callbacks,
                late=day < today,
            )
            made.append(result)
    return made


class CampaignScheduler:
    """Runs :func:`create_due_runs` every tick until cancelled; :meth:`wake` ticks now."""

    def __init__(
        self,
        db: Database,
        config: Callable[[], CallbackConfig],
        *,
        now: Callable[[], datetime],
        on_runs: Callable[[list[RunResult]], None] | None = None,
        tick_seconds: float = TICK_SECONDS,
        pbx_id: str = DEFAULT_PBX_ID,
    ) -> None:
        self.db = db
        #: The PBX the runs' callbacks are dialled through (this agent's).
        self.pbx_id = pbx_id
        self.config = config
        self.now = now
        self.on_runs = on_runs
        self.tick_seconds = tick_seconds
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Tick now (a campaign was created or resumed)."""
        self._woken.set()

    async def tick(self) -> list[RunResult]:
        """One look for due runs; a database outage is logged and retried next tick."""
        try:
            made = await create_due_runs(self.db, self.config(), self.now(), pbx_id=self.pbx_id)
        except StoreError as exc:
            log.warning("campaign_scheduler_store_error", error=str(exc))
            return []
        except Exception as exc:
            # A fault in one tick (e.g. a calendar with no working day) must not end the
            # task for good: it is logged and the next tick tries again.
            log.error("campaign_scheduler_failed", error=repr(exc))
            return []
        if made and self.on_runs is not None:
            self.on_runs(made)
        return made

    async def run(self) -> None:
        """Tick forever (a background task of the app)."""
        while True:
            self._woken.clear()
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.tick_seconds)
