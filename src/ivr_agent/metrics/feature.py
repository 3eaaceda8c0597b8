"""The metrics feature: the figures' JSON API and ``/metrics`` for Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Gauge

from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.metrics.history import setup_history_api
from ivr_agent.metrics.http import setup_metrics_api
from ivr_agent.metrics.prometheus import PREFIX, Metrics, connection_state, setup_metrics
from ivr_agent.metrics.store import OpenCallbacks, count_open_callbacks
from ivr_agent.platform.health import Readiness
from ivr_agent.platform.keys import SETTINGS
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.tasks import background

log = get_logger(__name__)

#: How often the open and overdue callbacks are counted for ``/metrics``.
CALLBACK_COUNT_SECONDS = 30.0


def setup(app: web.Application, *, public: bool, readiness: Readiness) -> Metrics:
    """``/api/metrics/*`` and ``/metrics`` (open when ``public``), with the readiness
    components' state; returns the :class:`Metrics` the other parts export counters to."""
    setup_metrics_api(app)
    setup_history_api(app)
    metrics = setup_metrics(app, public=public)
    metrics.export_live(connection_state(readiness))
    # The alert rules compare the service level with the target this agent is set to.
    Gauge(
        f"{PREFIX}_service_level_target",
        "Service level target (fraction answered within the standard), as set.",
        registry=metrics.registry,
    ).set(app[SETTINGS].service_level_target)
    Gauge(
        f"{PREFIX}_complaint_rate_target",
        "Complaint rate target (complaints per answered call, S7), as set.",
        registry=metrics.registry,
    ).set(app[SETTINGS].complaint_rate_target)
    return metrics


async def _count_callbacks(db: Database, counts: OpenCallbacks, every: float) -> None:
    failing = False
    while True:
        try:
            latest = await count_open_callbacks(db)
        except StoreError as exc:
            if not failing:  # the database's own readiness says the rest
                log.warning("callback count failed", error=str(exc))
            failing = True
        else:
            counts.open, counts.overdue = latest.open, latest.overdue
            failing = False
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running_callback_counts(
    db: Database, metrics: Metrics, every: float = CALLBACK_COUNT_SECONDS
) -> AsyncIterator[OpenCallbacks]:
    """Export ``ivr_agent_callbacks_open`` and ``ivr_agent_callbacks_overdue`` (gauges,
    over the whole database: every agent sharing it reports the same), counted every
    ``every`` seconds while the block runs."""
    counts = OpenCallbacks()
    stop = metrics.export_counters(
        "callbacks", "Callbacks", counts, gauges=frozenset({"open", "overdue"})
    )
    try:
        async with background(_count_callbacks(db, counts, every), "callback-counts"):
            yield counts
    finally:
        stop()
