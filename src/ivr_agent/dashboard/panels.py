"""The dashboard's panels as plain data: figures as tiles, the operators' table, the hourly
chart's geometry and the latest breaches, every value already formatted for the page.

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

from ivr_agent.core.breaches import BREACH_LABELS, LATE_ANSWER, LONG_HOLD
from ivr_agent.dashboard.live import LIVE
from ivr_agent.metrics import GroupBy, breach_json, latest_breaches, summary_body, today
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.formats import count, masked, percent, seconds

BREACHES_SHOWN = 15


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
    figures: dict[str, Any],
    name: str,
    label: str,
    fmt: Callable[[Any], str],
    classes: str = "",
    sub: str = "",
) -> Tile:
    figure = figures[name]
    value = figure["value"]
    return Tile(name, label, fmt(value), _raw(value), figure["formula"], classes, sub)


# ------------------------------------------------------------------ panels --


def kpi_tiles(figures: dict[str, Any], target: float) -> list[Tile]:
    """The big figures: service level against the target, answer rate, volumes, waits."""
    level = figures["service_level"]["value"]
    state = "" if level is None else (" good" if level >= target else " bad")
    return [
        _figure(
            figures,
            "service_level",
            "Service level",
            percent,
            "big" + state,
            sub=f"target {percent(target)} · answered within three rings",
        ),
        _figure(figures, "answer_rate", "Answer rate", percent, "big"),
        _figure(figures, "offered", "Offered", count),
        _figure(figures, "answered", "Answered", count),
        _figure(figures, "abandoned", "Abandoned", count),
        _figure(figures, "short_abandons", "Short abandons", count),
        _figure(figures, "asa_seconds", "ASA", seconds),
        _figure(figures, "longest_wait_seconds", "Longest wait", seconds),
    ]


#: The operator table's columns: figure, heading, format.
OPERATOR_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("answered", "Answered", count),
    ("answered_within_standard", "≤ 3 rings", count),
    ("service_level", "SL", percent),
    ("asa_seconds", "ASA", seconds),
    ("hold_over_limit", "Hold > 10 s", count),
    ("silent_calls", "Silent", count),
    ("over_max_duration", "> 5 min", count),
)


def operator_rows(groups: list[dict[str, Any]]) -> list[OperatorRow]:
    """One row per operator who answered today (unanswered calls are not an operator)."""
    rows = []
    for group in groups:
        operator = group["operator_id"]
        if operator is None:
            continue
        values = {name: group["figures"][name]["value"] for name, _, _ in OPERATOR_COLUMNS}
        cells = tuple(
            Cell(name, _raw(values[name]), fmt(values[name])) for name, _, fmt in OPERATOR_COLUMNS
        )
        rows.append(OperatorRow(operator, cells))
    return rows


def hourly_chart(groups: list[dict[str, Any]], target: float, zone: ZoneInfo) -> Chart:
    """Service level per hour of today: bars, grid, target line, as SVG geometry."""
    width, height, left, bottom = 960, 260, 44, 28
    plot_w, plot_h = width - left - 8, height - bottom - 10
    slot = plot_w / 24
    grid = []
    for pct in (0, 0.5, 1.0):
        y = 10 + plot_h * (1 - pct)
        grid.append(GridLine(y, y + 5, f"{pct * 100:.0f}%"))
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
                title=f"{hour:02d}:00 · {percent(level)} of {offered} offered",
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
        target_label=percent(target),
        hours=tuple(
            HourTick(left + hour * slot + slot / 2, f"{hour:02d}") for hour in range(0, 24, 3)
        ),
        hours_y=height - 8,
    )


def breach_items(breaches: list[dict[str, Any]], zone: ZoneInfo) -> list[BreachItem]:
    """The latest breaches, each to link to its call's timeline."""
    items = []
    for b in breaches:
        ended = datetime.fromisoformat(b["ended_at"]).astimezone(zone).strftime("%H:%M:%S")
        detail = []
        if LATE_ANSWER in b["kinds"] and b["ring_seconds"] is not None:
            detail.append(f"rang {b['ring_seconds']:.1f} s")
        if LONG_HOLD in b["kinds"] and b["max_hold_seconds"] is not None:
            detail.append(f"hold {b['max_hold_seconds']:.1f} s")
        if "over_max_duration" in b["kinds"] and b["talk_seconds"] is not None:
            detail.append(f"talk {math.floor(b['talk_seconds'] / 60)} min")
        items.append(
            BreachItem(
                call_id=b["call_id"],
                time=ended,
                tags=tuple((kind, BREACH_LABELS.get(kind, kind)) for kind in b["kinds"]),
                operator=b["operator_id"] or "—",
                caller=masked(b["caller_number"]),
                detail=", ".join(detail),
            )
        )
    return items


def callback_tiles(figures: dict[str, Any]) -> list[Tile]:
    """S5: callbacks due today, completed, overdue, within 30 min, satisfaction."""
    return [
        _figure(figures, "callbacks_due", "Callbacks due", count),
        _figure(figures, "callbacks_completed", "Completed", count),
        _figure(figures, "callbacks_overdue", "Overdue", count),
        _figure(figures, "callbacks_completed_within_30_min", "Within 30 min", count),
        _figure(
            figures,
            "satisfaction_index",
            "Satisfaction",
            lambda v: "—" if v is None else f"{v:.2f} / 5",
        ),
    ]


async def panels_context(app: web.Application) -> dict[str, Any]:
    """What ``dashboard/panels.html`` shows: every panel of the dashboard, for today."""
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
        "kpis": kpi_tiles(figures, target),
        "chart": hourly_chart(by_hour.get("groups", []), target, zone),
        "breaches": breach_items(breaches, zone),
        "operator_columns": [label for _, label, _ in OPERATOR_COLUMNS],
        "operators": operator_rows(by_operator.get("groups", [])),
        "callbacks": callback_tiles(figures),
    }


def live_tiles(app: web.Application) -> list[LiveTile]:
    """Calls waiting and in progress now (updated by the live feed)."""
    calls = app[LIVE].calls.to_json()
    tiles = [
        ("waiting", "Waiting now"),
        ("in_progress", "In progress"),
        ("talking", "Talking"),
        ("on_hold", "On hold"),
    ]
    return [LiveTile(name, label, calls[name]) for name, label in tiles]
