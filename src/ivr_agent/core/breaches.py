"""Breaches: which standards a call broke, by name, and how the pages label them.

The one definition of the breach kinds. The live feed (``dashboard/live.py``) judges a
finished call's outcome with :func:`standard_breaches`; the QA list (``qa/listing.py``) judges
a stored call with :func:`breaches_of`; the SQL that finds them in the database
(``metrics/store.py``) is keyed by these names and checked against them at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from .texts import N_

BreachKind = Literal[
    "late_answer",
    "long_hold",
    "silent_hang_up",
    "over_max_duration",
    "operator_hung_up_first",
    "low_satisfaction",
    "late_wrap_up",
]

LATE_ANSWER: Final = "late_answer"  # S1: answered, but not within the standard's rings
LONG_HOLD: Final = "long_hold"  # S2: a hold longer than the reminder interval
SILENT_HANG_UP: Final = "silent_hang_up"  # S3: the caller never spoke, the call was ended
OVER_MAX_DURATION: Final = "over_max_duration"  # S6: the talk went over the maximum length
# S9: the operator hung up before the caller (not a transfer)
OPERATOR_HUNG_UP_FIRST: Final = "operator_hung_up_first"
LOW_SATISFACTION: Final = "low_satisfaction"  # QA: a low index, or the caller had a suggestion
# S8: the call record (来电记录) entered more than the wrap-up time after the call's end, or not
# yet when that time has passed
LATE_WRAP_UP: Final = "late_wrap_up"

#: The breaches a call's outcome alone decides (S1, S2, S3, S6, S9), in the order listed.
STANDARD_BREACHES: tuple[BreachKind, ...] = (
    LATE_ANSWER,
    LONG_HOLD,
    SILENT_HANG_UP,
    OVER_MAX_DURATION,
    OPERATOR_HUNG_UP_FIRST,
)
#: Every breach, in the order pages list them: the standards', then QA's, then the wrap-up's.
BREACHES: tuple[BreachKind, ...] = (*STANDARD_BREACHES, LOW_SATISFACTION, LATE_WRAP_UP)

#: How pages name each breach (in English; the pages show the catalogue's translation).
BREACH_LABELS: Mapping[str, str] = {
    LATE_ANSWER: N_("late answer"),
    LONG_HOLD: N_("long hold"),
    SILENT_HANG_UP: N_("silent hang-up"),
    OVER_MAX_DURATION: N_("long call"),
    OPERATOR_HUNG_UP_FIRST: N_("operator hung up first"),
    LOW_SATISFACTION: N_("low satisfaction"),
    LATE_WRAP_UP: N_("late wrap-up"),
}

#: A QA satisfaction index below this (or the caller pressing "suggestion") is "low".
LOW_SATISFACTION_BELOW = 3.0
#: S8: the call record is due this long after hang-up (挂机后10分钟内), unless set otherwise.
WRAP_UP_MINUTES = 10.0


class CallFacts(Protocol):
    """What the standards' breaches are judged on: a :class:`~.outcome.CallOutcome`, or a
    stored call row (same names)."""

    @property
    def answered_at(self) -> object | None: ...
    @property
    def answered_within_standard(self) -> bool | None: ...
    @property
    def hold_over_limit(self) -> bool: ...
    @property
    def silence(self) -> str: ...
    @property
    def over_max_duration(self) -> bool: ...
    @property
    def operator_hung_up_first(self) -> bool: ...


def standard_breaches(call: CallFacts) -> tuple[BreachKind, ...]:
    """The standards ``call`` broke, in :data:`STANDARD_BREACHES` order.

    A call never answered has no ring verdict, so it is never a late answer (an abandon is
    counted on its own, not as a breach).
    """
    found: list[BreachKind] = []
    if call.answered_at is not None and call.answered_within_standard is False:
        found.append(LATE_ANSWER)
    if call.hold_over_limit:
        found.append(LONG_HOLD)
    if call.silence == "hung_up_silent":
        found.append(SILENT_HANG_UP)
    if call.over_max_duration:
        found.append(OVER_MAX_DURATION)
    if call.operator_hung_up_first:
        found.append(OPERATOR_HUNG_UP_FIRST)
    return tuple(found)


def low_satisfaction(satisfaction: str | None, qa_index: float | None) -> bool:
    """The caller pressed "suggestion" after the satisfaction question, or QA's latest
    satisfaction index of the call is below :data:`LOW_SATISFACTION_BELOW`."""
    return satisfaction == "suggestion" or (
        qa_index is not None and qa_index < LOW_SATISFACTION_BELOW
    )


def late_wrap_up(
    ended_at: datetime,
    first_entered_at: datetime | None,
    now: datetime,
    wrap_up: timedelta = timedelta(minutes=WRAP_UP_MINUTES),
) -> bool:
    """S8: whether an answered call's record is late.

    Late when its first entry (``first_entered_at``; a later correction does not count) came
    more than ``wrap_up`` after the call's end, or when there is none yet and ``now`` is more
    than ``wrap_up`` past the end. Exactly ``wrap_up`` after the end is still in time. The SQL
    twin (``db/breaches.py``) is the same comparison: ``coalesce(first, now) > end + wrap_up``.
    """
    deadline = ended_at + wrap_up
    entered = first_entered_at if first_entered_at is not None else now
    return entered > deadline


def breaches_of(
    call: CallFacts,
    satisfaction: str | None,
    qa_index: float | None,
    wrap_up_late: bool = False,
) -> tuple[BreachKind, ...]:
    """Every breach of a stored call, in :data:`BREACHES` order: the standards it broke,
    then low satisfaction (its caller's answer ``satisfaction``, QA's ``qa_index``), then
    a late wrap-up (``wrap_up_late``: :func:`late_wrap_up` of the call, judged by the
    caller, which knows the record's time and the clock)."""
    found = standard_breaches(call)
    if low_satisfaction(satisfaction, qa_index):
        found = (*found, LOW_SATISFACTION)
    if wrap_up_late:
        found = (*found, LATE_WRAP_UP)
    return found


#: S8: a specialist call-back reached the customer later than its due time after the request
#: (他会在3分钟内与您联系), or not yet when that time has passed. Judged per callback, with its
#: seconds (:func:`late_specialist_seconds`), not per call.
LATE_SPECIALIST_CALLBACK: Final = "late_specialist_callback"
#: S8: a specialist contacts the customer within this, unless set otherwise.
SPECIALIST_DUE_SECONDS = 180.0


def late_specialist_seconds(
    requested_at: datetime,
    reached_at: datetime | None,
    now: datetime,
    due: timedelta = timedelta(seconds=SPECIALIST_DUE_SECONDS),
) -> float | None:
    """S8: by how many seconds a specialist call-back was late, or None when in time.

    Late when the customer was reached (``reached_at``: the customer answered, bridged to the
    specialist) more than ``due`` after the request, or — not reached yet — when ``now`` is
    more than ``due`` past it: the seconds beyond ``due`` (so far). Exactly ``due`` is in time.
    """
    deadline = requested_at + due
    at = reached_at if reached_at is not None else now
    if at <= deadline:
        return None
    return (at - deadline).total_seconds()
