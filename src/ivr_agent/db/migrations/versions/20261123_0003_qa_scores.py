"""QA replay: versioned, immutable QA scores of a call, and when each recording started and
was purged.

``qa_scores`` holds the five S5 indices a QA reviewer gave a call and their mean. A row is
never changed: a correction is a new row with the next ``version`` that names the row it
``supersedes`` (each version superseded at most once, so a call's versions form one chain);
a statement trigger refuses UPDATE, DELETE and TRUNCATE like the audit log's.
``recordings.started_at`` is when the PBX started writing the file (timeline offsets of the
replay are measured from it); ``purged_at`` is when retention deleted the file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDICES = ("skill", "attitude", "timeliness", "parts", "overall")

# Two statements: asyncpg prepares each one, and a prepared statement holds only one.
_APPEND_ONLY = (
    """
    CREATE FUNCTION qa_scores_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'qa_scores are immutable (a correction is a new version): % refused',
            TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER qa_scores_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON qa_scores
        FOR EACH STATEMENT EXECUTE FUNCTION qa_scores_append_only()
    """,
)


def upgrade() -> None:
    """Create qa_scores with its trigger; add the recording times."""
    op.create_table(
        "qa_scores",
        sa.Column("score_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.Uuid(as_uuid=False), nullable=True),
        *(sa.Column(name, sa.SmallInteger(), nullable=False) for name in INDICES),
        sa.Column("satisfaction_index", sa.Double(), nullable=False),
        sa.Column("comment", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("scored_by", sa.Text(), nullable=False),
        sa.Column("scorer_role", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        *(
            sa.CheckConstraint(f"{name} BETWEEN 1 AND 5", name=op.f(f"ck_qa_scores_{name}"))
            for name in INDICES
        ),
        sa.CheckConstraint(
            "satisfaction_index = (skill + attitude + timeliness + parts + overall) / 5.0",
            name=op.f("ck_qa_scores_satisfaction_index"),
        ),
        sa.CheckConstraint(
            "(version = 1) = (supersedes IS NULL) AND version >= 1",
            name=op.f("ck_qa_scores_version"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_qa_scores_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["qa_scores.score_id"], name=op.f("fk_qa_scores_supersedes_qa_scores")
        ),
        sa.PrimaryKeyConstraint("score_id", name=op.f("pk_qa_scores")),
        sa.UniqueConstraint("call_id", "version", name=op.f("uq_qa_scores_call_id_version")),
        sa.UniqueConstraint("supersedes", name=op.f("uq_qa_scores_supersedes")),
    )
    for statement in _APPEND_ONLY:
        op.execute(statement)
    op.add_column("recordings", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recordings", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    # Retention scans recordings by age.
    op.create_index(op.f("ix_recordings_created_at"), "recordings", ["created_at"])


def downgrade() -> None:
    """Drop what upgrade added (QA scores are lost)."""
    op.drop_index(op.f("ix_recordings_created_at"), table_name="recordings")
    op.drop_column("recordings", "purged_at")
    op.drop_column("recordings", "started_at")
    op.execute("DROP TRIGGER IF EXISTS qa_scores_append_only ON qa_scores")
    op.drop_table("qa_scores")
    op.execute("DROP FUNCTION IF EXISTS qa_scores_append_only()")
