"""The complaint feature: its API, and the runner that chases, escalates and settles
complaints by their callbacks (started by the composition root)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ivr_agent.complaints.http import directory_of, setup_complaints_api
from ivr_agent.complaints.pages import setup_complaint_pages
from ivr_agent.complaints.runner import Chaser
from ivr_agent.core.complaints import ChaseSettings
from ivr_agent.platform.keys import DATABASE, NOTIFIER, SETTINGS
from ivr_agent.platform.tasks import background
from ivr_agent.settings import Settings

#: Replaces the runner's clock before the app starts (time-scaled tests).
CHASER_CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("complaint_chaser_clock")
#: The runner while it runs (tests read its stats, or run a round at once).
CHASER: web.AppKey[Chaser] = web.AppKey("complaint_chaser", Chaser)


def chase_settings(settings: Settings) -> ChaseSettings:
    """S7's chase and escalation times from the settings."""
    return ChaseSettings(
        chase_after=timedelta(days=settings.complaint_chase_days),
        escalate_after=timedelta(hours=settings.complaint_escalation_hours),
    )


def setup(app: web.Application) -> None:
    """``/api/complaints`` and its sub-routes; the ``/complaints`` pages."""
    setup_complaints_api(app)
    setup_complaint_pages(app)


@contextlib.asynccontextmanager
async def running_chaser(app: web.Application) -> AsyncIterator[Chaser]:
    """Run the complaint runner while the block runs (its ``stats`` are for ``/metrics``)."""
    settings = app[SETTINGS]
    chaser = Chaser(
        app[DATABASE],
        directory_of(app),
        app[NOTIFIER],
        chase_settings(settings),
        zone=settings.zone,
        now=app.get(CHASER_CLOCK) or (lambda: datetime.now(UTC)),
        every=settings.complaint_check_seconds,
    )
    app[CHASER] = chaser
    async with background(chaser.run(), "complaint-chaser"):
        yield chaser


__all__ = [
    "CHASER",
    "CHASER_CLOCK",
    "chase_settings",
    "running_chaser",
]
