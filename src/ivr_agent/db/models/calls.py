"""Calls and their children (holds, prompts played, timeline events) and recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_agent.db.models.base import (
    RECORDING_KINDS,
    RECORDING_STATUSES,
    Base,
    one_of,
)


class CallRow(Base):
    """One finished call: every field of ``CallOutcome`` (core/outcome.py)."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx_id", "linkedid"),
        CheckConstraint(one_of("direction", ("inbound", "callback")), name="direction"),
        CheckConstraint(
            one_of("silence", ("none", "prompted_then_spoke", "hung_up_silent")), name="silence"
        ),
        CheckConstraint(one_of("hung_up_by", ("caller", "operator", "system")), name="hung_up_by"),
        # Export and the API page through calls in (ended_at, call_id) order.
        Index(None, "ended_at", "call_id"),
        Index(None, "offered_at"),
    )

    call_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    pbx_id: Mapped[str]
    linkedid: Mapped[str]
    direction: Mapped[str]
    caller_number: Mapped[str | None]
    operator_id: Mapped[str | None]
    offered_at: Mapped[datetime]
    wait_started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime]
    ring_seconds: Mapped[float | None]
    rings: Mapped[int | None]
    answered_within_standard: Mapped[bool | None]
    abandoned: Mapped[bool]
    short_abandon: Mapped[bool]
    max_hold_seconds: Mapped[float | None]
    hold_over_limit: Mapped[bool]
    silence: Mapped[str]
    talk_seconds: Mapped[float | None]
    duration_seconds: Mapped[float]
    over_max_duration: Mapped[bool]
    # S9: NULL = no hang-up request seen (calls stored before migration 0006, too).
    hung_up_by: Mapped[str | None]
    operator_hung_up_first: Mapped[bool] = mapped_column(server_default=false())
    # S8 expects a call record (migration 0009: false for calls stored before records existed).
    record_expected: Mapped[bool] = mapped_column(server_default=true())
    # Opaque, not a foreign key: the outcome may be written before its recording row.
    recording_id: Mapped[str | None]
    complete: Mapped[bool]
    incomplete_reason: Mapped[str | None]
    extra: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # The UTC offset the outcome's times were written in, so reading a call back renders
    # them exactly as they were given (timestamptz keeps the instant, not the zone).
    utc_offset_seconds: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class HoldRow(Base):
    """One hold interval of a call, in order."""

    __tablename__ = "holds"

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    seconds: Mapped[float | None]
    reminders_played: Mapped[int] = mapped_column(server_default=text("0"))


class PromptPlayedRow(Base):
    """A scripted prompt a call heard (or was due to hear), in order."""

    __tablename__ = "prompts_played"
    __table_args__ = (
        CheckConstraint(one_of("played_to", ("caller", "both", "customer")), name="played_to"),
    )

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    prompt: Mapped[str]
    at: Mapped[datetime]
    played: Mapped[bool]
    finished: Mapped[bool | None]
    # ``to`` in the outcome contract; a reserved word in SQL, hence the longer name.
    played_to: Mapped[str]


class CallEventRow(Base):
    """One event of a call's timeline (what QA replay shows), in order."""

    __tablename__ = "call_events"

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    kind: Mapped[str]
    channel: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class RecordingRow(Base):
    """A recording file, looked up by opaque id (never by a path from a URL)."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(one_of("status", RECORDING_STATUSES), name="status"),
        CheckConstraint("call_id IS NOT NULL OR attempt_id IS NOT NULL", name="owner"),
        # Relative to the data dir and never climbing out of it: defence in depth for
        # the recording routes, which must not serve a path they did not create.
        CheckConstraint(
            "path <> '' AND path NOT LIKE '/%' AND path NOT LIKE '%..%'", name="relative_path"
        ),
        CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint("bytes IS NULL OR bytes >= 0", name="bytes"),
        CheckConstraint(one_of("kind", RECORDING_KINDS), name="kind"),
        Index(None, "call_id"),
        Index(None, "attempt_id"),
        Index(None, "created_at"),
    )

    recording_id: Mapped[str] = mapped_column(primary_key=True)
    # No ON DELETE action: a call or attempt with a recording cannot be deleted by
    # accident, which would orphan the file and break the owner check above.
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.call_id"))
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("callback_attempts.attempt_id"))
    path: Mapped[str]
    sha256: Mapped[str | None]
    seconds: Mapped[float | None]
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str]
    reason: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # When the PBX started writing the file (replay offsets count from it; migration 0003).
    started_at: Mapped[datetime | None]
    # When retention deleted the file (status 'purged').
    purged_at: Mapped[datetime | None]
    # 'call': the whole call; 'suggestion': a caller's spoken suggestion (migration 0007).
    kind: Mapped[str] = mapped_column(server_default=text("'call'"))
