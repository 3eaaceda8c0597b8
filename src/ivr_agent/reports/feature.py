"""The reports feature: the routes, and the producer run while the agent runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from ivr_agent.platform.keys import DATABASE, NOTIFIER, SETTINGS
from ivr_agent.platform.tasks import background
from ivr_agent.reports.archive import ReportArchive
from ivr_agent.reports.http import ARCHIVE, setup_reports_api
from ivr_agent.reports.mail import ReportMail
from ivr_agent.reports.scheduler import POLL_SECONDS, run_producer
from ivr_agent.settings import Settings


@dataclass(frozen=True)
class ProducerClock:
    """Where the producer's time comes from and how often it looks (tests scale time)."""

    now: Callable[[], datetime]
    poll_seconds: float = POLL_SECONDS


#: Set before the app starts to replace the producer's clock (default: the real one).
PRODUCER_CLOCK = web.AppKey("report_producer_clock", ProducerClock)


def setup(app: web.Application, settings: Settings) -> ReportArchive:
    """``GET /api/reports`` and ``GET /api/reports/{id}`` over ``DATA_DIR/reports``."""
    archive = ReportArchive(settings.data_dir / "reports")
    setup_reports_api(app, archive)
    return archive


@contextlib.asynccontextmanager
async def running_producer(
    app: web.Application,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[None]:
    """Produce each closed period's reports (``IVR_AGENT_REPORTS_FORMATS``) while the block
    runs, and mail them to ``IVR_AGENT_REPORTS_MAIL_TO`` through the app's notifier;
    nothing when ``IVR_AGENT_REPORTS_ENABLED`` is false."""
    settings = app[SETTINGS]
    if not settings.reports_enabled:
        yield
        return
    notifier = app.get(NOTIFIER)
    mail = (
        ReportMail(notifier, settings.reports_mail_to, timezone=settings.timezone)
        if notifier is not None and settings.reports_mail_to
        else None
    )
    producer = run_producer(
        app[DATABASE],
        settings,
        app[ARCHIVE],
        settings.report_formats,
        now=now,
        poll_seconds=poll_seconds,
        mail=mail,
    )
    async with background(producer, "report-producer"):
        yield
