"""The breach kinds of :mod:`ivr_agent.core.breaches` as SQL conditions on stored calls.

The standards' breaches read the flags the call's outcome stored (so SQL and
:func:`~ivr_agent.core.breaches.standard_breaches` agree by construction); low satisfaction
also needs QA's latest satisfaction index of the call, which the caller's query provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from ivr_agent.core.breaches import (
    LATE_ANSWER,
    LATE_WRAP_UP,
    LONG_HOLD,
    LOW_SATISFACTION,
    LOW_SATISFACTION_BELOW,
    OPERATOR_HUNG_UP_FIRST,
    OVER_MAX_DURATION,
    SILENT_HANG_UP,
    STANDARD_BREACHES,
    WRAP_UP_MINUTES,
)
from ivr_agent.db.models import CallRecordRow, CallRow

#: S8's default wrap-up time (``IVR_AGENT_WRAP_UP_MINUTES``).
DEFAULT_WRAP_UP = timedelta(minutes=WRAP_UP_MINUTES)

#: Standard breach kind → the condition on ``calls`` that finds it, in
#: :data:`~ivr_agent.core.breaches.STANDARD_BREACHES` order.
STANDARD_BREACH_SQL: Mapping[str, ColumnElement[bool]] = {
    LATE_ANSWER: and_(
        CallRow.answered_at.is_not(None), CallRow.answered_within_standard.is_(False)
    ),
    LONG_HOLD: CallRow.hold_over_limit.is_(True),
    SILENT_HANG_UP: CallRow.silence == "hung_up_silent",
    OVER_MAX_DURATION: CallRow.over_max_duration.is_(True),
    OPERATOR_HUNG_UP_FIRST: CallRow.operator_hung_up_first.is_(True),
}
if tuple(STANDARD_BREACH_SQL) != STANDARD_BREACHES:  # a kind added in core needs its SQL here
    raise RuntimeError(
        f"STANDARD_BREACH_SQL {tuple(STANDARD_BREACH_SQL)} != core {STANDARD_BREACHES}"
    )


def first_record_entry() -> Any:
    """The SQL of a ``calls`` row's first record entry time (version 1's ``created_at``;
    NULL: no record yet), served by the ``(call_id, version)`` key."""
    return (
        select(CallRecordRow.created_at)
        .where(CallRecordRow.call_id == CallRow.call_id, CallRecordRow.version == 1)
        .scalar_subquery()
    )


def needs_record() -> ColumnElement[bool]:
    """The calls S8 expects a record of: answered inbound calls (a callback's survey has
    no operator to wrap it up) stored since records exist (``record_expected``)."""
    return and_(
        CallRow.direction == "inbound",
        CallRow.answered_at.is_not(None),
        CallRow.record_expected.is_(True),
    )


def late_wrap_up_sql(wrap_up: timedelta = DEFAULT_WRAP_UP, now: Any = None) -> ColumnElement[bool]:
    """S8's ``late_wrap_up`` on ``calls`` rows: the twin of
    :func:`~ivr_agent.core.breaches.late_wrap_up` — the first entry (or ``now``, the
    database's clock unless given, when there is none) later than the end + ``wrap_up``."""
    moment = func.now() if now is None else now
    return and_(
        needs_record(),
        func.coalesce(first_record_entry(), moment) > CallRow.ended_at + wrap_up,
    )


def breach_sql(
    kind: str, qa_index: Any, wrap_up: timedelta = DEFAULT_WRAP_UP
) -> ColumnElement[bool]:
    """The condition finding breach ``kind`` among ``calls`` rows; ``qa_index`` is the SQL
    of the row's latest QA satisfaction index (only low satisfaction reads it), ``wrap_up``
    the time a record is due after hang-up (only late wrap-up reads it).
    ``KeyError`` for an unknown kind."""
    if kind == LATE_WRAP_UP:
        return late_wrap_up_sql(wrap_up)
    if kind == LOW_SATISFACTION:
        return or_(
            CallRow.extra["satisfaction"].astext == "suggestion",
            qa_index < LOW_SATISFACTION_BELOW,
        )
    return STANDARD_BREACH_SQL[kind]
