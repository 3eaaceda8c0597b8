"""The dashboard feature: the live page and its feed (SSE), panels and call pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web

from ivr_agent.core.tracker import CallSnapshot
from ivr_agent.dashboard.live import LIVE, LiveHub, calls_now, setup_live
from ivr_agent.dashboard.pages import setup_dashboard
from ivr_agent.platform.tasks import background


def setup(
    app: web.Application,
    *,
    in_progress: Callable[[], Iterable[CallSnapshot]],
    stored: Callable[[], int],
) -> LiveHub:
    """The dashboard routes and ``/api/live``; while the app runs, the live feed follows
    ``in_progress`` (the calls being tracked) and ``stored`` (outcomes written so far).
    Returns the hub finished calls are published to."""
    hub = setup_live(app)
    setup_dashboard(app)

    async def feed(app: web.Application) -> AsyncIterator[None]:
        watch = app[LIVE].watch(lambda: calls_now(in_progress()), stored)
        async with background(watch, "live-feed"):
            yield

    app.cleanup_ctx.append(feed)
    return hub
