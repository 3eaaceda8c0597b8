"""Call records (来电记录 / 工单, S7) in the store: versioned, append-only, audited.

Versioned rows rather than one row plus an audit trail of its changes: S8 judges a record
by when it was *first* entered, and an immutable version 1 keeps that time by construction
(a trigger refuses updates, migration 0009), while every later wording stays readable the
way QA score corrections do. A write names the version it corrects (``supersedes``) or lets
the store put it on top of the latest; two writers racing for the same next version cannot
both win (a unique key), and the loser gets :class:`RecordConflict`.

Who may see a call is decided here too: an ``operator`` writer or reader passes its own
operator id, and a call it did not answer is answered as unknown (:class:`UnknownCall`), so
the API's 404 does not reveal that the call exists.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import HandOver, hand_to_specialist, specialist_callbacks_of
from ivr_agent.complaints import Actor, open_for_record
from ivr_agent.core.breaches import late_wrap_up
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import iso
from ivr_agent.core.phone import CUSTOMER_NUMBER
from ivr_agent.db.breaches import needs_record
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import AuditLogRow, CallRecordRow, CallRow

#: The audit log's action for a record written (created or corrected).
RECORD = "call.record"


class RecordError(ValueError):
    """A record cannot be stored as given; ``field`` names the problem's field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownCall(RecordError):
    """No such call — or not one the asking operator answered."""


class NotAnswered(RecordError):
    """The call was never answered: there is nothing to wrap up."""


class RecordConflict(RecordError):
    """``supersedes`` is not the call's latest version (or a concurrent write won)."""


@dataclass(frozen=True)
class Writer:
    """Who reads or writes a record: the audit log's name for them, their role, and for an
    ``operator`` the operator id whose calls alone they may see."""

    name: str
    role: str
    operator_id: str | None = None


@dataclass(frozen=True)
class RecordEntry:
    """What a writer gives (validated by the API's schema): the record's fields, and for a
    correction the ``record_id`` of the version it replaces."""

    type: str
    summary: str
    status: str = "open"
    result: str = ""
    follow_up_owner: str | None = None
    expected_completion: datetime | None = None
    contact_number: str | None = None
    contact_name: str | None = None
    supersedes: str | None = None
    #: Hand the problem to this specialist (operator id, S8): their call-back is created
    #: with the record (``callbacks.hand_to_specialist``); not a field of the record row.
    specialist_id: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """One stored version of a call's record."""

    record_id: str
    call_id: str
    version: int
    supersedes: str | None
    type: str
    summary: str
    result: str
    follow_up_owner: str | None
    status: str
    expected_completion: datetime | None
    contact_number: str | None
    contact_name: str | None
    entered_by: str
    entered_role: str
    created_at: datetime
    superseded: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        body = asdict(self)
        body["created_at"] = iso(self.created_at)
        body["expected_completion"] = iso(self.expected_completion)
        return body


@dataclass(frozen=True)
class WrapUp:
    """A call's record and where its wrap-up stands (S8)."""

    call_id: str
    operator_id: str | None
    ended_at: datetime
    due_at: datetime
    #: Version 1's time: what S8 judges (a later correction does not move it).
    first_entered_at: datetime | None
    late: bool
    history: tuple[CallRecord, ...]
    #: For the wrap-up page (not in the API's answer: the call's own route has them).
    caller_number: str | None = None
    answered_at: datetime | None = None
    #: The specialist call-backs the call was handed over with (S8), oldest first.
    specialist_callbacks: tuple[dict[str, Any], ...] = ()

    @property
    def current(self) -> CallRecord | None:
        """The latest version, if any."""
        return self.history[-1] if self.history else None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: the current record, every version oldest first, the wrap-up."""
        current = self.current
        return {
            "call_id": self.call_id,
            "record": None if current is None else current.to_json(),
            "history": [r.to_json() for r in self.history],
            "wrap_up": {
                "ended_at": iso(self.ended_at),
                "due_at": iso(self.due_at),
                "first_entered_at": iso(self.first_entered_at),
                "late": self.late,
            },
            "specialist_callbacks": list(self.specialist_callbacks),
        }


def _record(row: CallRecordRow, superseded: bool) -> CallRecord:
    return CallRecord(
        record_id=str(row.record_id),
        call_id=str(row.call_id),
        version=row.version,
        supersedes=str(row.supersedes) if row.supersedes else None,
        type=row.type,
        summary=row.summary,
        result=row.result,
        follow_up_owner=row.follow_up_owner,
        status=row.status,
        expected_completion=row.expected_completion,
        contact_number=row.contact_number,
        contact_name=row.contact_name,
        entered_by=row.entered_by,
        entered_role=row.entered_role,
        created_at=row.created_at,
        superseded=superseded,
    )


async def _visible_call(session: AsyncSession, call_id: str, reader: Writer) -> CallRow:
    """The call ``reader`` may see; :class:`UnknownCall` otherwise (same for both cases)."""
    call = await session.get(CallRow, call_id) if is_uuid(call_id) else None
    if call is None or (reader.role == "operator" and call.operator_id != reader.operator_id):
        raise UnknownCall(f"no call {call_id!r}")
    return call


async def _history(session: AsyncSession, call_id: str) -> list[CallRecord]:
    rows = list(
        await session.scalars(
            select(CallRecordRow)
            .where(CallRecordRow.call_id == call_id)
            .order_by(CallRecordRow.version)
        )
    )
    superseded = {str(r.supersedes) for r in rows if r.supersedes}
    return [_record(r, str(r.record_id) in superseded) for r in rows]


def _wrap_up(call: CallRow, history: list[CallRecord], now: datetime, limit: timedelta) -> WrapUp:
    first = history[0].created_at if history else None
    return WrapUp(
        call_id=str(call.call_id),
        operator_id=call.operator_id,
        ended_at=call.ended_at,
        due_at=call.ended_at + limit,
        first_entered_at=first,
        late=call.record_expected and late_wrap_up(call.ended_at, first, now, limit),
        history=tuple(history),
        caller_number=call.caller_number,
        answered_at=call.answered_at,
    )


async def read_wrap_up(
    db: Database, call_id: str, reader: Writer, *, now: datetime, wrap_up: timedelta
) -> WrapUp:
    """The call's record history and wrap-up state; :class:`UnknownCall` for a call
    ``reader`` may not see."""
    async with db.transaction("read call record") as session:
        call = await _visible_call(session, call_id, reader)
        found = _wrap_up(call, await _history(session, call_id), now, wrap_up)
        return replace(
            found, specialist_callbacks=tuple(await specialist_callbacks_of(session, call_id))
        )


def _defaults(entry: RecordEntry, call: CallRow) -> RecordEntry:
    """The call's own facts where the writer left a field out: its operator follows up,
    and the caller's number is the contact (when it is a number one can call back)."""
    owner = entry.follow_up_owner or call.operator_id
    contact = entry.contact_number
    if contact is None and call.caller_number and CUSTOMER_NUMBER.fullmatch(call.caller_number):
        contact = call.caller_number
    return replace(entry, follow_up_owner=owner, contact_number=contact)


async def write_record(
    db: Database,
    call_id: str,
    entry: RecordEntry,
    writer: Writer,
    *,
    now: datetime,
    wrap_up: timedelta,
    callbacks: CallbackConfig | None = None,
) -> WrapUp:
    """Store the next version of the call's record and an audit row, in one transaction —
    with a complaint for a record of type complaint (S7), and with ``entry.specialist_id``
    the specialist's call-back (S8, scheduled by ``callbacks``) for the record's contact.

    Raises :class:`UnknownCall` (no such call, or an operator's call not its own),
    :class:`NotAnswered`, and :class:`RecordConflict` when ``entry.supersedes`` is given and
    is not the latest version, or a concurrent write took the same version;
    :class:`RecordError` naming ``contact_number`` when a specialist cannot call it.
    """
    if entry.supersedes is not None and not is_uuid(entry.supersedes):
        raise RecordError("supersedes: not a record id", "supersedes")
    try:
        async with db.transaction("write call record") as session:
            call = await _visible_call(session, call_id, writer)
            if call.answered_at is None:
                raise NotAnswered(f"call {call_id} was not answered: it has no record")
            entry = _defaults(entry, call)
            history = await _history(session, call_id)
            latest = history[-1] if history else None
            if entry.supersedes is not None and (
                latest is None or latest.record_id != entry.supersedes
            ):
                raise RecordConflict(
                    "supersedes: not the call's latest record"
                    + (
                        "" if latest is None else f" (version {latest.version}, {latest.record_id})"
                    ),
                    "supersedes",
                )
            fields = asdict(entry)
            fields.pop("supersedes")
            fields.pop("specialist_id")
            row = CallRecordRow(
                record_id=str(uuid.uuid4()),
                call_id=call_id,
                version=1 if latest is None else latest.version + 1,
                supersedes=None if latest is None else latest.record_id,
                entered_by=writer.name,
                entered_role=writer.role,
                **fields,
            )
            session.add(row)
            session.add(
                AuditLogRow(
                    actor=writer.name,
                    action=RECORD,
                    object=call_id,
                    details={
                        "record_id": row.record_id,
                        "version": row.version,
                        "supersedes": row.supersedes,
                        "type": entry.type,
                        "status": entry.status,
                    },
                )
            )
            await session.flush()
            if entry.type == "complaint":
                # S7: a complaint has a life of its own (once per call, whatever the version).
                await open_for_record(session, row, Actor(writer.name, writer.role), now=now)
            if entry.specialist_id is not None:
                await _hand_over(
                    session, call_id, entry, writer, callbacks or CallbackConfig(), now
                )
            await session.refresh(row)
            history = [
                *(replace(r, superseded=True) if r is latest else r for r in history),
                _record(row, superseded=False),
            ]
            handed = tuple(await specialist_callbacks_of(session, call_id))
            return replace(_wrap_up(call, history, now, wrap_up), specialist_callbacks=handed)
    except StoreError as exc:
        if exc.sqlstate == "23505":  # a concurrent write took this version first
            raise RecordConflict(
                "supersedes: another write changed this record first", "supersedes"
            ) from exc
        raise


async def _hand_over(
    session: AsyncSession,
    call_id: str,
    entry: RecordEntry,
    writer: Writer,
    config: CallbackConfig,
    now: datetime,
) -> None:
    """S8: the record hands the call's problem to ``entry.specialist_id``."""
    assert entry.specialist_id is not None
    hand_over = HandOver(
        call_id, entry.specialist_id, entry.contact_number, entry.contact_name, writer.name
    )
    try:
        await hand_to_specialist(session, hand_over, config, now)
    except ValueError as exc:
        # The call-back's customer is the record's contact: its fields are the record's.
        field, _, problem = str(exc).partition(": ")
        named = {"customer_number": "contact_number", "customer_name": "contact_name"}
        raise RecordError(
            f"{named.get(field, 'specialist_id')}: {problem or exc}",
            named.get(field, "specialist_id"),
        ) from None


@dataclass(frozen=True)
class PendingCall:
    """An answered call of an operator that has no record yet."""

    call_id: str
    ended_at: datetime
    caller_number: str | None
    due_at: datetime
    late: bool


async def calls_without_record(
    db: Database, operator_id: str | None, *, now: datetime, wrap_up: timedelta, limit: int = 50
) -> list[PendingCall]:
    """The answered calls (of ``operator_id``; ``None``: everyone's) that have no record,
    latest end first."""
    has_record = select(CallRecordRow.record_id).where(CallRecordRow.call_id == CallRow.call_id)
    query = (
        select(CallRow.call_id, CallRow.ended_at, CallRow.caller_number)
        .where(needs_record(), ~has_record.exists())
        .order_by(CallRow.ended_at.desc(), CallRow.call_id)
        .limit(limit)
    )
    if operator_id is not None:
        query = query.where(CallRow.operator_id == operator_id)
    async with db.transaction("calls without record") as session:
        rows = (await session.execute(query)).all()
    return [
        PendingCall(
            call_id=str(row.call_id),
            ended_at=row.ended_at,
            caller_number=row.caller_number,
            due_at=row.ended_at + wrap_up,
            late=late_wrap_up(row.ended_at, None, now, wrap_up),
        )
        for row in rows
    ]
