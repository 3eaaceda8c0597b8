"""What a report holds: the views (tables) of one period, gathered from the metrics.

Every figure comes from :func:`ivr_agent.metrics.summary_of` — the very body
``GET /api/metrics/summary?from=…&to=…&group_by=operator`` returns — so a report and the API
can never disagree; nothing is recomputed here, only laid out as tables:

- ``hotline``: every S1–S6/S9 figure of the period with its label, value and formula;
- ``operators``: the same per operator (one row per operator and figure), QA averages too;
- ``breaches``: each call of the period that broke a standard;
- ``callbacks``: the S5 figures of the callbacks due in the period, with their formulas;
- ``follow_ups``: the S8 figures of the return calls and specialist call-backs of the period
  (placed, reached, answered by an operator; in time, late), with their formulas;
- ``complaints``: S7's complaint statistics (by department, by state; records by type);
- ``assessment`` (monthly reports only, 每月考核): one row per operator with the figures the
  monthly assessment reads side by side, and an overall score with its formula when
  ``IVR_AGENT_ASSESSMENT_WEIGHTS`` sets weights (:mod:`ivr_agent.reports.score`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr_agent.core.figures import (
    FIGURE_LABELS,
    CallbackCounts,
    FigureSettings,
    callback_figures,
)
from ivr_agent.core.follow_up_figures import FollowUpCounts, follow_up_figures
from ivr_agent.db.database import Database
from ivr_agent.metrics import GroupBy, latest_breaches, summary_of
from ivr_agent.reports.periods import Period, PeriodKind
from ivr_agent.reports.score import overall_score
from ivr_agent.settings import Settings
from ivr_agent.web.i18n import page_locale

#: The S5 figures: the callbacks view, not the hotline's.
CALLBACK_FIGURES = frozenset(callback_figures(CallbackCounts(), FigureSettings()))
#: The S8 figures of return calls and specialist call-backs: their own view too.
FOLLOW_UP_FIGURES = frozenset(follow_up_figures(FollowUpCounts(), 180.0))
#: The most breaches one report lists (a day has far fewer; a month of a bad hotline might not).
MAX_REPORT_BREACHES = 10_000
#: The monthly assessment's figures, in the order of its columns.
ASSESSMENT_FIGURES = (
    "answered",
    "answered_within_standard",
    "service_level",
    "asa_seconds",
    "hold_over_limit",
    "hold_severe",
    "silent_prompted_then_spoke",
    "silent_hung_up",
    "over_max_duration",
    "operator_hung_up_first",
    "satisfaction_asked",
    "satisfaction_satisfied",
    "satisfaction_rate",
    "complaints_registered",
    "late_wrap_ups",
)
FIGURE_HEADER = ("figure", "label", "value", "formula")


@dataclass(frozen=True)
class View:
    """One table of a report: a sheet of the XLSX, a section of the CSV, a table of the PDF."""

    name: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Report:
    """A period's report: when it was made, the settings in force, and its views."""

    period: Period
    generated_at: datetime
    settings: dict[str, Any]
    views: tuple[View, ...]

    @property
    def title(self) -> str:
        """``日报 Daily report 2026-11-23`` and the like (the handbooks' name first)."""
        names = {
            PeriodKind.DAY: "日报 Daily report",
            PeriodKind.WEEK: "周报 Weekly report",
            PeriodKind.MONTH: "月报 Monthly report",
        }
        return f"{names[self.period.kind]} {self.period.label}"

    def view(self, name: str) -> View:
        """The view called ``name``."""
        return next(v for v in self.views if v.name == name)


Labels = Callable[[str], str]


def _labeller(settings: Settings) -> Labels:
    # Labels in the pages' first language (zh-CN by default): the supervisor's; the figure
    # names and formulas stay as the API states them.
    translate = page_locale(settings.ui_languages[0]).gettext
    return lambda name: translate(FIGURE_LABELS[name]) if name in FIGURE_LABELS else name


def _figure_rows(
    figures: dict[str, Any], keep: Sequence[str], label: Labels
) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (name, label(name), figures[name]["value"], figures[name]["formula"]) for name in keep
    )


def _operator_rows(groups: Sequence[dict[str, Any]], label: Labels) -> tuple[tuple[Any, ...], ...]:
    rows: list[tuple[Any, ...]] = []
    for group in groups:
        operator = group["operator_id"] or "(unanswered)"
        for name, figure in group["figures"].items():
            rows.append((operator, name, label(name), figure["value"], figure["formula"]))
        qa = group.get("qa")
        if qa is not None:
            formula = group["qa_formula"]
            rows.append((operator, "qa_scored_calls", "QA scored calls", qa["qa_scored_calls"], ""))
            rows.append(
                (operator, "qa_satisfaction_index", "QA", qa["qa_satisfaction_index"], formula)
            )
    return tuple(rows)


def _assessment_header(weights: Mapping[str, float]) -> tuple[str, ...]:
    score = ("overall_score", "overall_score_formula") if weights else ()
    return ("operator_id", *ASSESSMENT_FIGURES, "qa_scored_calls", "qa_satisfaction_index", *score)


def _assessment_rows(
    groups: Sequence[dict[str, Any]], weights: Mapping[str, float]
) -> tuple[tuple[Any, ...], ...]:
    rows = []
    for group in groups:
        if group["operator_id"] is None:
            continue  # calls no operator answered are nobody's assessment
        qa = group.get("qa") or {}
        figures = {name: figure["value"] for name, figure in group["figures"].items()}
        figures["qa_satisfaction_index"] = qa.get("qa_satisfaction_index")
        row = (
            group["operator_id"],
            *(figures[name] for name in ASSESSMENT_FIGURES),
            qa.get("qa_scored_calls", 0),
            figures["qa_satisfaction_index"],
        )
        if weights:
            score = overall_score(figures, weights)
            row = (*row, score.value, score.formula)
        rows.append(row)
    return tuple(rows)


def _complaint_rows(statistics: dict[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """S7's complaint statistics: complaints by handling department and by state, records
    by type; each row with the statement of how it is counted."""
    formula = statistics["formula"]
    rows: list[tuple[Any, ...]] = [
        ("department", row["department_id"] or "(not assigned)", row["count"], formula)
        for row in statistics["by_department"]
    ]
    rows += [("state", state, n, formula) for state, n in statistics["by_state"].items()]
    rows += [("record_type", kind, n, formula) for kind, n in statistics["records_by_type"].items()]
    return tuple(rows)


async def gather(
    database: Database, settings: Settings, period: Period, *, now: datetime
) -> Report:
    """The report of ``period``, from the same queries as ``/api/metrics/summary``;
    ``now`` is when it is made (it judges overdue callbacks, as the API's now does)."""
    start, end = period.start, period.end
    body = await summary_of(database, settings, start, end, GroupBy.OPERATOR, now=now)
    figures = body["figures"]
    groups = body.get("groups") or []
    zone = settings.zone
    breaches = await latest_breaches(database, start, end, limit=MAX_REPORT_BREACHES)
    label = _labeller(settings)
    own_views = CALLBACK_FIGURES | FOLLOW_UP_FIGURES
    views = [
        View(
            "hotline",
            "热线 Hotline",
            FIGURE_HEADER,
            _figure_rows(figures, [n for n in figures if n not in own_views], label),
        ),
        View(
            "operators",
            "坐席 Per operator",
            ("operator_id", *FIGURE_HEADER),
            _operator_rows(groups, label),
        ),
        View(
            "breaches",
            "违规 Breaches",
            (
                "call_id",
                "ended_at",
                "operator_id",
                "caller_number",
                "kinds",
                "ring_seconds",
                "max_hold_seconds",
                "talk_seconds",
            ),
            tuple(
                (
                    b.call_id,
                    b.ended_at.astimezone(zone).isoformat(),
                    b.operator_id,
                    b.caller_number,
                    ", ".join(b.kinds),
                    b.ring_seconds,
                    b.max_hold_seconds,
                    b.talk_seconds,
                )
                # Oldest first: a report reads as the period went.
                for b in reversed(breaches)
            ),
        ),
        View(
            "callbacks",
            "回访 Callbacks",
            FIGURE_HEADER,
            _figure_rows(figures, [n for n in figures if n in CALLBACK_FIGURES], label),
        ),
        View(
            "follow_ups",
            "回拨 Return and specialist calls",
            FIGURE_HEADER,
            _figure_rows(figures, [n for n in figures if n in FOLLOW_UP_FIGURES], label),
        ),
        View(
            "complaints",
            "投诉 Complaints",
            ("count_of", "key", "count", "formula"),
            _complaint_rows(body["complaint_statistics"]),
        ),
    ]
    if period.kind is PeriodKind.MONTH:
        views.append(
            View(
                "assessment",
                "每月考核 Monthly assessment",
                _assessment_header(settings.assessment_weight_map),
                _assessment_rows(groups, settings.assessment_weight_map),
            )
        )
    return Report(
        period=period,
        generated_at=now.astimezone(zone),
        settings=body["settings"],
        views=tuple(views),
    )
