"""The dashboard's panels as plain data: figures as tiles, the operators' table, the hourly
chart's geometry and the latest breaches, every value already formatted for the page in
its language (labels of figures and breaches from their one definition in the core,
translated by the page's catalogue; numbers and times in its locale).

``web/templates/dashboard/`` turns them into markup; ``dashboard.js`` and the browser tests
read the raw figures from ``data-figure``/``data-value`` (the JSON of the summary's value),
so the page shows the same numbers as ``GET /api/metrics/summary``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.breaches import BREACH_LABELS, LATE_ANSWER, LONG_HOLD, OVER_MAX_DURATION
from ivr_agent.core.figures import FIGURE_LABELS
from ivr_agent.core.texts import N_
from ivr_agent.dashboard.live import LIVE
from ivr_agent.metrics import GroupBy, breach_json, latest_breaches, summary_body, today
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.formats import masked
from ivr_agent.web.i18n import DASH, PageLocale

BREACHES_SHOWN = 15

#: How a figure's value is shown: a method of the page's locale.
Format = Callable[[PageLocale, Any], str]


# ------------------------------------------------------------------ view data --


@dataclass(frozen=True)
class Tile:
    """One figure as a tile: ``raw`` (its value as JSON) goes in ``data-value``, which
    ``dashboard.js`` and the browser tests read; ``formula`` is the tooltip."""

    name: str
    label: str
    text: str
    raw: str
    formula: str
    classes: str = ""
    sub: str = ""


@dataclass(frozen=True)
class LiveTile:
    """A live counter (``data-live``), updated in place by the live feed."""

    name: str
    label: str
    value: int


@dataclass(frozen=True)
class Cell:
    """One figure of an operator's row: name, raw JSON value, shown text."""

    name: str
    raw: str
    text: str


@dataclass(frozen=True)
class OperatorRow:
    """One operator who answered today, with a cell per column of :data:`OPERATOR_COLUMNS`."""

    operator: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class GridLine:
    """A horizontal line of the chart with its percentage label."""

    y: float
    label_y: float
    label: str


@dataclass(frozen=True)
class Bar:
    """One hour's service level as a bar (``state``: ``good``/``bad`` against the target)."""

    x: float
    y: float
    width: float
    height: float
    state: str
    hour: int
    level: float
    title: str


@dataclass(frozen=True)
class HourTick:
    """An hour label under the chart."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Geometry of the hourly service-level chart (SVG user units)."""

    width: int
    height: int
    left: int
    right: int
    axis_x: int
    grid: tuple[GridLine, ...]
    bars: tuple[Bar, ...]
    target_y: float
    target_label_x: int
    target_label_y: float
    target_label: str
    hours: tuple[HourTick, ...]
    hours_y: int


@dataclass(frozen=True)
class BreachItem:
    """One breach in the list, linking to its call; ``tags`` are (kind, label) pairs."""

    call_id: str
    time: str
    tags: tuple[tuple[str, str], ...]
    operator: str
    caller: str
    detail: str


def _raw(value: Any) -> str:
    return json.dumps(value)


def _figure(
    t: PageLocale,
    figures: dict[str, Any],
    name: str,
    fmt: Format,
    classes: str = "",
    sub: str = "",
) -> Tile:
    figure = figures[name]
    value = figure["value"]
    label = t.gettext(FIGURE_LABELS[name])
    return Tile(name, label, fmt(t, value), _raw(value), figure["formula"], classes, sub)


def _satisfaction(t: PageLocale, value: float | None) -> str:
    return DASH if value is None else t.gettext("%(index)s / 5") % {"index": t.decimal(value, 2)}


# ------------------------------------------------------------------ panels --


def kpi_tiles(figures: dict[str, Any], target: float, max_rings: int, t: PageLocale) -> list[Tile]:
    """The big figures: service level against the target, answer rate, volumes, waits."""
    level = figures["service_level"]["value"]
    state = "" if level is None else (" good" if level >= target else " bad")
    sub = t.ngettext(
        "target %(target)s · answered within %(rings)d ring",
        "target %(target)s · answered within %(rings)d rings",
        max_rings,
    ) % {"target": t.percent(target), "rings": max_rings}
    return [
        _figure(t, figures, "service_level", PageLocale.percent, "big" + state, sub=sub),
        _figure(t, figures, "answer_rate", PageLocale.percent, "big"),
        _figure(t, figures, "offered", PageLocale.count),
        _figure(t, figures, "answered", PageLocale.count),
        _figure(t, figures, "abandoned", PageLocale.count),
        _figure(t, figures, "short_abandons", PageLocale.count),
        _figure(t, figures, "asa_seconds", PageLocale.seconds),
        _figure(t, figures, "longest_wait_seconds", PageLocale.seconds),
        _figure(t, figures, "satisfaction_rate", PageLocale.percent),
    ]


#: The operator table's columns: figure (its label is the heading) and format.
OPERATOR_COLUMNS: tuple[tuple[str, Format], ...] = (
    ("answered", PageLocale.count),
    ("answered_within_standard", PageLocale.count),
    ("service_level", PageLocale.percent),
    ("asa_seconds", PageLocale.seconds),
    ("hold_over_limit", PageLocale.count),
    ("silent_calls", PageLocale.count),
    ("over_max_duration", PageLocale.count),
    ("operator_hung_up_first", PageLocale.count),
    ("late_wrap_ups", PageLocale.count),
    ("within_target_duration_rate", PageLocale.percent),
    ("satisfaction_rate", PageLocale.percent),
)


def operator_rows(groups: list[dict[str, Any]], t: PageLocale) -> list[OperatorRow]:
    """One row per operator who answered today (unanswered calls are not an operator)."""
    rows = []
    for group in groups:
        operator = group["operator_id"]
        if operator is None:
            continue
        values = {name: group["figures"][name]["value"] for name, _ in OPERATOR_COLUMNS}
        cells = tuple(
            Cell(name, _raw(values[name]), fmt(t, values[name])) for name, fmt in OPERATOR_COLUMNS
        )
        rows.append(OperatorRow(operator, cells))
    return rows


def hourly_chart(
    groups: list[dict[str, Any]], target: float, zone: ZoneInfo, t: PageLocale
) -> Chart:
    """Service level per hour of today: bars, grid, target line, as SVG geometry."""
    width, height, left, bottom = 960, 260, 44, 28
    plot_w, plot_h = width - left - 8, height - bottom - 10
    slot = plot_w / 24
    grid = []
    for pct in (0, 0.5, 1.0):
        y = 10 + plot_h * (1 - pct)
        grid.append(GridLine(y, y + 5, t.whole_percent(pct)))
    bars = []
    for group in groups:
        hour = datetime.fromisoformat(group["start"]).astimezone(zone).hour
        level = group["figures"]["service_level"]["value"]
        offered = group["figures"]["offered"]["value"]
        if level is None:
            continue
        bar_h = max(plot_h * level, 2)
        bars.append(
            Bar(
                x=left + hour * slot + slot * 0.15,
                y=10 + plot_h - bar_h,
                width=slot * 0.7,
                height=bar_h,
                state="good" if level >= target else "bad",
                hour=hour,
                level=level,
                title=t.gettext("%(hour)s · %(level)s of %(offered)s offered")
                % {
                    "hour": f"{hour:02d}:00",
                    "level": t.percent(level),
                    "offered": t.count(offered),
                },
            )
        )
    target_y = 10 + plot_h * (1 - target)
    return Chart(
        width=width,
        height=height,
        left=left,
        right=width - 8,
        axis_x=left - 6,
        grid=tuple(grid),
        bars=tuple(bars),
        target_y=target_y,
        target_label_x=width - 10,
        target_label_y=target_y - 6,
        target_label=t.percent(target),
        hours=tuple(
            HourTick(left + hour * slot + slot / 2, f"{hour:02d}") for hour in range(0, 24, 3)
        ),
        hours_y=height - 8,
    )


def breach_items(breaches: list[dict[str, Any]], zone: ZoneInfo, t: PageLocale) -> list[BreachItem]:
    """The latest breaches, each to link to its call's timeline."""
    items = []
    for b in breaches:
        detail = []
        if LATE_ANSWER in b["kinds"] and b["ring_seconds"] is not None:
            detail.append(t.gettext("rang %(time)s") % {"time": t.seconds(b["ring_seconds"])})
        if LONG_HOLD in b["kinds"] and b["max_hold_seconds"] is not None:
            detail.append(t.gettext("hold %(time)s") % {"time": t.seconds(b["max_hold_seconds"])})
        if OVER_MAX_DURATION in b["kinds"] and b["talk_seconds"] is not None:
            minutes = math.floor(b["talk_seconds"] / 60)
            detail.append(t.gettext("talk %(minutes)d min") % {"minutes": minutes})
        items.append(
            BreachItem(
                call_id=b["call_id"],
                time=t.time_of_day(datetime.fromisoformat(b["ended_at"]), zone),
                tags=tuple(
                    (kind, t.gettext(BREACH_LABELS[kind]) if kind in BREACH_LABELS else kind)
                    for kind in b["kinds"]
                ),
                operator=b["operator_id"] or DASH,
                caller=masked(b["caller_number"]),
                detail=t.gettext(", ").join(detail),
            )
        )
    return items


def callback_tiles(figures: dict[str, Any], t: PageLocale) -> list[Tile]:
    """S5: callbacks due today, completed, overdue, within 30 min, satisfaction."""
    return [
        _figure(t, figures, "callbacks_due", PageLocale.count),
        _figure(t, figures, "callbacks_completed", PageLocale.count),
        _figure(t, figures, "callbacks_overdue", PageLocale.count),
        _figure(t, figures, "callbacks_completed_within_30_min", PageLocale.count),
        _figure(t, figures, "satisfaction_index", _satisfaction),
    ]


def follow_up_tiles(figures: dict[str, Any], t: PageLocale) -> list[Tile]:
    """S8: today's return calls placed, reached and answered by an operator; specialist
    call-backs placed, in time (the 3 minutes) and late."""
    late = figures["specialist_calls_late"]["value"]
    return [
        _figure(t, figures, "return_calls_placed", PageLocale.count),
        _figure(t, figures, "return_calls_reached", PageLocale.count),
        _figure(t, figures, "return_calls_operator_answered", PageLocale.count),
        _figure(t, figures, "specialist_calls_placed", PageLocale.count),
        _figure(t, figures, "specialist_calls_within_due", PageLocale.count),
        _figure(t, figures, "specialist_calls_late", PageLocale.count, "bad" if late else ""),
    ]


def complaint_tiles(figures: dict[str, Any], target: float, t: PageLocale) -> list[Tile]:
    """S7: today's complaints, the complaint rate against its target, the resolution rate,
    overdue and escalated complaints."""
    rate = figures["complaint_rate"]["value"]
    state = "" if rate is None else (" good" if rate < target else " bad")
    sub = t.gettext("target below %(target)s") % {"target": t.percent(target)}
    return [
        _figure(t, figures, "complaints_registered", PageLocale.count),
        _figure(t, figures, "complaint_rate", PageLocale.percent, state.strip(), sub=sub),
        _figure(t, figures, "complaint_resolution_rate", PageLocale.percent),
        _figure(t, figures, "complaints_overdue", PageLocale.count),
        _figure(t, figures, "complaints_escalated", PageLocale.count),
    ]


async def panels_context(app: web.Application, t: PageLocale) -> dict[str, Any]:
    """What ``dashboard/panels.html`` shows: every panel of the dashboard, for today, in
    ``t``'s language."""
    settings = app[SETTINGS]
    zone = settings.zone
    start, end = today(zone)
    by_operator = await summary_body(app, start, end, GroupBy.OPERATOR)
    by_hour = await summary_body(app, start, end, GroupBy.HOUR)
    breaches = [
        breach_json(b)
        for b in await latest_breaches(app[DATABASE], start, end, limit=BREACHES_SHOWN)
    ]
    figures = by_operator["figures"]
    target = settings.service_level_target
    return {
        "period_from": by_operator["from"],
        "period_to": by_operator["to"],
        "kpis": kpi_tiles(figures, target, settings.max_rings, t),
        "chart": hourly_chart(by_hour.get("groups", []), target, zone, t),
        "breaches": breach_items(breaches, zone, t),
        "operator_columns": [t.gettext(FIGURE_LABELS[name]) for name, _ in OPERATOR_COLUMNS],
        "operators": operator_rows(by_operator.get("groups", []), t),
        "callbacks": callback_tiles(figures, t),
        "follow_ups": follow_up_tiles(figures, t),
        "complaints": complaint_tiles(figures, settings.complaint_rate_target, t),
    }


#: The live counters: name in the feed, label.
LIVE_TILES = (
    ("waiting", N_("Waiting now")),
    ("in_progress", N_("In progress")),
    ("talking", N_("Talking")),
    ("on_hold", N_("On hold")),
)


def live_tiles(app: web.Application, t: PageLocale) -> list[LiveTile]:
    """Calls waiting and in progress now (updated by the live feed)."""
    calls = app[LIVE].calls.to_json()
    return [LiveTile(name, t.gettext(label), calls[name]) for name, label in LIVE_TILES]
