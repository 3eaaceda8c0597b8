"""Counting the return calls and specialist call-backs of an interval for the S8 figures
(``core/follow_up_figures.py``, where each count's rule is stated).

Counted straight from the callback tables and ``calls`` (one row comes back): these are few
per day beside the inbound calls, so no roll-up is kept for them. Return calls count by the
start of their first attempt, specialist call-backs by their request (``reference_time``);
"late" is judged at ``now`` as the callbacks API judges the breach.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from ivr_agent.core.callbacks import OPEN_STATUSES, RETURN_CALL_REASONS
from ivr_agent.core.follow_up_figures import FollowUpCounts
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow, CallRow


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


async def follow_up_summary(
    database: Database, start: datetime, end: datetime, *, now: datetime
) -> FollowUpCounts:
    """The return calls first placed and the specialist call-backs requested in
    ``[start, end)``: how many were reached, answered by an operator, in time or late."""
    cb = CallbackRow
    a = aliased(CallbackAttemptRow)
    connected = and_(a.callback_id == cb.callback_id, a.outcome == "connected")
    first_started = (
        select(func.min(a.started_at)).where(a.callback_id == cb.callback_id).scalar_subquery()
    )
    operator_answered = or_(
        exists().where(
            connected,
            CallRow.pbx_id == a.pbx_id,
            CallRow.linkedid == a.channel_id,
            func.jsonb_extract_path_text(
                CallRow.extra, "return_call", "operator_answered_at"
            ).is_not(None),
        ),
        # Operator first (S8): the operator answered before the customer was dialled.
        exists().where(connected, a.operator_first.is_not(None)),
    )
    returns = (
        select(
            func.count().label("placed"),
            _count(exists().where(connected)).label("reached"),
            _count(operator_answered).label("operator_answered"),
        )
        .where(
            cb.reason.in_(sorted(RETURN_CALL_REASONS)),
            cb.status != "cancelled",
            first_started >= start,
            first_started < end,
        )
        .subquery()
    )
    reached_at = (
        select(a.answered_at)
        .where(connected)
        .order_by(a.attempt_no.desc())
        .limit(1)
        .scalar_subquery()
    )
    unreached_late = or_(
        and_(cb.status.in_(OPEN_STATUSES), cb.deadline < now),
        and_(cb.status.not_in(OPEN_STATUSES), cb.updated_at > cb.deadline),
    )
    specialists = (
        select(
            func.count().label("requested"),
            _count(exists().where(a.callback_id == cb.callback_id)).label("placed"),
            _count(reached_at <= cb.deadline).label("within"),
            _count(or_(reached_at > cb.deadline, and_(reached_at.is_(None), unreached_late))).label(
                "late"
            ),
        )
        .where(
            cb.reason == "specialist",
            cb.status != "cancelled",
            cb.reference_time >= start,
            cb.reference_time < end,
        )
        .subquery()
    )
    async with database.transaction("follow-up call summary") as session:
        r = (await session.execute(select(returns))).one()
        s = (await session.execute(select(specialists))).one()
    return FollowUpCounts(
        return_placed=r.placed,
        return_reached=r.reached,
        return_operator_answered=r.operator_answered,
        specialist_placed=s.placed,
        specialist_within=s.within,
        specialist_late=s.late,
        specialist_requested=s.requested,
    )
