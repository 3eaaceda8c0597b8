"""Metrics: the S1-S6 figures over stored calls (summary, groups, breaches, each with its
formula), their JSON API and ``/metrics`` for Prometheus. Other parts (the dashboard) use
what is exported here; app.py composes the rest."""

from ivr_agent.metrics.history import HISTORY_GROUPINGS, history_of
from ivr_agent.metrics.http import breach_json, figure_settings, summary_body, summary_of, today
from ivr_agent.metrics.pbxs import seen_pbx_ids
from ivr_agent.metrics.rollups import rebuild as rebuild_rollups
from ivr_agent.metrics.store import GroupBy, latest_breaches

__all__ = [
    "HISTORY_GROUPINGS",
    "GroupBy",
    "breach_json",
    "figure_settings",
    "history_of",
    "latest_breaches",
    "rebuild_rollups",
    "seen_pbx_ids",
    "summary_body",
    "summary_of",
    "today",
]
