"""Who hung up first (S9): ``calls.hung_up_by`` and the verdict ``operator_hung_up_first``.

``hung_up_by`` is ``caller``, ``operator`` or ``system`` (the PBX, e.g. the agent hanging up
a silent caller), from the first AMI ``HangupRequest``/``SoftHangupRequest`` on the caller's
channel or an operator's answered leg; ``NULL`` when none was seen — every call stored
before this migration, since the agent did not consume those events. Those rows keep
``operator_hung_up_first = false``: nobody knows, and a breach is not made up.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two columns (existing calls: unknown, no breach)."""
    op.add_column("calls", sa.Column("hung_up_by", sa.Text(), nullable=True))
    op.create_check_constraint(
        "hung_up_by", "calls", "hung_up_by IN ('caller', 'operator', 'system')"
    )
    op.add_column(
        "calls",
        sa.Column(
            "operator_hung_up_first", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_column("calls", "operator_hung_up_first")
    op.drop_constraint("hung_up_by", "calls", type_="check")
    op.drop_column("calls", "hung_up_by")
