"""The history page ``/history``: a date range and a grouping, and one trend chart per
figure (offered, service level, answer rate, ASA, abandons, holds over 10 s, silent
callers, caller satisfaction), drawn on the server as SVG — no script, no chart library.

The points are those of ``GET /api/metrics/history`` for the same range and grouping (the
same :func:`ivr_agent.metrics.history_of`); ``operator`` narrows them to one operator.
Query parameters: ``from`` and ``to`` (local dates, both included; default the last 30
days), ``group_by`` (``hour`` | ``day`` | ``week`` | ``month``; default ``day``),
``operator``. A bad one is a 400 page naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.dashboard.params import BadParameter
from ivr_agent.dashboard.pbx_filter import page_pbx_ids, pbx_selector
from ivr_agent.metrics import HISTORY_GROUPINGS, GroupBy, history_of, seen_pbx_ids
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.i18n import PageLocale
from ivr_agent.web.templates import message_page

#: Figures drawn as percentages (0–100 %); the others from 0 to their largest value.
_RATIOS = frozenset({"service_level", "answer_rate", "satisfaction_rate"})
_DEFAULT_DAYS = 30
WIDTH, HEIGHT, LEFT, TOP, BOTTOM, RIGHT = 960, 170, 66, 12, 24, 10
#: At most this many labels under a chart's x axis.
TICKS = 8


@dataclass(frozen=True)
class Point:
    """One bucket with a value: where it is drawn and what its tooltip says."""

    x: float
    y: float
    value: float
    title: str


@dataclass(frozen=True)
class LineChart:
    """One figure's trend as SVG geometry: its points, the line through them (broken where
    a bucket has no value), the y-axis grid and a few x-axis labels."""

    name: str
    label: str
    formula: str
    buckets: int
    points: tuple[Point, ...]
    paths: tuple[str, ...]
    grid: tuple[tuple[float, str], ...]
    ticks: tuple[tuple[float, str], ...]


def _date(query: Any, name: str, default: date) -> date:
    raw = query.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadParameter(name, "must be a date, YYYY-MM-DD") from None


def parse_query(query: Any, zone: ZoneInfo, today: date) -> tuple[date, date, GroupBy, str | None]:
    """The page's range (local dates, both included), grouping and operator."""
    last = _date(query, "to", today)
    first = _date(query, "from", last - timedelta(days=_DEFAULT_DAYS - 1))
    if last < first:
        raise BadParameter("to", "must not be before from")
    raw_group = query.get("group_by") or "day"
    if raw_group not in HISTORY_GROUPINGS:
        raise BadParameter("group_by", "must be hour, day, week or month")
    operator = (query.get("operator") or "").strip() or None
    if operator is not None and len(operator) > 64:
        raise BadParameter("operator", "must be at most 64 characters")
    return first, last, GroupBy(raw_group), operator


def _label(start: datetime, group_by: GroupBy, zone: ZoneInfo) -> str:
    local = start.astimezone(zone)
    if group_by is GroupBy.HOUR:
        return local.strftime("%m-%d %H:00")
    if group_by is GroupBy.MONTH:
        return local.strftime("%Y-%m")
    return local.strftime("%m-%d")


def _text(name: str, value: float, t: PageLocale) -> str:
    if name in _RATIOS:
        return t.percent(value)
    if name == "asa_seconds":
        return t.seconds(value)
    return t.count(int(value))


def line_chart(
    name: str,
    figure: dict[str, str],
    points: list[dict[str, Any]],
    group_by: GroupBy,
    zone: ZoneInfo,
    t: PageLocale,
) -> LineChart:
    """The trend of figure ``name`` over the history's points."""
    values: list[float | None] = [p["figures"][name] for p in points]
    known = [v for v in values if v is not None]
    # Counts and seconds up to an even number, so the middle grid line is a whole one.
    top = 1.0 if name in _RATIOS else 2.0 * math.ceil(max([*known, 1.0]) / 2)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points), 1)
    drawn: list[Point] = []
    paths: list[str] = []
    segment: list[str] = []
    for n, (point, value) in enumerate(zip(points, values, strict=True)):
        if value is None:  # no calls (or none asked): a gap in the line
            if segment:
                paths.append(" ".join(segment))
            segment = []
            continue
        x = LEFT + step * (n + 0.5)
        y = TOP + plot_h * (1 - value / top)
        when = _label(datetime.fromisoformat(point["start"]), group_by, zone)
        drawn.append(Point(x, y, value, f"{when} · {_text(name, value, t)}"))
        segment.append(f"{'M' if not segment else 'L'}{x:.1f},{y:.1f}")
    if segment:
        paths.append(" ".join(segment))
    grid = tuple(
        (TOP + plot_h * (1 - share), _text(name, top * share, t)) for share in (0.0, 0.5, 1.0)
    )
    every = max(1, math.ceil(len(points) / TICKS))
    ticks = tuple(
        (
            LEFT + step * (n + 0.5),
            _label(datetime.fromisoformat(p["start"]), group_by, zone),
        )
        for n, p in enumerate(points)
        if n % every == 0
    )
    return LineChart(
        name=name,
        label=t.gettext(figure["label"]),
        formula=figure["formula"],
        buckets=len(points),
        points=tuple(drawn),
        paths=tuple(paths),
        grid=grid,
        ticks=ticks,
    )


async def history_context(request: web.Request, t: PageLocale) -> dict[str, Any]:
    """What ``dashboard/history.html`` shows for the request's range and grouping."""
    settings = request.app[SETTINGS]
    zone = settings.zone
    today = datetime.now(zone).date()
    first, last, group_by, operator = parse_query(request.query, zone, today)
    pbx_ids = page_pbx_ids(request.query)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    database = request.app[DATABASE]
    try:
        body = await history_of(database, settings, start, end, group_by, operator, pbx_ids)
    except ValueError as exc:
        raise BadParameter("to", str(exc)) from None
    charts = [
        line_chart(name, figure, body["points"], group_by, zone, t)
        for name, figure in body["figures"].items()
    ]
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "group_by": group_by.value,
        "groupings": HISTORY_GROUPINGS,
        "operator": operator or "",
        "timezone": settings.timezone,
        **pbx_selector(await seen_pbx_ids(database), pbx_ids, t),
        "charts": charts,
        "chart": {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT},
        "tick_y": HEIGHT - 6,
    }


def bad_parameter_page(t: PageLocale, error: BadParameter) -> web.Response:
    """A 400 page naming the parameter."""
    return message_page(
        t,
        t.gettext("Bad request"),
        f"{error.field}: {error}",
        status=400,
        error=True,
    )
