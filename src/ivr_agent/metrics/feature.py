"""The metrics feature: the figures' JSON API and ``/metrics`` for Prometheus."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.metrics.http import setup_metrics_api
from ivr_agent.metrics.prometheus import Metrics, connection_state, setup_metrics
from ivr_agent.platform.health import Readiness


def setup(app: web.Application, *, public: bool, readiness: Readiness) -> Metrics:
    """``/api/metrics/*`` and ``/metrics`` (open when ``public``), with the readiness
    components' state; returns the :class:`Metrics` the other parts export counters to."""
    setup_metrics_api(app)
    metrics = setup_metrics(app, public=public)
    metrics.export_live(connection_state(readiness))
    return metrics
