"""Operator-first return calls (S8, issue 18): the operator an attempt rang first.

With ``IVR_AGENT_RETURN_CALL_ORDER=operator_first`` a return call rings a free operator of
the return-call queue first and dials the customer once they answer. The attempt keeps that
operator's queue interface (``callback_attempts.operator_first``, e.g. ``PJSIP/op007``): an
agent restarted meanwhile resumes the call the same way, and the figures count the attempt
as answered by an operator when it connected. NULL: the customer was dialled first.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 13:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the operator rung first."""
    op.add_column("callback_attempts", sa.Column("operator_first", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it (the attempts keep their outcomes; which operator was rung first is lost)."""
    op.drop_column("callback_attempts", "operator_first")
