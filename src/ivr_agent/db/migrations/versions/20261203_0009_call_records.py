"""The call record (来电记录 / 工单, S7) and the ``operator`` token role (issue 15).

* ``call_records``: one row per version of a call's record — type, summary, result,
  follow-up owner, status, expected completion, the customer's contact — and who entered it.
  Immutable like ``qa_scores`` (a statement trigger refuses UPDATE, DELETE and TRUNCATE): a
  correction is the next version naming the one it ``supersedes``. So the first entry time
  that S8's ``late_wrap_up`` is judged on (version 1's ``created_at``) can never be moved
  by a correction, and every earlier wording stays readable.
* ``api_tokens.operator_id``: the operator an ``operator`` token acts for (set exactly for
  that role); the role check admits ``operator``.
* ``calls.record_expected``: whether S8 expects a record of the call — true for every call
  stored from now on, false for those stored before records existed (nobody could enter
  one: they are no late wrap-ups). Added with the default false, then the default turned to
  true: both are catalogue changes in PostgreSQL, no rewrite of a large ``calls`` table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES_BEFORE = "'ops', 'qa', 'admin'"

# Two statements: asyncpg prepares each one, and a prepared statement holds only one.
_APPEND_ONLY = (
    """
    CREATE FUNCTION call_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'call_records are immutable (a correction is a new version): % refused',
            TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER call_records_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON call_records
        FOR EACH STATEMENT EXECUTE FUNCTION call_records_append_only()
    """,
)


def upgrade() -> None:
    """Create call_records with its trigger; let tokens act for an operator."""
    op.create_table(
        "call_records",
        sa.Column("record_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("follow_up_owner", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expected_completion", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact_number", sa.Text(), nullable=True),
        sa.Column("contact_name", sa.Text(), nullable=True),
        sa.Column("entered_by", sa.Text(), nullable=False),
        sa.Column("entered_role", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('consultation', 'complaint', 'suggestion', 'business')",
            name=op.f("ck_call_records_type"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'done')", name=op.f("ck_call_records_status")
        ),
        sa.CheckConstraint(
            "(version = 1) = (supersedes IS NULL) AND version >= 1",
            name=op.f("ck_call_records_version"),
        ),
        sa.CheckConstraint("summary <> ''", name=op.f("ck_call_records_summary")),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_call_records_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"],
            ["call_records.record_id"],
            name=op.f("fk_call_records_supersedes_call_records"),
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_call_records")),
        sa.UniqueConstraint("call_id", "version", name=op.f("uq_call_records_call_id_version")),
        sa.UniqueConstraint("supersedes", name=op.f("uq_call_records_supersedes")),
    )
    for statement in _APPEND_ONLY:
        op.execute(statement)
    op.add_column("api_tokens", sa.Column("operator_id", sa.Text(), nullable=True))
    op.drop_constraint(op.f("ck_api_tokens_role"), "api_tokens", type_="check")
    op.create_check_constraint("role", "api_tokens", f"role IN ({_ROLES_BEFORE}, 'operator')")
    op.create_check_constraint(
        "operator_id", "api_tokens", "(role = 'operator') = (operator_id IS NOT NULL)"
    )
    op.add_column(
        "calls",
        sa.Column("record_expected", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("calls", "record_expected", server_default=sa.true())


def downgrade() -> None:
    """Drop the records and the operator tokens (revision 0008 has no such role)."""
    op.drop_column("calls", "record_expected")
    op.execute("DELETE FROM api_tokens WHERE role = 'operator'")
    op.drop_constraint(op.f("ck_api_tokens_operator_id"), "api_tokens", type_="check")
    op.drop_constraint(op.f("ck_api_tokens_role"), "api_tokens", type_="check")
    op.create_check_constraint("role", "api_tokens", f"role IN ({_ROLES_BEFORE})")
    op.drop_column("api_tokens", "operator_id")
    op.execute("DROP TRIGGER IF EXISTS call_records_append_only ON call_records")
    op.drop_table("call_records")
    op.execute("DROP FUNCTION IF EXISTS call_records_append_only()")
