"""Callback attempts carry the dialer instance that placed them and its lease on them.

Two agents with the same ``pbx_id`` used to reconcile each other's live attempts (a
customer could be called twice), and the attempts of an agent that never came back stayed
``in_progress`` forever. ``callback_attempts.instance_id`` names the dialer (one per agent
data dir) that placed or took over an attempt; ``heartbeat_at`` is that dialer's lease on
it, renewed while the dialer runs (database time). A dialer reconciles its own attempts,
those without an instance (from before this migration) and those whose lease ran out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the attempt's instance and lease."""
    op.add_column("callback_attempts", sa.Column("instance_id", sa.Text(), nullable=True))
    op.add_column(
        "callback_attempts",
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_column("callback_attempts", "heartbeat_at")
    op.drop_column("callback_attempts", "instance_id")
