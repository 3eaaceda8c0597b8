"""``GET /api/metrics/history``: the trend of the main figures over any range.

Query parameters (all optional):

- ``from``, ``to``: as for the summary (ISO 8601; no zone: ``IVR_AGENT_TIMEZONE``). Default
  ``to``: the end of today; default ``from``: 30 days before today's start.
- ``group_by``: ``hour`` | ``day`` (default) | ``week`` (from Monday) | ``month``, in the
  call centre's time zone.
- ``operator``: only that operator's calls (工号); default every inbound call.
- ``pbx_id``: only these PBXs' calls (repeated, or a comma list); default every PBX's.

Every bucket of ``[from, to)`` is a point, oldest first — also one without calls (its
counts 0, its ratios ``null``), so a chart has one point per bucket. The values are those
of ``GET /api/metrics/summary?group_by=…`` for the same buckets (the same
:func:`~ivr_agent.metrics.counts.summary`, from the roll-ups where they cover whole hours).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.buckets import bucket_end, bucket_starts
from ivr_agent.core.figures import (
    FIGURE_LABELS,
    Counts,
    FigureSettings,
    figures,
    trend_values,
)
from ivr_agent.db.database import Database
from ivr_agent.metrics.counts import GroupBy
from ivr_agent.metrics.http import counted, figure_settings, moment_parameter, today
from ivr_agent.metrics.schemas import MAX_HISTORY_POINTS, History, HistoryQuery
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.settings import Settings
from ivr_agent.web.auth import requires
from ivr_agent.web.errors import bad_parameter
from ivr_agent.web.query import pbx_ids_parameter

#: The figures a history charts (S1–S4, S9), in the order the pages draw them (the keys of
#: :func:`~ivr_agent.core.figures.trend_values`).
HISTORY_FIGURES = (
    "offered",
    "service_level",
    "answer_rate",
    "asa_seconds",
    "abandoned",
    "hold_over_limit",
    "silent_calls",
    "satisfaction_rate",
)
if tuple(trend_values(Counts(), FigureSettings())) != HISTORY_FIGURES:
    raise RuntimeError("core.figures.trend_values must give exactly HISTORY_FIGURES")

#: How many days a history covers without ``from``.
DEFAULT_DAYS = 30

_TIME_GROUPS = (GroupBy.HOUR, GroupBy.DAY, GroupBy.WEEK, GroupBy.MONTH)
#: The groupings a history takes, by name.
HISTORY_GROUPINGS = tuple(g.value for g in _TIME_GROUPS)
#: The counts a formula is shown with in the summary ("= 12 / 30"), left out here.
_NUMBERS = re.compile(r" = [0-9.]+ / [0-9.]+")


def _group_by(request: web.Request) -> GroupBy:
    raw = request.query.get("group_by", "day")
    allowed = {g.value: g for g in _TIME_GROUPS}
    if raw not in allowed:
        raise bad_parameter("group_by", f"must be one of {' | '.join(allowed)}")
    return allowed[raw]


def _operator(request: web.Request) -> str | None:
    raw = request.query.get("operator")
    if raw is None:
        return None
    if not raw.strip() or len(raw) > 64:
        raise bad_parameter("operator", "must be an operator id of 1-64 characters")
    return raw.strip()


def _interval(request: web.Request, zone: ZoneInfo) -> tuple[datetime, datetime]:
    end = moment_parameter(request, "to", zone) or today(zone)[1]
    start = moment_parameter(request, "from", zone)
    if start is None:
        first = today(zone)[0].date() - timedelta(days=DEFAULT_DAYS - 1)
        start = datetime(first.year, first.month, first.day, tzinfo=zone)
    if end <= start:
        raise bad_parameter("to", "must be after from")
    return start, end


async def history_of(
    database: Database,
    settings: Settings,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    operator: str | None = None,
    pbx_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The history body: one point per bucket of ``[start, end)`` (``ValueError`` for a
    grouping that is not a time bucket, or more than :data:`MAX_HISTORY_POINTS` buckets);
    of the PBXs ``pbx_ids`` only, when given."""
    unit = group_by.unit
    if unit is None:
        raise ValueError("a history groups by hour, day, week or month")
    zone = settings.zone
    starts = bucket_starts(start, end, unit, zone)
    if len(starts) > MAX_HISTORY_POINTS:
        raise ValueError(f"{len(starts)} points: at most {MAX_HISTORY_POINTS}")
    fs = figure_settings(settings)
    result = await counted(database, settings, start, end, group_by, operator, pbx_ids)
    found = {g.key: g.counts for g in result.groups or ()}
    empty_values = trend_values(Counts(), fs)
    # Buckets are contiguous: each ends where the next starts (the starts are local times).
    bounds = [bucket.isoformat() for bucket in starts]
    if starts:
        bounds.append(bucket_end(starts[-1], unit, zone).isoformat())
    points = [
        {
            "start": bounds[n],
            "end": bounds[n + 1],
            "figures": trend_values(found[bucket], fs) if bucket in found else empty_values,
        }
        for n, bucket in enumerate(starts)
    ]
    empty = figures(Counts(), fs)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by.value,
        "operator": operator,
        "pbx_ids": None if pbx_ids is None else list(pbx_ids),
        "settings": fs.to_json(),
        "figures": {
            name: {
                "label": FIGURE_LABELS[name],
                "formula": _NUMBERS.sub("", empty[name]["formula"]),
            }
            for name in HISTORY_FIGURES
        },
        "points": points,
    }


@requires("ops", "qa")
@documented(
    "The trend of the main figures over [from, to): one point per hour, day, week or month",
    query=HistoryQuery,
    response=History,
)
async def history_handler(request: web.Request) -> web.Response:
    """Service level, answer rate, ASA, abandons, long holds, silent callers and caller
    satisfaction per bucket of ``[from, to)`` (of one operator with ``operator``)."""
    settings = request.app[SETTINGS]
    start, end = _interval(request, settings.zone)
    group_by = _group_by(request)
    operator = _operator(request)
    pbx_ids = pbx_ids_parameter(request.query)
    try:
        body = await history_of(
            request.app[DATABASE], settings, start, end, group_by, operator, pbx_ids
        )
    except ValueError as exc:
        raise bad_parameter("to", f"too long a range for group_by={group_by}: {exc}") from None
    return web.json_response(body)


def setup_history_api(app: web.Application) -> None:
    """Register ``GET /api/metrics/history``."""
    app.router.add_get("/api/metrics/history", history_handler)
