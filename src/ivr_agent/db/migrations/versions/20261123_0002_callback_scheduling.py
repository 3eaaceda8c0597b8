"""Callback scheduling state: the overdue flag and the failure/reschedule counters the S5
rules need, and on each attempt the PBX that dialled it, when it was answered and why it
ended; attempt outcomes are checked against the rules' list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = (
    "outcome IS NULL OR outcome IN ('completed', 'declined', 'rescheduled', 'no_answer', "
    "'busy', 'hung_up', 'failed')"
)


def upgrade() -> None:
    """Add the scheduling columns (existing rows get neutral values)."""
    op.add_column(
        "callbacks",
        sa.Column("overdue", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "callbacks",
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "callbacks",
        sa.Column("reschedules", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("callbacks", sa.Column("status_reason", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_callbacks_counters"), "callbacks", "failed_attempts >= 0 AND reschedules >= 0"
    )
    op.create_check_constraint(op.f("ck_callbacks_outcome"), "callbacks", _OUTCOMES)
    op.add_column(
        "callback_attempts",
        sa.Column("pbx_id", sa.Text(), server_default=sa.text("''"), nullable=False),
    )
    # The default only fills rows written before this revision; new rows name their PBX.
    op.alter_column("callback_attempts", "pbx_id", server_default=None)
    op.add_column(
        "callback_attempts", sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("callback_attempts", sa.Column("detail", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_callback_attempts_outcome"), "callback_attempts", _OUTCOMES)
    # Crash reconciliation lists the attempts left dialling (or answered) by a PBX.
    op.create_index(
        op.f("ix_callback_attempts_state_pbx_id"),
        "callback_attempts",
        ["state", "pbx_id"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the scheduling columns."""
    op.drop_index(op.f("ix_callback_attempts_state_pbx_id"), table_name="callback_attempts")
    op.drop_constraint(op.f("ck_callback_attempts_outcome"), "callback_attempts", type_="check")
    for column in ("detail", "answered_at", "pbx_id"):
        op.drop_column("callback_attempts", column)
    op.drop_constraint(op.f("ck_callbacks_outcome"), "callbacks", type_="check")
    op.drop_constraint(op.f("ck_callbacks_counters"), "callbacks", type_="check")
    for column in ("status_reason", "reschedules", "failed_attempts", "overdue"):
        op.drop_column("callbacks", column)
