"""Complaints opened by a service callback (S5 → S7): the customer said the problem the
service was about is not solved (回访: "工程师已经帮助您排除问题了吗?" — 2).

The survey stores the answer on the callback (``problem_solved = false``, ``follow_up``);
here each such callback opens one complaint for its customer, registered by ``callback``,
for a supervisor to assign. Run by the complaint runner each round, read from the
database like the resolved complaints' answers: an answer stored while no runner ran is
acted on at the next round, and the unique ``source_callback_id`` makes it one complaint
per callback whatever number of agents race for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.store import add_event, audit, insert_registered
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow, ComplaintRow

#: Who registers these complaints (the timeline's actor).
CALLBACK = Actor("callback", "agent")
#: The callbacks whose "not solved" opens a complaint. A ``complaint_resolved`` callback's
#: answer reopens its own complaint instead (the runner's settlement).
OPENS_A_COMPLAINT = ("service_completed",)


def summary_of(callback: CallbackRow) -> str:
    """What the complaint says: the customer's answer and the callback it was given on."""
    when = callback.reference_time.date().isoformat()
    return (
        f"回访未解决: the customer said on the service callback that the problem of the "
        f"service of {when} is not solved (callback {callback.callback_id})"
    )


async def open_from_unsolved_services(db: Database, *, now: datetime) -> list[str]:
    """Open the complaint of each service callback answered "not solved" that has none yet;
    the new complaints' ids."""
    has_one = select(ComplaintRow.complaint_id).where(
        ComplaintRow.source_callback_id == CallbackRow.callback_id
    )
    query = select(CallbackRow).where(
        CallbackRow.reason.in_(OPENS_A_COMPLAINT),
        CallbackRow.problem_solved.is_(False),
        ~has_one.exists(),
    )
    opened = []
    async with db.transaction("complaints from service callbacks") as session:
        for callback in await session.scalars(query):
            inserted = await insert_registered(
                session,
                CALLBACK,
                now,
                unique="source_callback_id",
                source_callback_id=callback.callback_id,
                customer_number=callback.customer_number,
                customer_name=callback.customer_name,
                summary=summary_of(callback),
            )
            if inserted is None:
                continue  # another agent opened it first
            complaint_id = str(inserted)
            details = {"source_callback_id": str(callback.callback_id)}
            add_event(session, complaint_id, "registered", CALLBACK.name, now, "", details)
            audit(session, CALLBACK, "register", complaint_id, details)
            opened.append(complaint_id)
    return opened
