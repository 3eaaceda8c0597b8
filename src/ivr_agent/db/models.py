"""The database schema as SQLAlchemy 2 typed models (the migrations are the source of truth
for the live schema; these models must match them, a test checks it).

Keys make every write idempotent: a call is keyed by ``(pbx_id, linkedid)`` and its
``call_id`` is derived from them; callbacks, attempts, recordings and tokens carry ids the
agent chooses before it acts. Children of a call (holds, prompts, events) are keyed by
``(call_id, seq)`` and replaced as a whole when the call is saved again. Every time is
``timestamptz``; every constraint has a stable name from :data:`NAMING_CONVENTION`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ivr_agent.core.callbacks import OUTCOMES, REASONS, STATUSES
from ivr_agent.core.complaints import COMPLAINT_STATES, EVENT_KINDS
from ivr_agent.core.records import RECORD_STATUSES, RECORD_TYPES
from ivr_agent.core.satisfaction import INDICES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The callbacks' reasons, statuses and attempt outcomes are core's (the CHECK constraints
# below list them; the migrations wrote the same lists).
CALLBACK_REASONS: tuple[str, ...] = REASONS
CALLBACK_STATUSES: tuple[str, ...] = STATUSES
ATTEMPT_STATES = ("dialling", "answered", "finished", "failed")
ATTEMPT_OUTCOMES: tuple[str, ...] = OUTCOMES
RECORDING_STATUSES = ("ok", "corrupt", "missing", "purged")
RECORDING_KINDS = ("call", "suggestion")
#: ``operator``: an operator's own calls and their records only (migration 0009).
TOKEN_ROLES = ("ops", "qa", "admin", "operator")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base sharing one metadata with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: Timestamp,
        str: Text(),
        float: Double(),
        dict[str, Any]: JSONB(),
    }


def table_of(model: type[Base]) -> Table:
    """The Core table of ``model``: for statements built once and executed with
    parameters on hot paths, without the ORM's per-row bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class CallRow(Base):
    """One finished call: every field of ``CallOutcome`` (core/outcome.py)."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx_id", "linkedid"),
        CheckConstraint(_one_of("direction", ("inbound", "callback")), name="direction"),
        CheckConstraint(
            _one_of("silence", ("none", "prompted_then_spoke", "hung_up_silent")), name="silence"
        ),
        CheckConstraint(_one_of("hung_up_by", ("caller", "operator", "system")), name="hung_up_by"),
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
        CheckConstraint(_one_of("played_to", ("caller", "both", "customer")), name="played_to"),
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


class CallbackRow(Base):
    """A callback job (S5): when it is due, its state, and what came of it."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(_one_of("reason", CALLBACK_REASONS), name="reason"),
        CheckConstraint(_one_of("status", CALLBACK_STATUSES), name="status"),
        CheckConstraint("attempts_made >= 0", name="attempts_made"),
        CheckConstraint(
            "satisfaction_index IS NULL OR satisfaction_index BETWEEN 1 AND 5",
            name="satisfaction_index",
        ),
        CheckConstraint("failed_attempts >= 0 AND reschedules >= 0", name="counters"),
        CheckConstraint(
            "outcome IS NULL OR " + _one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"
        ),
        # The dialer claims due jobs with
        # ... WHERE status = 'pending' AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED.
        Index(None, "status", "next_attempt_at"),
        # ... and only its own PBX's (migration 0016).
        Index(None, "pbx_id", "status", "next_attempt_at"),
        # The summary's callback figures count callbacks by due time (migration 0014).
        Index(None, "due_at"),
        # An abandoned call gets at most one automatic callback, however often it is saved.
        Index(
            "uq_callbacks_abandoned_source_call_id",
            "source_call_id",
            unique=True,
            postgresql_where=text("reason = 'abandoned_call'"),
        ),
        # A campaign callback belongs to its run, and every run callback to a campaign.
        CheckConstraint(
            "(reason = 'campaign') = (campaign_id IS NOT NULL AND run_date IS NOT NULL)",
            name="campaign_run",
        ),
        # Each customer once per run, however many agents or ticks create it (migration 0008).
        Index(
            "uq_callbacks_campaign_run_customer",
            "campaign_id",
            "run_date",
            "customer_number",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        # An in-queue callback request has its queue and its place (migration 0015), and a
        # call makes at most one.
        CheckConstraint(
            "(reason = 'queue_callback') = (queue_name IS NOT NULL AND queued_at IS NOT NULL)",
            name="queue_place",
        ),
        # A specialist call-back names its specialist (migration 0015).
        CheckConstraint("(reason = 'specialist') = (operator_id IS NOT NULL)", name="specialist"),
        Index(
            "uq_callbacks_queue_source_call_id",
            "source_call_id",
            unique=True,
            postgresql_where=text("reason = 'queue_callback'"),
        ),
        ForeignKeyConstraint(
            ["campaign_id", "run_date"],
            ["campaign_runs.campaign_id", "campaign_runs.run_date"],
            name="fk_callbacks_campaign_id_campaign_runs",
            ondelete="RESTRICT",
        ),
    )

    callback_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    # The PBX it is dialled through: only that PBX's active agent claims it (migration 0016).
    pbx_id: Mapped[str]
    customer_number: Mapped[str]
    customer_name: Mapped[str | None]
    reason: Mapped[str]
    reference_time: Mapped[datetime]
    due_at: Mapped[datetime]
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=text("'pending'"))
    attempts_made: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    outcome: Mapped[str | None]
    satisfaction_index: Mapped[float | None]
    source_call_id: Mapped[str | None] = mapped_column(
        ForeignKey("calls.call_id", ondelete="SET NULL")
    )
    # Scheduling state of core/callbacks.py (migration 0002).
    overdue: Mapped[bool] = mapped_column(server_default=text("false"))
    failed_attempts: Mapped[int] = mapped_column(server_default=text("0"))
    reschedules: Mapped[int] = mapped_column(server_default=text("0"))
    status_reason: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The last "problem solved?" answer (migration 0007): a "no" needs a follow-up.
    problem_solved: Mapped[bool | None]
    # A regular campaign's run this callback belongs to, and the calling windows it is
    # dialled in ("HH:MM-HH:MM,…"; NULL: the settings') (migration 0008).
    campaign_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False))
    run_date: Mapped[date | None]
    calling_windows: Mapped[str | None]
    # An in-queue callback request (S8, migration 0015): the queue the caller left, their
    # place (when they joined it), and when an agent released it for dialling (NULL: it
    # still waits for its place to reach the front).
    queue_name: Mapped[str | None]
    queued_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # The operator (queue interface) kept for it, paused in the queue until its return call
    # waits there (NULL: none).
    queue_member: Mapped[str | None]
    # A specialist call-back (S8): the specialist's operator id, whose phone rings first.
    operator_id: Mapped[str | None]


class CampaignRow(Base):
    """A regular callback campaign (S5: 每月1号、15号定期回访): its days and windows."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("name"),)

    campaign_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    name: Mapped[str]
    # Days of the month, "1,15" (core.campaigns.format_days).
    days: Mapped[str]
    # "HH:MM-HH:MM,…"; NULL: the settings' callback windows.
    calling_windows: Mapped[str | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # The first local date a run may fall on (the day it was created).
    starts_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CampaignCustomerRow(Base):
    """One customer of a campaign's list: each number once per campaign."""

    __tablename__ = "campaign_customers"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    customer_number: Mapped[str] = mapped_column(primary_key=True)
    customer_name: Mapped[str | None]
    # The order of the imported list (its first row with this number).
    position: Mapped[int]


class CampaignRunRow(Base):
    """A campaign on one of its days (local date): created once, with its callbacks."""

    __tablename__ = "campaign_runs"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    run_date: Mapped[date] = mapped_column(primary_key=True)
    callbacks: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CallbackAttemptRow(Base):
    """One dialling of a callback; ``channel_id`` is the id we originated it with."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("callback_id", "attempt_no"),
        UniqueConstraint("channel_id"),
        CheckConstraint(_one_of("state", ATTEMPT_STATES), name="state"),
        CheckConstraint("attempt_no >= 1", name="attempt_no"),
        CheckConstraint(
            "outcome IS NULL OR " + _one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"
        ),
        # Crash reconciliation lists the attempts a PBX left dialling.
        Index(None, "state", "pbx_id"),
    )

    attempt_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    callback_id: Mapped[str] = mapped_column(
        ForeignKey("callbacks.callback_id", ondelete="CASCADE")
    )
    attempt_no: Mapped[int]
    channel_id: Mapped[str]
    state: Mapped[str] = mapped_column(server_default=text("'dialling'"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None]
    pbx_id: Mapped[str]
    answered_at: Mapped[datetime | None]
    # Why the attempt ended as it did (e.g. the recording was corrupt, and why).
    detail: Mapped[str | None]
    # The dialer that placed (or took over) the attempt (one per agent data dir), and its
    # lease on it: renewed while that dialer runs (database time). NULL instance: placed
    # before migration 0004 (anyone may reconcile it).
    instance_id: Mapped[str | None]
    heartbeat_at: Mapped[datetime | None]
    # The survey's "problem solved?" answer (migration 0007); NULL: not asked or no answer.
    problem_solved: Mapped[bool | None]
    # An operator-first return call (S8, migration 0017): the operator's queue interface
    # rung before the customer; NULL: the customer was dialled first.
    operator_first: Mapped[str | None]


class RecordingRow(Base):
    """A recording file, looked up by opaque id (never by a path from a URL)."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(_one_of("status", RECORDING_STATUSES), name="status"),
        CheckConstraint("call_id IS NOT NULL OR attempt_id IS NOT NULL", name="owner"),
        # Relative to the data dir and never climbing out of it: defence in depth for
        # the recording routes, which must not serve a path they did not create.
        CheckConstraint(
            "path <> '' AND path NOT LIKE '/%' AND path NOT LIKE '%..%'", name="relative_path"
        ),
        CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint("bytes IS NULL OR bytes >= 0", name="bytes"),
        CheckConstraint(_one_of("kind", RECORDING_KINDS), name="kind"),
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


class SurveyScoreRow(Base):
    """One survey index (S5) scored 1–5 by keypad during a callback attempt."""

    __tablename__ = "survey_scores"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    attempt_id: Mapped[str] = mapped_column(
        ForeignKey("callback_attempts.attempt_id", ondelete="CASCADE"), primary_key=True
    )
    index_name: Mapped[str] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger)


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


class ApiTokenRow(Base):
    """A bearer token, stored only as its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_sha256"),
        CheckConstraint(_one_of("role", TOKEN_ROLES), name="role"),
        CheckConstraint("token_sha256 ~ '^[0-9a-f]{64}$'", name="token_sha256"),
        CheckConstraint("(role = 'operator') = (operator_id IS NOT NULL)", name="operator_id"),
    )

    token_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    role: Mapped[str]
    token_sha256: Mapped[str]
    label: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    #: Refused from this instant on; ``None``: never (tokens created before migration 0005).
    expires_at: Mapped[datetime | None]
    #: The operator (工号) an ``operator`` token acts for; set exactly for that role (0009).
    operator_id: Mapped[str | None]


class CallRecordRow(Base):
    """One version of a call's record (来电记录 / 工单, S7). Immutable like ``qa_scores``: a
    trigger refuses changes; a correction is the next ``version``, naming the row it
    ``supersedes``. Version 1's ``created_at`` is when the record was first entered (S8)."""

    __tablename__ = "call_records"
    __table_args__ = (
        UniqueConstraint("call_id", "version"),
        UniqueConstraint("supersedes"),
        CheckConstraint(_one_of("type", RECORD_TYPES), name="type"),
        CheckConstraint(_one_of("status", RECORD_STATUSES), name="status"),
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
        CheckConstraint(_one_of("state", COMPLAINT_STATES), name="state"),
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
        CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),
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


class ApiSessionRow(Base):
    """A browser's sign-in: its cookie is a random secret stored here only as its SHA-256,
    tied to the API token it signed in with, ending at ``expires_at`` or at logout.

    ``token_sealed`` is that token encrypted under a key only the cookie's secret gives
    (``db/tokens.py``), so neither the cookie nor this row alone reveals the token.
    """

    __tablename__ = "api_sessions"
    __table_args__ = (
        UniqueConstraint("session_sha256"),
        Index(None, "token_id"),
        Index(None, "expires_at"),
        CheckConstraint("session_sha256 ~ '^[0-9a-f]{64}$'", name="session_sha256"),
    )

    session_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.token_id", ondelete="CASCADE"))
    session_sha256: Mapped[str]
    token_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]


class AuditLogRow(Base):
    """Who did what to which object, and when. Append-only: a trigger rejects changes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"),)

    audit_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor: Mapped[str]
    action: Mapped[str]
    object: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


#: The counts summed in the roll-up tables (migration 0014), in their column order.
ROLLUP_COUNTS: tuple[str, ...] = (
    "offered",
    "answered",
    "within_standard",
    "abandoned",
    "short_abandons",
    "hold_over_limit",
    "hold_severe",
    "silence_spoke",
    "silence_hung_up",
    "over_max_duration",
    "within_target",
    "operator_first",
    "satisfaction_satisfied",
    "satisfaction_suggestion",
    "satisfaction_invalid",
    "satisfaction_no_answer",
    "incomplete",
    "records_late",
    "records_missing",
)


class RollupBasisRow(Base):
    """What the roll-ups were built with (one row; none: roll-ups off): the grain of their
    buckets and the settings some counts depend on. Triggers read it (migration 0014)."""

    __tablename__ = "rollup_basis"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("grain_seconds > 0 AND 3600 % grain_seconds = 0", name="grain"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    grain_seconds: Mapped[int] = mapped_column(Integer)
    #: The time zone whose local days ``rollup_calls_by_operator_daily`` counts.
    zone: Mapped[str]
    hold_severe_seconds: Mapped[float]
    call_target_seconds: Mapped[float]
    wrap_up: Mapped[timedelta] = mapped_column(Interval)
    callback_service_due_minutes: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[datetime] = mapped_column(server_default=func.now())


class _RollupColumns:
    """The columns both roll-up tables share: the counts, the exact ring-time sum, the
    longest wait, and the latest end among answered calls still without a record."""

    offered: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    within_standard: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    short_abandons: Mapped[int] = mapped_column(Integer)
    hold_over_limit: Mapped[int] = mapped_column(Integer)
    hold_severe: Mapped[int] = mapped_column(Integer)
    silence_spoke: Mapped[int] = mapped_column(Integer)
    silence_hung_up: Mapped[int] = mapped_column(Integer)
    over_max_duration: Mapped[int] = mapped_column(Integer)
    within_target: Mapped[int] = mapped_column(Integer)
    operator_first: Mapped[int] = mapped_column(Integer)
    satisfaction_satisfied: Mapped[int] = mapped_column(Integer)
    satisfaction_suggestion: Mapped[int] = mapped_column(Integer)
    satisfaction_invalid: Mapped[int] = mapped_column(Integer)
    satisfaction_no_answer: Mapped[int] = mapped_column(Integer)
    incomplete: Mapped[int] = mapped_column(Integer)
    records_late: Mapped[int] = mapped_column(Integer)
    records_missing: Mapped[int] = mapped_column(Integer)
    ring_seconds_sum: Mapped[Decimal] = mapped_column(Numeric)
    longest_wait: Mapped[float | None]
    missing_last_end: Mapped[datetime | None]


class RollupCallsRow(_RollupColumns, Base):
    """The inbound calls offered in one grain of time (``bucket_start``), counted."""

    __tablename__ = "rollup_calls"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    #: Per PBX (migration 0016): a summary of all PBXs adds their rows up.
    pbx_id: Mapped[str] = mapped_column(primary_key=True)


class RollupCallsByOperatorRow(_RollupColumns, Base):
    """The same per operator (``operator_key`` ``''``: no operator answered)."""

    __tablename__ = "rollup_calls_by_operator"
    __table_args__ = (Index(None, "operator_key", "bucket_start"),)

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    operator_key: Mapped[str] = mapped_column(primary_key=True)
    pbx_id: Mapped[str] = mapped_column(primary_key=True)


class RollupCallsByOperatorDailyRow(_RollupColumns, Base):
    """The same per operator and local day of the basis' zone (``bucket_start``: its local
    midnight), so a year per operator reads 365 rows per operator, not 8,760."""

    __tablename__ = "rollup_calls_by_operator_daily"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    operator_key: Mapped[str] = mapped_column(primary_key=True)
    pbx_id: Mapped[str] = mapped_column(primary_key=True)


class RollupCallbackFactsRow(Base):
    """What one callback adds to its bucket of ``rollup_callbacks`` now (S5), kept so that a
    change applies exactly the difference (migration 0014); cancelled callbacks have none."""

    __tablename__ = "rollup_callback_facts"
    __table_args__ = (Index(None, "bucket_start"),)

    callback_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    bucket_start: Mapped[datetime]
    due: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    #: Its deadline while it is still open (pending or in progress).
    open_deadline: Mapped[datetime | None]
    late: Mapped[int] = mapped_column(Integer)
    service_due: Mapped[int] = mapped_column(Integer)
    service_within: Mapped[int] = mapped_column(Integer)
    satisfaction_sum: Mapped[Decimal | None] = mapped_column(Numeric)
    scored: Mapped[int] = mapped_column(Integer)
    #: The callback's PBX (migration 0016), the key of its row of ``rollup_callbacks``.
    pbx_id: Mapped[str]


class RollupCallbacksRow(Base):
    """The callbacks due in one grain of time (``bucket_start``), counted (S5)."""

    __tablename__ = "rollup_callbacks"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    pbx_id: Mapped[str] = mapped_column(primary_key=True)
    due: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)
    service_due: Mapped[int] = mapped_column(Integer)
    service_within: Mapped[int] = mapped_column(Integer)
    scored: Mapped[int] = mapped_column(Integer)
    #: Still open, and the latest deadline among them (all overdue once it has passed).
    open: Mapped[int] = mapped_column(Integer)
    satisfaction_sum: Mapped[Decimal] = mapped_column(Numeric)
    open_last_deadline: Mapped[datetime | None]
