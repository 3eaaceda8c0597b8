"""QA scores, call records and complaints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_agent.core.complaints import COMPLAINT_STATES, EVENT_KINDS
from ivr_agent.core.records import RECORD_STATUSES, RECORD_TYPES
from ivr_agent.core.satisfaction import INDICES
from ivr_agent.db.models.base import (
    Base,
    one_of,
)

#: The five S5 indices (one column each in ``qa_scores``).
QA_INDICES: tuple[str, ...] = INDICES


class QaScoreRow(Base):
    """A QA reviewer's scores of a call (S5 indices 1–5). Immutable: a trigger refuses
    changes; a correction is the next ``version``, naming the row it ``supersedes``."""

    __tablename__ = "qa_scores"
    __table_args__ = (
        UniqueConstraint("call_id", "version"),
        UniqueConstraint("supersedes"),
        *(CheckConstraint(f"{name} BETWEEN 1 AND 5", name=name) for name in QA_INDICES),
        CheckConstraint(
            "satisfaction_index = (skill + attitude + timeliness + parts + overall) / 5.0",
            name="satisfaction_index",
        ),
        CheckConstraint("(version = 1) = (supersedes IS NULL) AND version >= 1", name="version"),
    )

    score_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id"))
    version: Mapped[int]
    supersedes: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("qa_scores.score_id")
    )
    skill: Mapped[int] = mapped_column(SmallInteger)
    attitude: Mapped[int] = mapped_column(SmallInteger)
    timeliness: Mapped[int] = mapped_column(SmallInteger)
    parts: Mapped[int] = mapped_column(SmallInteger)
    overall: Mapped[int] = mapped_column(SmallInteger)
    satisfaction_index: Mapped[float]
    comment: Mapped[str] = mapped_column(server_default=text("''"))
    scored_by: Mapped[str]
    scorer_role: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CallRecordRow(Base):
    """One version of a call's record (来电记录 / 工单, S7). Immutable like ``qa_scores``: a
    trigger refuses changes; a correction is the next ``version``, naming the row it
    ``supersedes``. Version 1's ``created_at`` is when the record was first entered (S8)."""

    __tablename__ = "call_records"
    __table_args__ = (
        UniqueConstraint("call_id", "version"),
        UniqueConstraint("supersedes"),
        CheckConstraint(one_of("type", RECORD_TYPES), name="type"),
        CheckConstraint(one_of("status", RECORD_STATUSES), name="status"),
        CheckConstraint("(version = 1) = (supersedes IS NULL) AND version >= 1", name="version"),
        CheckConstraint("summary <> ''", name="summary"),
    )

    record_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id"))
    version: Mapped[int]
    supersedes: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("call_records.record_id")
    )
    type: Mapped[str]
    summary: Mapped[str]
    result: Mapped[str] = mapped_column(server_default=text("''"))
    follow_up_owner: Mapped[str | None]
    status: Mapped[str]
    expected_completion: Mapped[datetime | None]
    contact_number: Mapped[str | None]
    contact_name: Mapped[str | None]
    entered_by: Mapped[str]
    entered_role: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ComplaintRow(Base):
    """A complaint (投诉, S7): who complained about what, the handling department, its
    state (``core/complaints.py``), and the times of its steps. Its timeline is
    ``complaint_events``; the state here is the timeline's last word, kept with it in one
    transaction. ``silent_since`` is when the current wait for someone to act began (the
    registration, assignment, last feedback or reopening): what "overdue" is judged on.
    ``source_callback_id``: the service callback whose customer said the problem is not
    solved, when that opened the complaint (one complaint per such callback)."""

    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("call_id"),
        UniqueConstraint("source_callback_id"),
        Index(None, "created_at"),
        Index(None, "state", "silent_since"),
        CheckConstraint(one_of("state", COMPLAINT_STATES), name="state"),
        CheckConstraint("summary <> ''", name="summary"),
    )

    complaint_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), ForeignKey("calls.call_id"))
    record_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("call_records.record_id")
    )
    customer_number: Mapped[str | None]
    customer_name: Mapped[str | None]
    summary: Mapped[str]
    department_id: Mapped[str | None]
    state: Mapped[str]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    silent_since: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    chased_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    callback_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("callbacks.callback_id")
    )
    source_callback_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("callbacks.callback_id")
    )


class ComplaintEventRow(Base):
    """One entry of a complaint's timeline: who did what when, with a note. Append-only
    (a trigger refuses changes, like ``audit_log``)."""

    __tablename__ = "complaint_events"
    __table_args__ = (
        Index(None, "complaint_id", "event_id"),
        CheckConstraint(one_of("kind", EVENT_KINDS), name="kind"),
    )

    event_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("complaints.complaint_id")
    )
    at: Mapped[datetime]
    actor: Mapped[str]
    kind: Mapped[str]
    note: Mapped[str] = mapped_column(server_default=text("''"))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
