"""Complaints in the store: registering one, moving it through its states, reading it back.

Every change is one transaction that locks the complaint's row (``FOR UPDATE``), checks the
transition against the state it finds (:func:`ivr_agent.core.complaints.next_state`), and
writes the timeline event, the row's new state and an audit row together: two supervisors
acting at once are serialised, and a refused request changes nothing.

Resolving a complaint schedules its ``complaint_resolved`` callback (S7: 24–72 h later, the
customer is asked whether the problem is solved) in the same transaction, and keeps its id
on the complaint: what the customer answers comes back through the runner
(``complaints/runner.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import CallbackRequest, create_callback
from ivr_agent.complaints.model import (
    Actor,
    Complaint,
    ComplaintError,
    ComplaintExists,
    UnknownComplaint,
    entry_of,
)
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.complaints import EVENT_OF, EventKind, Transition, next_state
from ivr_agent.core.ids import DEFAULT_PBX_ID, is_uuid
from ivr_agent.core.phone import CUSTOMER_NUMBER
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import (
    AuditLogRow,
    CallbackRow,
    CallRecordRow,
    CallRow,
    ComplaintEventRow,
    ComplaintRow,
)

#: The audit log's action prefix (``complaint.register``, ``complaint.resolve``, …).
AUDIT = "complaint"


@dataclass(frozen=True)
class NewComplaint:
    """A complaint as registered (validated by the API's schema)."""

    summary: str
    customer_number: str | None = None
    customer_name: str | None = None
    call_id: str | None = None
    department_id: str | None = None
    note: str = ""


def add_event(
    session: AsyncSession,
    complaint_id: str,
    kind: EventKind,
    actor: str,
    at: datetime,
    note: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event to the complaint's timeline (in the caller's transaction)."""
    session.add(
        ComplaintEventRow(
            complaint_id=complaint_id,
            at=at,
            actor=actor,
            kind=kind,
            note=note,
            details=details or {},
        )
    )


def audit(
    session: AsyncSession, actor: Actor, action: str, complaint_id: str, details: dict[str, Any]
) -> None:
    """The audit row of an action on a complaint."""
    session.add(
        AuditLogRow(
            actor=actor.name,
            action=f"{AUDIT}.{action}",
            object=complaint_id,
            details={"role": actor.role, **details},
        )
    )


async def _call_contact(session: AsyncSession, call_id: str) -> tuple[str | None, str | None]:
    """The contact of the call's latest record, else its caller's number if dialable."""
    call = await session.get(CallRow, call_id)
    if call is None:
        raise ComplaintError(f"call_id: no call {call_id}", "call_id")
    record = await session.scalar(
        select(CallRecordRow)
        .where(CallRecordRow.call_id == call_id)
        .order_by(CallRecordRow.version.desc())
        .limit(1)
    )
    if record is not None and record.contact_number:
        return record.contact_number, record.contact_name
    number = call.caller_number
    dialable = number is not None and CUSTOMER_NUMBER.fullmatch(number) is not None
    return (number if dialable else None), None


async def register(db: Database, new: NewComplaint, actor: Actor, *, now: datetime) -> Complaint:
    """Store a new complaint (``registered``; ``assigned`` too when a department is given)
    with its audit row. :class:`ComplaintError` for an unknown call, :class:`ComplaintExists`
    when the call already has its complaint."""
    if new.call_id is not None and not is_uuid(new.call_id):
        raise ComplaintError("call_id: not a call id", "call_id")
    try:
        complaint_id = await _register(db, new, actor, now)
    except StoreError as exc:
        if exc.sqlstate != "23505":
            raise
        # Another request registered the call's complaint between our check and insert.
        async with db.transaction("complaint of call") as session:
            winner = await session.scalar(
                select(ComplaintRow.complaint_id).where(ComplaintRow.call_id == new.call_id)
            )
        raise ComplaintExists(
            f"call_id: call {new.call_id} already has complaint {winner}", str(winner)
        ) from exc
    found = await get_complaint(db, complaint_id)
    assert found is not None
    return found


async def _register(db: Database, new: NewComplaint, actor: Actor, now: datetime) -> str:
    async with db.transaction("register complaint") as session:
        number, name = new.customer_number, new.customer_name
        record_id = None
        if new.call_id is not None:
            existing = await session.scalar(
                select(ComplaintRow.complaint_id).where(ComplaintRow.call_id == new.call_id)
            )
            if existing is not None:
                raise ComplaintExists(
                    f"call_id: call {new.call_id} already has complaint {existing}", str(existing)
                )
            known_number, known_name = await _call_contact(session, new.call_id)
            number, name = number or known_number, name or known_name
            record_id = await session.scalar(
                select(CallRecordRow.record_id)
                .where(CallRecordRow.call_id == new.call_id, CallRecordRow.type == "complaint")
                .order_by(CallRecordRow.version.desc())
                .limit(1)
            )
        complaint_id = str(uuid.uuid4())
        session.add(
            ComplaintRow(
                complaint_id=complaint_id,
                call_id=new.call_id,
                record_id=record_id and str(record_id),
                customer_number=number,
                customer_name=name,
                summary=new.summary,
                department_id=new.department_id,
                state="registered" if new.department_id is None else "assigned",
                created_by=actor.name,
                created_at=now,
                updated_at=now,
                silent_since=now,
            )
        )
        await session.flush()
        add_event(session, complaint_id, "registered", actor.name, now, new.note)
        if new.department_id is not None:
            details = {"department_id": new.department_id}
            add_event(session, complaint_id, "assigned", actor.name, now, "", details)
        audit(session, actor, "register", complaint_id, {"department_id": new.department_id})
    return complaint_id


async def insert_registered(
    session: AsyncSession, actor: Actor, now: datetime, *, unique: str, **values: Any
) -> str | None:
    """Insert a ``registered`` complaint with ``values`` unless one with the same ``unique``
    column (``call_id``, ``source_callback_id``) exists — however many agents or requests
    race; the new complaint's id, or None. Its timeline and audit are the caller's."""
    return await session.scalar(
        pg_insert(ComplaintRow)
        .values(
            complaint_id=str(uuid.uuid4()),
            state="registered",
            created_by=actor.name,
            created_at=now,
            updated_at=now,
            silent_since=now,
            **values,
        )
        .on_conflict_do_nothing(index_elements=[unique])
        .returning(ComplaintRow.complaint_id)
    )


async def open_for_record(
    session: AsyncSession, record: CallRecordRow, actor: Actor, *, now: datetime
) -> str | None:
    """Open the complaint of a call whose record says ``complaint`` (in the record's
    transaction). Nothing new when the call already has one (a later version of the record,
    or one registered through the API, which gets this record as its link); returns the new
    complaint's id."""
    inserted = await insert_registered(
        session,
        actor,
        now,
        unique="call_id",
        call_id=record.call_id,
        record_id=record.record_id,
        customer_number=record.contact_number,
        customer_name=record.contact_name,
        summary=record.summary,
    )
    if inserted is None:
        # Registered through the API first: it now has the record it was missing.
        await session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.call_id == record.call_id, ComplaintRow.record_id.is_(None))
            .values(record_id=record.record_id)
        )
        return None
    complaint_id = str(inserted)
    details = {"record_id": str(record.record_id)}
    add_event(session, complaint_id, "registered", actor.name, now, "", details)
    audit(session, actor, "register", complaint_id, {"call_id": str(record.call_id), **details})
    return complaint_id


async def _callback_pbx(session: AsyncSession, row: ComplaintRow, home_pbx_id: str) -> str:
    """The PBX the complaint came through (its call's, else its source callback's), else
    ``home_pbx_id``: its ``complaint_resolved`` callback is dialled through it."""
    if row.call_id is not None:
        found = await session.scalar(select(CallRow.pbx_id).where(CallRow.call_id == row.call_id))
        if found is not None:
            return found
    if row.source_callback_id is not None:
        found = await session.scalar(
            select(CallbackRow.pbx_id).where(CallbackRow.callback_id == row.source_callback_id)
        )
        if found is not None:
            return found
    return home_pbx_id


async def _resolved_callback(
    session: AsyncSession, row: ComplaintRow, config: CallbackConfig, now: datetime, pbx_id: str
) -> dict[str, Any]:
    """Schedule the ``complaint_resolved`` callback; what the timeline should say of it."""
    if row.customer_number is None:
        row.callback_id = None
        return {"callback_error": "no customer number: no callback"}
    request = CallbackRequest(
        row.customer_number,
        row.customer_name,
        "complaint_resolved",
        now,
        pbx_id=await _callback_pbx(session, row, pbx_id),
    )
    try:
        created = await create_callback(session, request, config, now)
    except ValueError as exc:
        row.callback_id = None
        return {"callback_error": str(exc)}
    row.callback_id = created.callback_id
    return {"callback_id": created.callback_id, "callback_due_at": created.due_at.isoformat()}


async def apply_transition(
    session: AsyncSession,
    row: ComplaintRow,
    transition: Transition,
    actor: Actor,
    *,
    now: datetime,
    note: str = "",
    department_id: str | None = None,
    callbacks: CallbackConfig | None = None,
    details: dict[str, Any] | None = None,
    pbx_id: str = DEFAULT_PBX_ID,
) -> dict[str, Any]:
    """Move the locked ``row`` on by ``transition`` (:class:`IllegalTransition` otherwise),
    append its event (with ``details`` added) and audit it; returns the event's details.
    ``pbx_id``: the acting agent's PBX, which dials a resolved complaint's callback when
    neither its call nor its source callback names one."""
    after = next_state(row.state, transition)  # type: ignore[arg-type]  # CHECK constraint
    details = {"from": row.state, **(details or {})}
    if transition == "assign":
        if department_id is None:
            raise ComplaintError("department_id: is required to assign", "department_id")
        details["department_id"] = department_id
        row.department_id = department_id
    if transition in ("assign", "feedback", "reopen"):
        row.silent_since = now  # the department's silence starts again
    if transition == "resolve":
        row.resolved_at = now
        if callbacks is not None:
            details |= await _resolved_callback(session, row, callbacks, now, pbx_id)
    row.state = after
    row.updated_at = now
    add_event(session, row.complaint_id, EVENT_OF[transition], actor.name, now, note, details)
    audit(session, actor, transition, row.complaint_id, {**details, "to": after})
    return details


async def transition(
    db: Database,
    complaint_id: str,
    move: Transition,
    actor: Actor,
    *,
    now: datetime,
    note: str = "",
    department_id: str | None = None,
    callbacks: CallbackConfig | None = None,
    pbx_id: str = DEFAULT_PBX_ID,
) -> Complaint:
    """Apply ``move`` to the complaint in one transaction that locks it.

    :class:`UnknownComplaint`, :class:`IllegalTransition` (naming the state it found), or
    :class:`ComplaintError`; nothing is stored on any of them.
    """
    async with db.transaction("complaint transition") as session:
        row = await _locked(session, complaint_id)
        await apply_transition(
            session,
            row,
            move,
            actor,
            now=now,
            note=note,
            department_id=department_id,
            callbacks=callbacks,
            pbx_id=pbx_id,
        )
    found = await get_complaint(db, complaint_id)
    assert found is not None
    return found


async def _locked(session: AsyncSession, complaint_id: str) -> ComplaintRow:
    row = None
    if is_uuid(complaint_id):
        row = await session.scalar(
            select(ComplaintRow).where(ComplaintRow.complaint_id == complaint_id).with_for_update()
        )
    if row is None:
        raise UnknownComplaint(f"no complaint {complaint_id}")
    return row


async def timeline_of(session: AsyncSession, complaint_id: str) -> list[ComplaintEventRow]:
    """The complaint's events, oldest first."""
    return list(
        await session.scalars(
            select(ComplaintEventRow)
            .where(ComplaintEventRow.complaint_id == complaint_id)
            .order_by(ComplaintEventRow.event_id)
        )
    )


async def get_complaint(db: Database, complaint_id: str) -> Complaint | None:
    """The complaint with its timeline, or ``None``."""
    if not is_uuid(complaint_id):
        return None
    async with db.transaction("read complaint") as session:
        row = await session.get(ComplaintRow, complaint_id)
        if row is None:
            return None
        events = await timeline_of(session, complaint_id)
        return Complaint(row, tuple(entry_of(e) for e in events))
