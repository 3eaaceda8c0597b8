"""The breach kinds of :mod:`ivr_agent.core.breaches` as SQL conditions on stored calls.

The standards' breaches read the flags the call's outcome stored (so SQL and
:func:`~ivr_agent.core.breaches.standard_breaches` agree by construction); low satisfaction
also needs QA's latest satisfaction index of the call, which the caller's query provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from ivr_agent.core.breaches import (
    LATE_ANSWER,
    LONG_HOLD,
    LOW_SATISFACTION,
    LOW_SATISFACTION_BELOW,
    OPERATOR_HUNG_UP_FIRST,
    OVER_MAX_DURATION,
    SILENT_HANG_UP,
    STANDARD_BREACHES,
)
from ivr_agent.db.models import CallRow

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


def breach_sql(kind: str, qa_index: Any) -> ColumnElement[bool]:
    """The condition finding breach ``kind`` among ``calls`` rows; ``qa_index`` is the SQL
    of the row's latest QA satisfaction index (only low satisfaction reads it).
    ``KeyError`` for an unknown kind."""
    if kind == LOW_SATISFACTION:
        return or_(
            CallRow.extra["satisfaction"].astext == "suggestion",
            qa_index < LOW_SATISFACTION_BELOW,
        )
    return STANDARD_BREACH_SQL[kind]
