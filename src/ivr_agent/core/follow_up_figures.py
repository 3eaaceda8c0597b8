"""The S8 figures of the calls placed to follow a call up — return calls (呼损回拨; an
in-queue callback request's call too) and specialist call-backs (他会在3分钟内与您联系) —
each with its formula (pure: the counts come from ``metrics/follow_up_counts.py``).

A return call is a callback of reason ``abandoned_call`` or ``queue_callback``; it is
*reached* when an attempt ended ``connected`` (the customer answered, heard the greeting and
was handed to the admin's operator route), and *answered by an operator* when the call that
attempt placed (``calls.linkedid`` = the attempt's channel id) was taken by an operator
(``extra.return_call.operator_answered_at`` set) — or, placed operator first, the attempt
rang an operator before the customer (``callback_attempts.operator_first``). A specialist
call-back is *within* its due time when the customer was reached (the answer of the attempt
that connected them to the specialist) by its deadline (request +
``IVR_AGENT_SPECIALIST_DUE_SECONDS``), and *late* when the API's breach
``late_specialist_callback`` holds for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .figures import figure, ratio


@dataclass(frozen=True)
class FollowUpCounts:
    """What SQL counted over the return calls and specialist call-backs of one interval."""

    #: Return-call callbacks whose first attempt started in the interval …
    return_placed: int = 0
    #: … of those, reached (an attempt ended ``connected``) …
    return_reached: int = 0
    #: … and of those, answered by an operator on the resulting call.
    return_operator_answered: int = 0
    #: Specialist call-backs requested in the interval (not cancelled) with an attempt …
    specialist_placed: int = 0
    #: … of those, whose customer was reached by the deadline …
    specialist_within: int = 0
    #: … and those of all requested in the interval that are late (breach).
    specialist_late: int = 0
    #: Specialist call-backs requested in the interval (not cancelled), placed or not.
    specialist_requested: int = 0


def follow_up_figures(counts: FollowUpCounts, due_seconds: float) -> dict[str, dict[str, Any]]:
    """The S8 figures of return calls and specialist call-backs, each with its formula;
    ``due_seconds``: the specialist's due time (``IVR_AGENT_SPECIALIST_DUE_SECONDS``)."""
    c = counts
    due = f"{due_seconds:g} s"
    return {
        "return_calls_placed": figure(
            c.return_placed,
            "count of return calls (callbacks of reason abandoned_call or queue_callback, "
            "status ≠ cancelled) whose first attempt started in [from, to)",
        ),
        "return_calls_reached": figure(
            c.return_reached,
            "count of those return calls with an attempt of outcome connected (the customer "
            "answered, heard the greeting and was handed to the operator route)",
        ),
        "return_calls_operator_answered": figure(
            c.return_operator_answered,
            "count of those reached return calls whose resulting call (calls.linkedid = the "
            "connected attempt's channel_id) an operator answered "
            "(extra.return_call.operator_answered_at set), or whose connected attempt rang an "
            "operator first (callback_attempts.operator_first set)",
        ),
        "return_call_operator_rate": figure(
            ratio(c.return_operator_answered, c.return_placed),
            f"return_calls_operator_answered / return_calls_placed"
            f" = {c.return_operator_answered} / {c.return_placed}",
        ),
        "specialist_calls_placed": figure(
            c.specialist_placed,
            "count of specialist call-backs requested (reference_time) in [from, to), "
            f"status ≠ cancelled, with at least one attempt (of {c.specialist_requested} "
            "requested)",
        ),
        "specialist_calls_within_due": figure(
            c.specialist_within,
            "count of those whose customer was reached (answered_at of the connected "
            f"attempt) at or before the deadline = request + {due}",
        ),
        "specialist_calls_late": figure(
            c.specialist_late,
            "count of the specialist call-backs requested in [from, to) with breach "
            "late_specialist_callback: reached after the deadline, or not reached and the "
            "deadline passed (still open: before now; given up: before it was given up)"
            f"; deadline = request + {due}",
        ),
        "specialist_within_due_rate": figure(
            ratio(c.specialist_within, c.specialist_requested),
            f"specialist_calls_within_due / specialist call-backs requested"
            f" = {c.specialist_within} / {c.specialist_requested}",
        ),
    }
