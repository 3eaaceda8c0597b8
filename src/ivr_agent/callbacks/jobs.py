"""Callback jobs: what a callback request is, and storing one as a pending job.

A callback row is the job. It is created pending, due by the S5 rules of
``core/callbacks.py`` (:func:`ivr_agent.core.callbacks.schedule`), by ``POST /api/callbacks``
or, for an abandoned inbound call, in the transaction that saves the call
(:func:`callback_for_abandoned`). Dialling it is ``callbacks/attempts.py``; reading it back
is ``callbacks/queries.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks.sessions import in_transaction, utc
from ivr_agent.core.callbacks import CallbackConfig, check_customer_name, schedule
from ivr_agent.core.ids import DEFAULT_PBX_ID, check_pbx_id
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.phone import check_customer_number
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow


@dataclass(frozen=True)
class CallbackRequest:
    """What ``POST /api/callbacks`` (or an abandoned call) asks for; validated on creation."""

    customer_number: str
    customer_name: str | None
    reason: str
    reference_time: datetime
    source_call_id: str | None = None
    #: A specialist call-back (reason ``specialist``): the specialist's operator id.
    operator_id: str | None = None
    #: The PBX it is dialled through (only that PBX's active agent claims it): a call's
    #: callback its call's, a requested one the one asked for or the serving agent's.
    pbx_id: str = DEFAULT_PBX_ID


@dataclass(frozen=True)
class CreatedCallback:
    """A stored new callback: when it is first dialled and its hard deadline (UTC)."""

    callback_id: str
    due_at: datetime
    deadline: datetime
    overdue: bool
    created: bool = True


def check_request(request: CallbackRequest) -> CallbackRequest:
    """The request with its name normalised; ``ValueError`` naming the bad field."""
    if request.reason in ("campaign", "queue_callback"):
        # A campaign callback belongs to a run (``ivr_agent.campaigns``), one per customer; a
        # queue callback request to the call that made it (``queue_requests``).
        raise ValueError(f"reason: {request.reason} callbacks are not requested here")
    if (request.reason == "specialist") != (request.operator_id is not None):
        raise ValueError("operator_id: required for a specialist call-back, and only for it")
    try:
        check_customer_number(request.customer_number)
    except ValueError as exc:
        raise ValueError(f"customer_number: {exc}") from None
    try:
        name = check_customer_name(request.customer_name)
    except ValueError as exc:
        raise ValueError(f"customer_name: {exc}") from None
    utc("reference_time", request.reference_time)
    try:
        check_pbx_id(request.pbx_id)
    except ValueError as exc:
        raise ValueError(f"pbx_id: {exc}") from None
    return replace(request, customer_name=name)


async def create_callback(
    target: Database | AsyncSession,
    request: CallbackRequest,
    config: CallbackConfig,
    now: datetime,
) -> CreatedCallback:
    """Store a new pending callback, due by the S5 rules; ``ValueError`` for a bad request.

    With an open session the caller owns the transaction (e.g. saving an abandoned call and
    its callback atomically). A second request for the same abandoned call (same
    ``source_call_id``) creates nothing and returns the existing callback with
    ``created=False``.
    """
    request = check_request(request)
    plan = schedule(request.reason, request.reference_time, now, config)
    values = {
        "callback_id": str(uuid.uuid4()),
        "pbx_id": request.pbx_id,
        "customer_number": request.customer_number,
        "customer_name": request.customer_name,
        "reason": request.reason,
        "reference_time": utc("reference_time", request.reference_time),
        "due_at": plan.due_at,
        "deadline": plan.deadline,
        "status": "pending",
        "next_attempt_at": plan.due_at,
        "overdue": plan.overdue,
        "source_call_id": request.source_call_id,
        "status_reason": "overdue at creation" if plan.overdue else None,
        "operator_id": request.operator_id,
    }

    async def work(session: AsyncSession) -> CreatedCallback:
        stmt = pg_insert(CallbackRow).values(values)
        if request.reason == "abandoned_call" and request.source_call_id is not None:
            stmt = stmt.on_conflict_do_nothing(
                index_elements=["source_call_id"],
                # The partial index's predicate as a literal: a bound parameter here is
                # inferred in a custom plan only, and once PostgreSQL switched the prepared
                # statement to a generic plan (after 5 runs on a connection: under load)
                # every abandoned call failed "no unique or exclusion constraint matching
                # the ON CONFLICT specification", and the outbox stalled on it.
                index_where=text("reason = 'abandoned_call'"),
            )
        inserted = (await session.execute(stmt.returning(CallbackRow.callback_id))).scalar()
        if inserted is not None:
            return CreatedCallback(inserted, plan.due_at, plan.deadline, plan.overdue)
        row = (
            await session.scalars(
                select(CallbackRow).where(
                    CallbackRow.source_call_id == request.source_call_id,
                    CallbackRow.reason == "abandoned_call",
                )
            )
        ).one()
        return CreatedCallback(row.callback_id, row.due_at, row.deadline, row.overdue, False)

    return await in_transaction(target, "create callback", work)


async def callback_for_abandoned(
    session: AsyncSession,
    outcome: CallOutcome,
    call_id: str,
    config: CallbackConfig,
    now: datetime,
) -> CreatedCallback | None:
    """The automatic callback of an abandoned inbound call, in the caller's transaction.

    Created for an inbound call that was abandoned, unless it was a short abandon (a
    misdial by S1's reckoning) or the caller's number cannot be dialled (withheld,
    internal, malformed). Its reference time is the abandon time (``ended_at``); it is
    dialled through the call's PBX. Saving
    the same call again creates nothing (unique per ``source_call_id``); ``None`` when no
    callback is due.
    """
    if outcome.direction != "inbound" or not outcome.abandoned or outcome.short_abandon:
        return None
    try:
        number = check_customer_number(outcome.caller_number)
    except ValueError:
        return None
    try:
        name = check_customer_name(outcome.extra.get("caller_name"))
    except ValueError:
        name = None  # a name we cannot speak safely is left out, the callback still placed
    request = CallbackRequest(
        number, name, "abandoned_call", outcome.ended_at, call_id, pbx_id=outcome.pbx_id
    )
    return await create_callback(session, request, config, now)
