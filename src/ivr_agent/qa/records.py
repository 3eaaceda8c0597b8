"""QA's records in the store: who is asking (the token's actor), the audit trail of plays,
pauses and purges, recordings by opaque id, and the pauses of a call's recording."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.core.outcome import iso
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    ApiTokenRow,
    AuditLogRow,
    CallRow,
    RecordingRow,
    table_of,
)
from ivr_agent.db.tokens import token_digest
from ivr_agent.recordings import RecordingFile

PLAY = "recording.play"
PAUSE = "recording.pause"
RESUME = "recording.resume"
PURGE = "recording.purge"


@dataclass(frozen=True)
class Actor:
    """Who made a request: a token (by id, never the token itself) and its role."""

    token_id: str
    role: str
    label: str | None = None

    @property
    def name(self) -> str:
        """How the audit log names this actor."""
        return f"token:{self.token_id}"


async def actor_of(session: AsyncSession, token: str) -> Actor | None:
    """The unrevoked token's id and role, or None."""
    row = (
        await session.execute(
            select(ApiTokenRow.token_id, ApiTokenRow.role, ApiTokenRow.label).where(
                ApiTokenRow.token_sha256 == token_digest(token), ApiTokenRow.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else Actor(str(row.token_id), row.role, row.label)


def audit_row(actor: str, action: str, obj: str | None, details: Mapping[str, Any]) -> AuditLogRow:
    """An audit log row (append-only table) ready to add to a session."""
    return AuditLogRow(actor=actor, action=action, object=obj, details=dict(details))


async def audit(
    db: Database, actor: str, action: str, obj: str | None, details: Mapping[str, Any]
) -> None:
    """Append one audit row in its own transaction."""
    async with db.transaction(f"audit {action}") as session:
        session.add(audit_row(actor, action, obj, details))


@dataclass(frozen=True, kw_only=True)
class Recording(RecordingFile):
    """A ``recordings`` row as QA replay reads it: the file, whose it is, and when."""

    call_id: str | None
    attempt_id: str | None
    #: When the PBX started writing the file (replay offsets count from it).
    started_at: datetime | None
    created_at: datetime
    #: ``call`` (the whole call) or ``suggestion`` (a caller's spoken suggestion).
    kind: str = "call"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (no path: it never leaves the server)."""
        return {
            "recording_id": self.recording_id,
            "call_id": self.call_id,
            "attempt_id": self.attempt_id,
            "sha256": self.sha256,
            "seconds": self.seconds,
            "bytes": self.bytes,
            "status": self.status,
            "reason": self.reason,
            "started_at": iso(self.started_at) if self.started_at else None,
            "kind": self.kind,
        }


# On the Core table: an ORM-enabled select costs the ORM's compile and result set-up.
_CALLS = table_of(CallRow)
#: Whether the call is stored, and what places a recording of unknown start in it.
_CALL_TIMES = select(_CALLS.c.direction, _CALLS.c.answered_at, _CALLS.c.ended_at).where(
    _CALLS.c.call_id == bindparam("call_id")
)
_RECORDINGS = table_of(RecordingRow)
# Idempotent by recording_id: writing the same recording again changes nothing.
_INSERT_RECORDING = pg_insert(_RECORDINGS).on_conflict_do_nothing(index_elements=["recording_id"])
#: Of the stored calls among ``call_ids``: whether each has a recording of the whole call.
_CALLS_RECORDED = select(
    _CALLS.c.call_id,
    exists().where(_RECORDINGS.c.call_id == _CALLS.c.call_id, _RECORDINGS.c.kind == "call"),
).where(_CALLS.c.call_id.in_(bindparam("call_ids", expanding=True)))


def _recording(row: RecordingRow) -> Recording:
    # The dataclass fields are the table's column names.
    return Recording(**{f.name: getattr(row, f.name) for f in fields(Recording)})


async def get_recording(db: Database, recording_id: str) -> Recording | None:
    """The recording with this opaque id, whatever its status."""
    async with db.transaction("read recording") as session:
        row = await session.get(RecordingRow, recording_id)
        return None if row is None else _recording(row)


async def recordings_of_call(db: Database, call_id: str, kind: str = "call") -> list[Recording]:
    """The call's recordings of ``kind`` (the whole call, or ``suggestion``), oldest first."""
    async with db.transaction("read recordings of call") as session:
        rows = await session.scalars(
            select(RecordingRow)
            .where(RecordingRow.call_id == call_id, RecordingRow.kind == kind)
            .order_by(RecordingRow.created_at, RecordingRow.recording_id)
        )
        return [_recording(r) for r in rows]


async def calls_recorded(db: Database, call_ids: Collection[str]) -> dict[str, bool]:
    """Of the stored calls among ``call_ids``, whether each has a recording of the whole
    call (one query; a call not stored, or not yet, is absent)."""
    if not call_ids:
        return {}
    async with db.transaction("read whether calls are recorded") as session:
        rows = await session.execute(_CALLS_RECORDED, {"call_ids": list(call_ids)})
        return {call_id: bool(recorded) for call_id, recorded in rows}


async def save_call_recording(
    db: Database,
    *,
    call_id: str,
    file: RecordingFile,
    started_at: datetime | None,
    kind: str = "call",
) -> bool:
    """Write an inbound call's recording row; False if the call is not stored (yet).

    Idempotent by ``file.recording_id``: writing the same recording again changes nothing.
    A whole call's recording whose start is unknown (one an earlier agent left finished on
    the PBX) is placed where the recorder starts one: at the operator's answer for an
    inbound call (the recorder's start lags it by one request to the PBX); a return call's
    (recorded from its queue join) is counted back from the call's end.
    """
    async with db.transaction("save call recording") as session:
        # Core statements, not ORM loads: every answered call comes here once (or once a
        # second until its row is written), and loading the whole call row as an object to
        # test that it exists was a measurable part of the agent's CPU under load.
        call = (await session.execute(_CALL_TIMES, {"call_id": call_id})).first()
        if call is None:
            return False
        if started_at is None and kind == "call" and file.seconds is not None:
            direction, answered_at, ended_at = call
            if direction == "inbound" and answered_at is not None:
                started_at = answered_at
            elif ended_at is not None:
                started_at = ended_at - timedelta(seconds=file.seconds)
        await session.execute(
            _INSERT_RECORDING,
            {**asdict(file), "call_id": call_id, "started_at": started_at, "kind": kind},
        )
    return True


@dataclass(frozen=True)
class PauseMark:
    """A recording pause or resume of a call (from the audit log)."""

    at: datetime
    action: Literal["pause", "resume"]
    by: str


async def pauses_of_call(db: Database, call_id: str) -> list[PauseMark]:
    """The call's recording pauses and resumes, in time order."""
    async with db.transaction("read recording pauses") as session:
        rows = await session.execute(
            select(AuditLogRow.at, AuditLogRow.action, AuditLogRow.actor, AuditLogRow.details)
            .where(AuditLogRow.object == call_id, AuditLogRow.action.in_((PAUSE, RESUME)))
            .order_by(AuditLogRow.audit_id)
        )
        marks = []
        for at, action, actor, details in rows:
            when = details.get("at") if isinstance(details, dict) else None
            marks.append(
                PauseMark(
                    at=datetime.fromisoformat(when) if isinstance(when, str) else at,
                    action="pause" if action == PAUSE else "resume",
                    by=actor,
                )
            )
        return marks
