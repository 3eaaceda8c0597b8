"""Complaints (投诉, S7): their state machine and when the handling department is chased
or escalated (pure; time is always an argument).

A complaint is *registered*, *assigned* to a handling department, *resolved* by it, then
*confirmed* by the customer (the 24–72 h callback, or a supervisor) — or *reopened* from
resolved, back to be handled. Every step is an event of its timeline with who, when and a
note. The department's *feedback* is an event too: it changes no state but answers the
"no feedback for 3 days" clock.

The chase rule (S7): a complaint being handled (assigned or reopened) whose department has
been silent — no feedback, no resolution — for ``chase_after`` since it was assigned,
reopened, or last gave feedback, is chased (催办); if the department still has not answered
``escalate_after`` after the chase, the complaint is escalated to the department's
management and to quality management. One chase and one escalation per silence: feedback,
a new assignment or a reopening starts a new one. :func:`due_step` reads all of it from the
timeline, so the store keeps no second copy of the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from .texts import N_

ComplaintState = Literal["registered", "assigned", "resolved", "confirmed", "reopened"]
Transition = Literal["assign", "feedback", "resolve", "confirm", "reopen"]
EventKind = Literal[
    "registered",
    "assigned",
    "feedback",
    "resolved",
    "confirmed",
    "reopened",
    "chased",
    "escalated",
    "notified",
]
Step = Literal["chase", "escalate"]

COMPLAINT_STATES: Final[tuple[ComplaintState, ...]] = (
    "registered",
    "assigned",
    "resolved",
    "confirmed",
    "reopened",
)
TRANSITIONS: Final[tuple[Transition, ...]] = ("assign", "feedback", "resolve", "confirm", "reopen")
EVENT_KINDS: Final[tuple[EventKind, ...]] = (
    "registered",
    "assigned",
    "feedback",
    "resolved",
    "confirmed",
    "reopened",
    "chased",
    "escalated",
    "notified",
)
#: States in which a department is handling the complaint: the chase clock runs.
HANDLED: Final[frozenset[str]] = frozenset({"assigned", "reopened"})
#: States of a complaint not yet resolved (what "overdue" can apply to).
OPEN: Final[frozenset[str]] = frozenset({"registered", "assigned", "reopened"})
#: States that count as resolved in the resolution rate.
RESOLVED: Final[frozenset[str]] = frozenset({"resolved", "confirmed"})

#: The event each transition stores.
EVENT_OF: Final[Mapping[Transition, EventKind]] = {
    "assign": "assigned",
    "feedback": "feedback",
    "resolve": "resolved",
    "confirm": "confirmed",
    "reopen": "reopened",
}

#: (state, transition) → the state after it; a pair not listed is illegal. Assigning
#: again hands the complaint to another department; feedback keeps the state.
_MOVES: Final[Mapping[tuple[str, str], ComplaintState]] = {
    ("registered", "assign"): "assigned",
    ("assigned", "assign"): "assigned",
    ("reopened", "assign"): "assigned",
    ("assigned", "feedback"): "assigned",
    ("reopened", "feedback"): "reopened",
    ("assigned", "resolve"): "resolved",
    ("reopened", "resolve"): "resolved",
    ("resolved", "confirm"): "confirmed",
    ("resolved", "reopen"): "reopened",
}

#: Events that start a new silence of the handling department (the chase clock).
_CLOCK_STARTS: Final[frozenset[str]] = frozenset({"assigned", "feedback", "reopened"})

#: How pages name each state (English; the catalogue has the Chinese).
STATE_LABELS: Mapping[str, str] = {
    "registered": N_("Registered"),
    "assigned": N_("With the department"),
    "resolved": N_("Resolved"),
    "confirmed": N_("Confirmed"),
    "reopened": N_("Reopened"),
}

#: How pages name each timeline event.
EVENT_LABELS: Mapping[str, str] = {
    "registered": N_("Registered"),
    "assigned": N_("Assigned"),
    "feedback": N_("Feedback"),
    "resolved": N_("Resolved"),
    "confirmed": N_("Confirmed"),
    "reopened": N_("Reopened"),
    "chased": N_("Chased"),
    "escalated": N_("Escalated"),
    "notified": N_("Notified"),
}
#: How pages name each transition (the actions a supervisor takes).
TRANSITION_LABELS: Mapping[str, str] = {
    "assign": N_("Assign to a department"),
    "feedback": N_("Record the department's feedback"),
    "resolve": N_("Resolve"),
    "confirm": N_("Confirm (the customer agrees)"),
    "reopen": N_("Reopen"),
}

#: Longest summary and note (characters).
MAX_NOTE = 4000


class IllegalTransition(ValueError):
    """A transition the complaint's current state does not allow."""

    def __init__(self, state: ComplaintState, transition: str) -> None:
        allowed = allowed_transitions(state)
        super().__init__(
            f"a {state} complaint cannot take the transition {transition!r}"
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (it is final)")
        )
        self.state = state
        self.transition = transition


def allowed_transitions(state: ComplaintState) -> tuple[Transition, ...]:
    """The transitions ``state`` allows, in :data:`TRANSITIONS` order."""
    return tuple(t for t in TRANSITIONS if (state, t) in _MOVES)


def next_state(state: ComplaintState, transition: str) -> ComplaintState:
    """The state after ``transition``; :class:`IllegalTransition` naming both otherwise."""
    after = _MOVES.get((state, transition))
    if after is None:
        raise IllegalTransition(state, transition)
    return after


@dataclass(frozen=True)
class ComplaintEvent:
    """One entry of a complaint's timeline: what happened, when, who did it, and why."""

    kind: EventKind
    at: datetime
    actor: str = ""
    note: str = ""


@dataclass(frozen=True)
class ChaseSettings:
    """S7's times: silence before the chase, and after the chase before the escalation."""

    chase_after: timedelta = timedelta(days=3)
    escalate_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.chase_after <= timedelta(0) or self.escalate_after <= timedelta(0):
            raise ValueError("chase_after and escalate_after must be positive")


@dataclass(frozen=True)
class Standing:
    """Where a complaint stands, read from its timeline."""

    state: ComplaintState
    #: When the handling department's current silence began (None: not being handled).
    silent_since: datetime | None
    #: When that silence was chased, and whether it was escalated.
    chased_at: datetime | None
    escalated: bool


def standing(timeline: Sequence[ComplaintEvent]) -> Standing:
    """Replay ``timeline`` (oldest first, starting with ``registered``).

    ``ValueError`` if it does not start with ``registered`` or holds an illegal transition:
    a timeline the store wrote never does.
    """
    if not timeline or timeline[0].kind != "registered":
        raise ValueError("a complaint's timeline starts with its registration")
    state: ComplaintState = "registered"
    silent_since: datetime | None = None
    chased_at: datetime | None = None
    escalated = False
    for event in timeline[1:]:
        transition = _transition_of(event.kind)
        if transition is not None:
            state = next_state(state, transition)
        if event.kind in _CLOCK_STARTS:
            silent_since, chased_at, escalated = event.at, None, False
        elif event.kind in ("resolved", "confirmed"):
            silent_since, chased_at, escalated = None, None, False
        elif event.kind == "chased" and silent_since is not None:
            chased_at = event.at
        elif event.kind == "escalated" and chased_at is not None:
            escalated = True
    return Standing(state, silent_since, chased_at, escalated)


def _transition_of(kind: str) -> Transition | None:
    return next((t for t, k in EVENT_OF.items() if k == kind), None)


@dataclass(frozen=True)
class Due:
    """What the chase rule asks for now, and what comes next.

    ``step`` is due now (None: nothing). ``next_step`` falls due at ``next_at``: when a step
    is due, the step after it counted from now (as if done now); otherwise the step
    waiting. Both None: nothing will fall due until the timeline changes.
    """

    step: Step | None
    next_step: Step | None
    next_at: datetime | None


NOTHING = Due(None, None, None)


def due_step(timeline: Sequence[ComplaintEvent], now: datetime, settings: ChaseSettings) -> Due:
    """The S7 chase rule applied to ``timeline`` at ``now`` (see the module's text)."""
    where = standing(timeline)
    if where.state not in HANDLED or where.silent_since is None or where.escalated:
        return NOTHING
    if where.chased_at is None:
        chase_at = where.silent_since + settings.chase_after
        if now >= chase_at:
            return Due("chase", "escalate", now + settings.escalate_after)
        return Due(None, "chase", chase_at)
    escalate_at = where.chased_at + settings.escalate_after
    if now >= escalate_at:
        return Due("escalate", None, None)
    return Due(None, "escalate", escalate_at)


def overdue(
    state: str, silent_since: datetime | None, now: datetime, chase_after: timedelta
) -> bool:
    """An open complaint nobody has acted on for longer than ``chase_after`` (since its
    registration, assignment, last feedback or reopening)."""
    return state in OPEN and silent_since is not None and now - silent_since > chase_after
