"""The survey's "problem solved?" answer (S5) and spoken suggestions kept with the call (S4).

* ``callback_attempts.problem_solved`` / ``callbacks.problem_solved``: the customer's answer
  to "has the problem been solved?", asked before the five scores of a service or complaint
  callback; ``NULL`` when not asked or not answered (every callback before this migration).
  A callback whose last answer is "no" needs a follow-up (the API's ``follow_up``).
* ``recordings.kind``: ``call`` (the whole call, as before) or ``suggestion`` (what an
  inbound caller said after pressing 2 at the satisfaction question). Existing rows are
  whole-call recordings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns; existing rows: not asked, no follow-up, whole-call recordings."""
    op.add_column("callback_attempts", sa.Column("problem_solved", sa.Boolean(), nullable=True))
    op.add_column("callbacks", sa.Column("problem_solved", sa.Boolean(), nullable=True))
    op.add_column(
        "recordings",
        sa.Column("kind", sa.Text(), nullable=False, server_default=sa.text("'call'")),
    )
    op.create_check_constraint("kind", "recordings", "kind IN ('call', 'suggestion')")


def downgrade() -> None:
    """Drop them; refused while suggestion recordings exist (0006 would show them as calls)."""
    kept = op.get_bind().execute(
        sa.text("SELECT count(*) FROM recordings WHERE kind = 'suggestion'")
    )
    if kept.scalar_one():
        raise RuntimeError(
            "recordings hold callers' spoken suggestions, which revision 0006 cannot tell "
            "from whole-call recordings: export and delete them before downgrading"
        )
    op.drop_constraint("kind", "recordings", type_="check")
    op.drop_column("recordings", "kind")
    op.drop_column("callbacks", "problem_solved")
    op.drop_column("callback_attempts", "problem_solved")
