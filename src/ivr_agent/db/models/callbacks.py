"""Callbacks, their attempts and survey scores, and campaigns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_agent.db.models.base import (
    ATTEMPT_OUTCOMES,
    ATTEMPT_STATES,
    CALLBACK_REASONS,
    CALLBACK_STATUSES,
    Base,
    one_of,
)


class CallbackRow(Base):
    """A callback job (S5): when it is due, its state, and what came of it."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(one_of("reason", CALLBACK_REASONS), name="reason"),
        CheckConstraint(one_of("status", CALLBACK_STATUSES), name="status"),
        CheckConstraint("attempts_made >= 0", name="attempts_made"),
        CheckConstraint(
            "satisfaction_index IS NULL OR satisfaction_index BETWEEN 1 AND 5",
            name="satisfaction_index",
        ),
        CheckConstraint("failed_attempts >= 0 AND reschedules >= 0", name="counters"),
        CheckConstraint(
            "outcome IS NULL OR " + one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"
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
        CheckConstraint(one_of("state", ATTEMPT_STATES), name="state"),
        CheckConstraint("attempt_no >= 1", name="attempt_no"),
        CheckConstraint(
            "outcome IS NULL OR " + one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"
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


class SurveyScoreRow(Base):
    """One survey index (S5) scored 1–5 by keypad during a callback attempt."""

    __tablename__ = "survey_scores"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    attempt_id: Mapped[str] = mapped_column(
        ForeignKey("callback_attempts.attempt_id", ondelete="CASCADE"), primary_key=True
    )
    index_name: Mapped[str] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger)
