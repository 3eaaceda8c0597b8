"""Handing a call's problem to a specialist from its record (S8: 转接至专员, "他会在3分钟内与您
联系"): the same specialist call-back ``POST /api/callbacks`` with ``kind: specialist``
creates (:func:`~ivr_agent.callbacks.jobs.create_callback`, reason ``specialist``), for the
record's contact, with the call as its ``source_call_id`` — in the record's transaction, so a
record refused stores no call-back and a call-back refused stores no record.

Saving the record again (a correction) naming the same specialist while their call-back is
still open (pending or being dialled) creates nothing new: the customer is phoned once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks.jobs import CallbackRequest, CreatedCallback, create_callback
from ivr_agent.core.callbacks import OPEN_STATUSES, CallbackConfig
from ivr_agent.core.outcome import iso
from ivr_agent.db.models import AuditLogRow, CallbackRow

#: Where the audit log says a call-back was asked for from.
FROM_RECORD = "call record"


@dataclass(frozen=True)
class HandOver:
    """Who hands which call's customer to which specialist (operator id)."""

    call_id: str
    specialist_id: str
    customer_number: str | None
    customer_name: str | None
    #: The audit log's name of who handed it over.
    actor: str


async def hand_to_specialist(
    session: AsyncSession, hand_over: HandOver, config: CallbackConfig, now: datetime
) -> CreatedCallback:
    """The specialist call-back of ``hand_over``, due at once, its deadline
    ``config.specialist_due`` after ``now``; an open one of the same call and specialist is
    returned instead (``created=False``). ``ValueError`` naming the field
    (``customer_number``: none, or not one that can be dialled)."""
    if hand_over.customer_number is None:
        raise ValueError("customer_number: the call has no number to call back: give one")
    cb = CallbackRow
    open_one = (
        await session.scalars(
            select(cb).where(
                cb.source_call_id == hand_over.call_id,
                cb.reason == "specialist",
                cb.operator_id == hand_over.specialist_id,
                cb.status.in_(OPEN_STATUSES),
            )
        )
    ).first()
    if open_one is not None:
        return CreatedCallback(
            open_one.callback_id, open_one.due_at, open_one.deadline, open_one.overdue, False
        )
    request = CallbackRequest(
        hand_over.customer_number,
        hand_over.customer_name,
        "specialist",
        now,
        source_call_id=hand_over.call_id,
        operator_id=hand_over.specialist_id,
    )
    created = await create_callback(session, request, config, now)
    session.add(
        AuditLogRow(
            actor=hand_over.actor,
            action="callback.create",
            object=created.callback_id,
            details={
                "reason": "specialist",
                "from": FROM_RECORD,
                "source_call_id": hand_over.call_id,
                "operator_id": hand_over.specialist_id,
            },
        )
    )
    return created


async def specialist_callbacks_of(session: AsyncSession, call_id: str) -> list[dict[str, Any]]:
    """The specialist call-backs the call was handed over with, oldest first: who, their
    state, when due and by when (the record page and API show them)."""
    cb = CallbackRow
    rows = await session.scalars(
        select(cb)
        .where(cb.source_call_id == call_id, cb.reason == "specialist")
        .order_by(cb.created_at, cb.callback_id)
    )
    return [
        {
            "callback_id": str(row.callback_id),
            "operator_id": row.operator_id,
            "status": row.status,
            "outcome": row.outcome,
            "due_at": iso(row.due_at),
            "deadline": iso(row.deadline),
        }
        for row in rows
    ]
