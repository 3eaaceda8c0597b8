"""Complaints (投诉, S7, issue 15): the complaint and its timeline.

* ``complaints``: one row per complaint — the call and call record it came from (if any),
  the customer's number and name (for the 24–72 h callback), the summary, the handling
  department (an id of the departments directory), the state (registered, assigned,
  resolved, confirmed, reopened), when the wait for someone to act began
  (``silent_since``: what "overdue" is judged on), when it was resolved, last chased and
  last escalated, and the ``complaint_resolved`` callback that asks the customer. At most one
  complaint per call (a record corrected twice as a complaint opens one).
* ``complaint_events``: the timeline — registered, assigned, feedback, resolved, confirmed,
  reopened, chased, escalated, notified (one per notification delivery) — each with when,
  who, a note and details. Append-only: a statement trigger refuses UPDATE, DELETE and
  TRUNCATE, so the steps S7 asks to record with their times cannot be rewritten.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("registered", "assigned", "resolved", "confirmed", "reopened")
_KINDS = (
    "registered",
    "assigned",
    "feedback",
    "resolved",
    "confirmed",
    "reopened",
    "chased",
    "escalated",
    "notified",
)

# Two statements: asyncpg prepares each one, and a prepared statement holds only one.
_APPEND_ONLY = (
    """
    CREATE FUNCTION complaint_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'complaint_events are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER complaint_events_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON complaint_events
        FOR EACH STATEMENT EXECUTE FUNCTION complaint_events_append_only()
    """,
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    """Create complaints and complaint_events (append-only)."""
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("record_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("customer_number", sa.Text(), nullable=True),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("updated_at", timestamp, nullable=False),
        sa.Column("silent_since", timestamp, nullable=False),
        sa.Column("resolved_at", timestamp, nullable=True),
        sa.Column("chased_at", timestamp, nullable=True),
        sa.Column("escalated_at", timestamp, nullable=True),
        sa.Column("callback_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("source_callback_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.CheckConstraint(_one_of("state", _STATES), name=op.f("ck_complaints_state")),
        sa.CheckConstraint("summary <> ''", name=op.f("ck_complaints_summary")),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_complaints_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["call_records.record_id"],
            name=op.f("fk_complaints_record_id_call_records"),
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.callback_id"],
            name=op.f("fk_complaints_callback_id_callbacks"),
        ),
        sa.ForeignKeyConstraint(
            ["source_callback_id"],
            ["callbacks.callback_id"],
            name=op.f("fk_complaints_source_callback_id_callbacks"),
        ),
        sa.PrimaryKeyConstraint("complaint_id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("call_id", name=op.f("uq_complaints_call_id")),
        sa.UniqueConstraint("source_callback_id", name=op.f("uq_complaints_source_callback_id")),
    )
    op.create_index(op.f("ix_complaints_created_at"), "complaints", ["created_at"])
    op.create_index(
        op.f("ix_complaints_state_silent_since"), "complaints", ["state", "silent_since"]
    )
    op.create_table(
        "complaint_events",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("complaint_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(_one_of("kind", _KINDS), name=op.f("ck_complaint_events_kind")),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.complaint_id"],
            name=op.f("fk_complaint_events_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_complaint_events")),
    )
    op.create_index(
        op.f("ix_complaint_events_complaint_id_event_id"),
        "complaint_events",
        ["complaint_id", "event_id"],
    )
    for statement in _APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    """Drop the complaints and their timelines."""
    op.execute("DROP TRIGGER IF EXISTS complaint_events_append_only ON complaint_events")
    op.drop_table("complaint_events")
    op.execute("DROP FUNCTION IF EXISTS complaint_events_append_only()")
    op.drop_table("complaints")
