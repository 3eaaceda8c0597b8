"""The S1–S6 figures of a set of calls, each with the formula that produced it (pure).

The store counts (``metrics/store.py``, in SQL); this module turns those counts into the
figures ``GET /api/metrics/summary`` returns. A ratio whose denominator is zero is ``None``
(JSON ``null``) and still states its formula, so an empty interval never divides by zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .texts import N_

#: How pages name each figure of :func:`figures`, :func:`callback_figures`,
#: :func:`complaint_figures` and ``follow_up_figures.follow_up_figures`` (in English; the
#: pages show the catalogue's translation).
FIGURE_LABELS: Mapping[str, str] = {
    "offered": N_("Offered"),
    "answered": N_("Answered"),
    "answered_within_standard": N_("Answered in time"),
    "abandoned": N_("Abandoned"),
    "short_abandons": N_("Short abandons"),
    "service_level": N_("Service level"),
    "answer_rate": N_("Answer rate"),
    "asa_seconds": N_("ASA"),
    "longest_wait_seconds": N_("Longest wait"),
    "hold_over_limit": N_("Long holds"),
    "hold_severe": N_("Severe holds"),
    "silent_calls": N_("Silent callers"),
    "silent_prompted_then_spoke": N_("Spoke after the prompt"),
    "silent_hung_up": N_("Silent hang-ups"),
    "over_max_duration": N_("Long calls"),
    "within_target_duration": N_("Within target length"),
    "within_target_duration_rate": N_("Target length rate"),
    "operator_hung_up_first": N_("Operator hung up first"),
    "operator_hung_up_first_rate": N_("Operator-first rate"),
    "late_wrap_ups": N_("Late wrap-ups"),
    "late_wrap_up_rate": N_("Late wrap-up rate"),
    "incomplete": N_("Incomplete"),
    "satisfaction_asked": N_("Asked the satisfaction question"),
    "satisfaction_satisfied": N_("Satisfied (1)"),
    "satisfaction_suggestion": N_("Suggestion (2)"),
    "satisfaction_invalid": N_("Other key"),
    "satisfaction_no_answer": N_("No key"),
    "satisfaction_rate": N_("Caller satisfaction"),
    "callbacks_due": N_("Callbacks due"),
    "callbacks_completed": N_("Completed"),
    "callbacks_overdue": N_("Overdue"),
    "callbacks_completed_within_30_min": N_("Within 30 min"),
    "callbacks_within_30_min_rate": N_("Within 30 min rate"),
    "satisfaction_index": N_("Satisfaction"),
    "complaints_registered": N_("Complaints registered"),
    "complaint_rate": N_("Complaint rate"),
    "complaints_resolved": N_("Complaints resolved"),
    "complaint_resolution_rate": N_("Resolution rate"),
    "complaints_overdue": N_("Overdue complaints"),
    "complaints_escalated": N_("Escalated complaints"),
    "return_calls_placed": N_("Return calls placed"),
    "return_calls_reached": N_("Return calls reached"),
    "return_calls_operator_answered": N_("Answered by an operator"),
    "return_call_operator_rate": N_("Return calls answered rate"),
    "specialist_calls_placed": N_("Specialist calls placed"),
    "specialist_calls_within_due": N_("Specialist calls in time"),
    "specialist_calls_late": N_("Specialist calls late"),
    "specialist_within_due_rate": N_("Specialist in-time rate"),
}

#: What every ring-time figure measures (S1), stated in the formulas that use it.
RING_SECONDS = (
    "ring_seconds = answered_at − wait_started_at, wait_started_at = the earlier of the "
    "caller's queue join and the first operator leg ringing; a caller who pressed 1 in the "
    "queue to be called back in their place (S8) waits on while off the line: answered_at "
    "= the moment an operator answers their return call, so ring_seconds = "
    "operator_answered_at(return call) − wait_started_at(original call), and until then "
    "the call is neither answered nor abandoned"
)


@dataclass(frozen=True)
class Counts:
    """What SQL counted over one set of inbound calls."""

    offered: int = 0
    answered: int = 0
    answered_within_standard: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    ring_seconds_sum: float = 0.0
    longest_wait_seconds: float | None = None
    hold_over_limit: int = 0
    hold_severe: int = 0
    silence_prompted_then_spoke: int = 0
    silence_hung_up_silent: int = 0
    over_max_duration: int = 0
    incomplete: int = 0
    #: Answered calls whose talk lasted at most the target (S6: 3 min).
    within_target_duration: int = 0
    #: S9: answered calls the operator ended before the caller (no hand-over, no transfer).
    operator_hung_up_first: int = 0
    #: S4/S9: the callers' answers to the satisfaction question (``extra.satisfaction``).
    satisfaction_satisfied: int = 0
    satisfaction_suggestion: int = 0
    satisfaction_invalid: int = 0
    satisfaction_no_answer: int = 0
    #: S8: answered calls whose record came (or is still missing) after the wrap-up time.
    late_wrap_ups: int = 0

    def __add__(self, other: Counts) -> Counts:
        """The counts of both sets of calls together (every field adds up; the longest wait
        is the longer one), so a total can be summed from disjoint groups."""
        values = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "longest_wait_seconds"
        }
        waits = [
            w for w in (self.longest_wait_seconds, other.longest_wait_seconds) if w is not None
        ]
        return Counts(**values, longest_wait_seconds=max(waits) if waits else None)


@dataclass(frozen=True)
class CallbackCounts:
    """What SQL counted over the callbacks due in one interval (S5)."""

    due: int = 0
    completed: int = 0
    open_overdue: int = 0
    completed_late: int = 0
    service_due: int = 0
    service_within: int = 0
    satisfaction_sum: float = 0.0
    satisfaction_scored: int = 0


@dataclass(frozen=True)
class ComplaintCounts:
    """What SQL counted over the complaints registered in one interval (S7)."""

    registered: int = 0
    #: Of those, resolved or confirmed now (a reopened complaint is not resolved).
    resolved: int = 0
    #: Of those, open and silent longer than the chase time now.
    overdue: int = 0
    #: Of those, escalated at least once.
    escalated: int = 0


@dataclass(frozen=True)
class FigureSettings:
    """The settings the figures depend on (reported with every response)."""

    ring_cycle_seconds: float = 5.0
    max_rings: int = 3
    short_abandon_seconds: float = 5.0
    exclude_short_abandons: bool = True
    hold_limit_seconds: float = 10.0
    hold_severe_seconds: float = 60.0
    call_max_seconds: float = 300.0
    call_target_seconds: float = 180.0
    service_level_target: float = 0.9
    timezone: str = "Asia/Shanghai"
    callback_service_due_minutes: int = 30
    wrap_up_minutes: float = 10.0
    complaint_rate_target: float = 0.03
    complaint_chase_days: float = 3.0

    @property
    def service_level_seconds(self) -> float:
        """Answered within standard ⇔ ring_seconds below this."""
        return self.max_rings * self.ring_cycle_seconds

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict, including the derived service-level threshold."""
        return {
            "ring_cycle_seconds": self.ring_cycle_seconds,
            "max_rings": self.max_rings,
            "service_level_seconds": self.service_level_seconds,
            "short_abandon_seconds": self.short_abandon_seconds,
            "exclude_short_abandons": self.exclude_short_abandons,
            "hold_limit_seconds": self.hold_limit_seconds,
            "hold_severe_seconds": self.hold_severe_seconds,
            "call_max_seconds": self.call_max_seconds,
            "call_target_seconds": self.call_target_seconds,
            "service_level_target": self.service_level_target,
            "timezone": self.timezone,
            "callback_service_due_minutes": self.callback_service_due_minutes,
            "wrap_up_minutes": self.wrap_up_minutes,
            "complaint_rate_target": self.complaint_rate_target,
            "complaint_chase_days": self.complaint_chase_days,
        }


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` to 6 places; None over nothing."""
    return None if denominator == 0 else round(numerator / denominator, 6)


def figure(value: float | int | None, formula: str) -> dict[str, Any]:
    """One figure as the API gives it: its value (floats to 6 places) and its formula."""
    if isinstance(value, float):
        value = round(value, 6)
    return {"value": value, "formula": formula}


def _denominators(c: Counts, s: FigureSettings) -> tuple[int, int]:
    """Service level's and answer rate's denominators (short abandons left out if set)."""
    excluded = c.short_abandons if s.exclude_short_abandons else 0
    return c.answered + c.abandoned - excluded, c.offered - excluded


def _asked(c: Counts) -> int:
    """Callers who heard the satisfaction question, whatever they answered."""
    return (
        c.satisfaction_satisfied
        + c.satisfaction_suggestion
        + c.satisfaction_invalid
        + c.satisfaction_no_answer
    )


def trend_values(counts: Counts, settings: FigureSettings) -> dict[str, float | int | None]:
    """The values (no formulas) of the figures a history charts — the same values
    :func:`figures` gives them, computed without building 31 formulas per bucket (a year
    by hour has 8,760 buckets)."""
    c = counts
    sl_denominator, ar_denominator = _denominators(c, settings)
    return {
        "offered": c.offered,
        "service_level": ratio(c.answered_within_standard, sl_denominator),
        "answer_rate": ratio(c.answered, ar_denominator),
        "asa_seconds": ratio(c.ring_seconds_sum, c.answered),
        "abandoned": c.abandoned,
        "hold_over_limit": c.hold_over_limit,
        "silent_calls": c.silence_prompted_then_spoke + c.silence_hung_up_silent,
        "satisfaction_rate": ratio(c.satisfaction_satisfied, _asked(c)),
    }


def figures(counts: Counts, settings: FigureSettings) -> dict[str, dict[str, Any]]:
    """Every figure of ``counts`` as ``{name: {"value", "formula"}}``, in a fixed order."""
    s = settings
    c = counts
    sl_limit = f"{s.max_rings} × {s.ring_cycle_seconds:g} s = {s.service_level_seconds:g} s"
    minus_short = " − short_abandons" if s.exclude_short_abandons else ""
    not_excluded = "" if s.exclude_short_abandons else " (short abandons not excluded: setting off)"
    sl_denominator, ar_denominator = _denominators(c, s)
    return {
        "offered": figure(
            c.offered,
            "count of inbound calls with offered_at in [from, to); return calls (S8: the "
            "customer called back, then queued) are not counted: their wait is the call's "
            "return_call.wait_seconds = operator_answered_at − queued_at",
        ),
        "answered": figure(c.answered, "count of offered calls with answered_at set"),
        "answered_within_standard": figure(
            c.answered_within_standard,
            f"count of answered calls with ring_seconds < max_rings × ring_cycle ({sl_limit});"
            f" {RING_SECONDS}",
        ),
        "abandoned": figure(
            c.abandoned, "count of offered calls the caller hung up before any operator answered"
        ),
        "short_abandons": figure(
            c.short_abandons,
            f"count of abandoned calls that hung up within {s.short_abandon_seconds:g} s "
            "of wait_started_at",
        ),
        "service_level": figure(
            ratio(c.answered_within_standard, sl_denominator),
            f"answered_within_standard / (answered + abandoned{minus_short})"
            f" = {c.answered_within_standard} / {sl_denominator}{not_excluded}",
        ),
        "answer_rate": figure(
            ratio(c.answered, ar_denominator),
            f"answered / (offered{minus_short}) = {c.answered} / {ar_denominator}{not_excluded}",
        ),
        "asa_seconds": figure(
            ratio(c.ring_seconds_sum, c.answered),
            f"mean ring_seconds of answered calls = {c.ring_seconds_sum:g} / {c.answered};"
            f" {RING_SECONDS}",
        ),
        "longest_wait_seconds": figure(
            c.longest_wait_seconds,
            "max over offered calls of (answered: ring_seconds; otherwise: "
            "ended_at − wait_started_at)",
        ),
        "hold_over_limit": figure(
            c.hold_over_limit,
            f"count of calls with a hold over {s.hold_limit_seconds:g} s (hold_over_limit)",
        ),
        "hold_severe": figure(
            c.hold_severe,
            f"count of calls with max_hold_seconds > hold_severe_seconds "
            f"({s.hold_severe_seconds:g} s)",
        ),
        "silent_calls": figure(
            c.silence_prompted_then_spoke + c.silence_hung_up_silent,
            "count of calls with silence ≠ none (= silent_prompted_then_spoke + silent_hung_up)",
        ),
        "silent_prompted_then_spoke": figure(
            c.silence_prompted_then_spoke, "count of calls with silence = prompted_then_spoke"
        ),
        "silent_hung_up": figure(
            c.silence_hung_up_silent, "count of calls with silence = hung_up_silent"
        ),
        "over_max_duration": figure(
            c.over_max_duration,
            f"count of calls with talk_seconds over {s.call_max_seconds:g} s (over_max_duration)",
        ),
        "within_target_duration": figure(
            c.within_target_duration,
            f"count of answered calls with talk_seconds ≤ {s.call_target_seconds:g} s "
            "(the target length, S6)",
        ),
        "within_target_duration_rate": figure(
            ratio(c.within_target_duration, c.answered),
            f"within_target_duration / answered = {c.within_target_duration} / {c.answered}",
        ),
        "operator_hung_up_first": figure(
            c.operator_hung_up_first,
            "count of answered calls the operator hung up before the caller, not handing "
            "the caller to the satisfaction question or transferring (operator_hung_up_first, "
            "S9)",
        ),
        "operator_hung_up_first_rate": figure(
            ratio(c.operator_hung_up_first, c.answered),
            f"operator_hung_up_first / answered = {c.operator_hung_up_first} / {c.answered}",
        ),
        "late_wrap_ups": figure(
            c.late_wrap_ups,
            "count of answered calls whose record (来电记录) was first entered more than "
            f"{s.wrap_up_minutes:g} min after the call's end, or is still missing that long "
            "after it (late_wrap_up, S8)",
        ),
        "late_wrap_up_rate": figure(
            ratio(c.late_wrap_ups, c.answered),
            f"late_wrap_ups / answered = {c.late_wrap_ups} / {c.answered}",
        ),
        "incomplete": figure(
            c.incomplete, "count of calls with complete = false (events were missed)"
        ),
        **_satisfaction_figures(c),
    }


def _satisfaction_figures(c: Counts) -> dict[str, dict[str, Any]]:
    """S4/S9: how the callers answered the satisfaction question (1 satisfied, 2 suggestion)."""
    asked = _asked(c)
    return {
        "satisfaction_asked": figure(
            asked,
            "count of calls whose caller heard the satisfaction question = satisfied + "
            f"suggestion + invalid + no_answer = {c.satisfaction_satisfied} + "
            f"{c.satisfaction_suggestion} + {c.satisfaction_invalid} + "
            f"{c.satisfaction_no_answer}",
        ),
        "satisfaction_satisfied": figure(
            c.satisfaction_satisfied, "count of calls whose caller pressed 1 (satisfied)"
        ),
        "satisfaction_suggestion": figure(
            c.satisfaction_suggestion, "count of calls whose caller pressed 2 (a suggestion)"
        ),
        "satisfaction_invalid": figure(
            c.satisfaction_invalid, "count of calls whose caller pressed another key"
        ),
        "satisfaction_no_answer": figure(
            c.satisfaction_no_answer,
            "count of calls whose caller heard the question and pressed no key in time",
        ),
        "satisfaction_rate": figure(
            ratio(c.satisfaction_satisfied, asked),
            f"satisfaction_satisfied / satisfaction_asked = {c.satisfaction_satisfied} / {asked}",
        ),
    }


def callback_figures(counts: CallbackCounts, settings: FigureSettings) -> dict[str, dict[str, Any]]:
    """The S5 figures of the callbacks due in an interval, each with its formula.

    A callback counts in the interval by ``due_at``; cancelled callbacks do not count. The
    completing attempt of a completed callback is its last attempt with outcome ``completed``
    (a survey) or ``connected`` (a return call handed to the operators, S8).
    """
    c = counts
    minutes = settings.callback_service_due_minutes
    overdue = c.open_overdue + c.completed_late
    return {
        "callbacks_due": figure(
            c.due, "count of callbacks with due_at in [from, to), status ≠ cancelled"
        ),
        "callbacks_completed": figure(
            c.completed,
            "count of due callbacks with status = completed (a survey completed, or a return "
            "call handed to the operators: outcome connected)",
        ),
        "callbacks_overdue": figure(
            overdue,
            "count of due callbacks past their deadline: still pending or in_progress with "
            "deadline < now, or completed by an attempt started after the deadline"
            f" = {c.open_overdue} + {c.completed_late}",
        ),
        "callbacks_completed_within_30_min": figure(
            c.service_within,
            f"count of due service_completed callbacks with status = completed whose "
            f"completing attempt started within {minutes} min of reference_time",
        ),
        "callbacks_within_30_min_rate": figure(
            ratio(c.service_within, c.service_due),
            f"callbacks_completed_within_30_min / due service_completed callbacks"
            f" = {c.service_within} / {c.service_due}",
        ),
        "satisfaction_index": figure(
            ratio(c.satisfaction_sum, c.satisfaction_scored),
            "mean satisfaction_index (mean of the five survey scores, 1–5) of due completed "
            f"callbacks that have one = {c.satisfaction_sum:g} / {c.satisfaction_scored}",
        ),
    }


def complaint_figures(
    counts: ComplaintCounts, answered: int, settings: FigureSettings
) -> dict[str, dict[str, Any]]:
    """The S7 figures of the complaints registered in an interval, each with its formula;
    ``answered`` is the interval's answered calls (the complaint rate's denominator)."""
    c = counts
    target = f"{settings.complaint_rate_target * 100:g} %"
    return {
        "complaints_registered": figure(
            c.registered,
            "count of complaints with created_at in [from, to) (registered through the API "
            "or opened by a call record of type complaint)",
        ),
        "complaint_rate": figure(
            ratio(c.registered, answered),
            f"complaints_registered / answered = {c.registered} / {answered} "
            f"(target < {target}, S7)",
        ),
        "complaints_resolved": figure(
            c.resolved,
            "count of those complaints whose state is resolved or confirmed now",
        ),
        "complaint_resolution_rate": figure(
            ratio(c.resolved, c.registered),
            f"complaints_resolved / complaints_registered = {c.resolved} / {c.registered} "
            "(target 100 %, S7)",
        ),
        "complaints_overdue": figure(
            c.overdue,
            "count of those complaints still open (registered, assigned or reopened) whose "
            "last registration, assignment, feedback or reopening is more than "
            f"{settings.complaint_chase_days:g} days before now",
        ),
        "complaints_escalated": figure(
            c.escalated,
            "count of those complaints escalated at least once (escalated_at set)",
        ),
    }
