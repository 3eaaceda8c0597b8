"""Callbacks belong to their PBX (issue 20): ``callbacks.pbx_id``.

Several PBXs share one database; each PBX's active agent claims only its own PBX's due
callbacks and dials them through that PBX. A callback made from a call (an abandoned call's
return call, an in-queue request) carries that call's ``pbx_id``; one requested through the
API carries the one asked for, by default the serving agent's.

Backfill of the callbacks stored before, in this order:

1. the ``pbx_id`` of its source call, when it has one;
2. else the ``pbx_id`` of its latest dialling attempt (the PBX that dialled it so far);
3. else the ``IVR_AGENT_PBX_ID`` of the process running the migration (the agent that
   starts first after the upgrade, or ``ivr-agent migrate``; ``pbx1`` when unset). With one
   PBX that is the right one; with several, check the pending callbacks' ``pbx_id`` after
   the upgrade (``GET /api/callbacks`` shows it).

``ix_callbacks_pbx_id_status_next_attempt_at`` serves the dialer's claim
(``WHERE pbx_id = … AND status = 'pending' AND next_attempt_at <= now()``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _configured_pbx_id() -> str:
    # The settings' own validation (the pattern of IVR_AGENT_PBX_ID); the process running
    # the migration has loaded them already, so they load here too.
    from ivr_agent.settings import load_settings

    return load_settings().pbx_id


def upgrade() -> None:
    """Add ``callbacks.pbx_id``, backfilled (see the module docstring), and its index."""
    op.add_column("callbacks", sa.Column("pbx_id", sa.Text(), nullable=True))
    op.execute(
        "UPDATE callbacks AS c SET pbx_id = calls.pbx_id FROM calls "
        "WHERE calls.call_id = c.source_call_id"
    )
    op.execute(
        "UPDATE callbacks AS c SET pbx_id = a.pbx_id FROM ("
        "  SELECT DISTINCT ON (callback_id) callback_id, pbx_id FROM callback_attempts"
        "  ORDER BY callback_id, attempt_no DESC"
        ") AS a WHERE c.pbx_id IS NULL AND a.callback_id = c.callback_id"
    )
    op.get_bind().execute(
        sa.text("UPDATE callbacks SET pbx_id = :pbx_id WHERE pbx_id IS NULL"),
        {"pbx_id": _configured_pbx_id()},
    )
    op.alter_column("callbacks", "pbx_id", nullable=False)
    op.create_index(
        op.f("ix_callbacks_pbx_id_status_next_attempt_at"),
        "callbacks",
        ["pbx_id", "status", "next_attempt_at"],
    )


def downgrade() -> None:
    """Drop the column (0015 lets any agent dial any callback)."""
    op.drop_index(op.f("ix_callbacks_pbx_id_status_next_attempt_at"), table_name="callbacks")
    op.drop_column("callbacks", "pbx_id")
