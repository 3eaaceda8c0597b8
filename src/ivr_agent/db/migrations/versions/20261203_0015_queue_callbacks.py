"""In-queue callback requests and specialist call-backs (S8, issue 18).

A caller who presses 1 in the admin's queue leaves it with a promise to be called back in
their place. The request is a callback of reason ``queue_callback`` with the queue it left
(``queue_name``) and its place, the moment it joined that queue (``queued_at``); it waits
(``next_attempt_at`` NULL, never claimed by the dialer) until an agent releases it
(``released_at``, under a per-queue lock) when its place reaches the front and an operator
is free. ``queue_member`` is the operator (queue interface) kept for it meanwhile: paused in
the queue so that no later caller takes them. One request per call (a unique index on
``source_call_id``).

A specialist call-back (reason ``specialist``) names the specialist's operator id
(``operator_id``): their phone rings first, then the customer's.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("service_completed", "complaint_resolved", "abandoned_call", "manual", "campaign")
_AFTER = (*_BEFORE, "queue_callback", "specialist")


def _check(reasons: tuple[str, ...]) -> str:
    return "reason IN (" + ", ".join(f"'{r}'" for r in reasons) + ")"


def upgrade() -> None:
    """Add the reason, the queue and place columns, and one request per call."""
    op.drop_constraint(op.f("ck_callbacks_reason"), "callbacks", type_="check")
    op.create_check_constraint(op.f("ck_callbacks_reason"), "callbacks", _check(_AFTER))
    op.add_column("callbacks", sa.Column("queue_name", sa.Text(), nullable=True))
    op.add_column("callbacks", sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("callbacks", sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("callbacks", sa.Column("queue_member", sa.Text(), nullable=True))
    op.add_column("callbacks", sa.Column("operator_id", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_callbacks_specialist"),
        "callbacks",
        "(reason = 'specialist') = (operator_id IS NOT NULL)",
    )
    op.create_check_constraint(
        op.f("ck_callbacks_queue_place"),
        "callbacks",
        "(reason = 'queue_callback') = (queue_name IS NOT NULL AND queued_at IS NOT NULL)",
    )
    op.create_index(
        "uq_callbacks_queue_source_call_id",
        "callbacks",
        ["source_call_id"],
        unique=True,
        postgresql_where=sa.text("reason = 'queue_callback'"),
    )


def downgrade() -> None:
    """Refused while queue callback requests exist (0011 has no such reason)."""
    kept = op.get_bind().exec_driver_sql(
        "SELECT count(*) FROM callbacks WHERE reason IN ('queue_callback', 'specialist')"
    )
    if kept.scalar_one():
        raise RuntimeError(
            "callbacks holds in-queue callback requests or specialist call-backs, which "
            "revision 0011 cannot store: export and delete them before downgrading"
        )
    op.drop_index("uq_callbacks_queue_source_call_id", table_name="callbacks")
    op.drop_constraint(op.f("ck_callbacks_queue_place"), "callbacks", type_="check")
    op.drop_constraint(op.f("ck_callbacks_specialist"), "callbacks", type_="check")
    op.drop_column("callbacks", "operator_id")
    op.drop_column("callbacks", "queue_member")
    op.drop_column("callbacks", "released_at")
    op.drop_column("callbacks", "queued_at")
    op.drop_column("callbacks", "queue_name")
    op.drop_constraint(op.f("ck_callbacks_reason"), "callbacks", type_="check")
    op.create_check_constraint(op.f("ck_callbacks_reason"), "callbacks", _check(_BEFORE))
