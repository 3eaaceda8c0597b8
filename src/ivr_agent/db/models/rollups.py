"""The summary roll-ups (kept by database functions; see the migrations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    Interval,
    Numeric,
    SmallInteger,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_agent.db.models.base import (
    Base,
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
