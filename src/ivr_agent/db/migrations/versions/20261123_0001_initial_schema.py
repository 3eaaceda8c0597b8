"""Initial schema: calls and their timeline, callbacks, recordings, survey scores, tokens,
audit log.

Every time is timestamptz; every constraint is named by the naming convention of
``ivr_agent.db.models`` (pk_/uq_/ck_/fk_/ix_<table>_<columns>), so later migrations can
refer to them by name. ``ivr_agent.db.models`` must describe exactly this schema; a test
compares them.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 16:01:39.431333
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit log is append-only: a statement trigger refuses UPDATE, DELETE and TRUNCATE,
# so a bug or a careless query cannot rewrite who played which recording.
# (Two statements: asyncpg prepares each one, and a prepared statement holds only one.)
_AUDIT_APPEND_ONLY = (
    """
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
    """,
)


def upgrade() -> None:
    # --- calls: one row per finished call (the outcome contract, core/outcome.py) ------
    # Keyed by (pbx_id, linkedid) so re-saving an outcome (spool replay, a second agent)
    # updates the row instead of adding one; call_id is derived from the same pair.
    op.create_table(
        "calls",
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("pbx_id", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=True),
        sa.Column("operator_id", sa.Text(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ring_seconds", sa.Double(), nullable=True),
        sa.Column("rings", sa.Integer(), nullable=True),
        sa.Column("answered_within_standard", sa.Boolean(), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("short_abandon", sa.Boolean(), nullable=False),
        sa.Column("max_hold_seconds", sa.Double(), nullable=True),
        sa.Column("hold_over_limit", sa.Boolean(), nullable=False),
        sa.Column("silence", sa.Text(), nullable=False),
        sa.Column("talk_seconds", sa.Double(), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("over_max_duration", sa.Boolean(), nullable=False),
        sa.Column("recording_id", sa.Text(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("incomplete_reason", sa.Text(), nullable=True),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("utc_offset_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("direction IN ('inbound', 'callback')", name=op.f("ck_calls_direction")),
        sa.CheckConstraint(
            "silence IN ('none', 'prompted_then_spoke', 'hung_up_silent')",
            name=op.f("ck_calls_silence"),
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
        sa.UniqueConstraint("pbx_id", "linkedid", name=op.f("uq_calls_pbx_id_linkedid")),
    )
    # Export and the API page through calls in (ended_at, call_id) order.
    op.create_index(
        op.f("ix_calls_ended_at_call_id"), "calls", ["ended_at", "call_id"], unique=False
    )
    op.create_index(op.f("ix_calls_offered_at"), "calls", ["offered_at"], unique=False)
    # --- the children of a call, replaced as a whole when the call is saved again ------
    op.create_table(
        "holds",
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("reminders_played", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_holds_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_holds")),
    )
    op.create_table(
        "prompts_played",
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("played", sa.Boolean(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=True),
        sa.Column("played_to", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "played_to IN ('caller', 'both', 'customer')", name=op.f("ck_prompts_played_played_to")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_prompts_played_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_prompts_played")),
    )
    # The call's event timeline, for QA replay.
    op.create_table(
        "call_events",
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_events_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_call_events")),
    )
    # --- callbacks (S5) ----------------------------------------------------------------
    op.create_table(
        "callbacks",
        sa.Column("callback_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("customer_number", sa.Text(), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts_made", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("satisfaction_index", sa.Double(), nullable=True),
        sa.Column("source_call_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reason IN ('service_completed', 'complaint_resolved', 'abandoned_call', 'manual')",
            name=op.f("ck_callbacks_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'completed', 'declined', 'unreachable', "
            "'cancelled')",
            name=op.f("ck_callbacks_status"),
        ),
        sa.CheckConstraint("attempts_made >= 0", name=op.f("ck_callbacks_attempts_made")),
        sa.CheckConstraint(
            "satisfaction_index IS NULL OR satisfaction_index BETWEEN 1 AND 5",
            name=op.f("ck_callbacks_satisfaction_index"),
        ),
        sa.ForeignKeyConstraint(
            ["source_call_id"],
            ["calls.call_id"],
            name=op.f("fk_callbacks_source_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("callback_id", name=op.f("pk_callbacks")),
    )
    # The dialer claims due jobs with
    #   SELECT ... WHERE status = 'pending' AND next_attempt_at <= now()
    #   ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED
    op.create_index(
        op.f("ix_callbacks_status_next_attempt_at"),
        "callbacks",
        ["status", "next_attempt_at"],
        unique=False,
    )
    # An abandoned call gets at most one automatic callback, however often it is saved.
    op.create_index(
        "uq_callbacks_abandoned_source_call_id",
        "callbacks",
        ["source_call_id"],
        unique=True,
        postgresql_where=sa.text("reason = 'abandoned_call'"),
    )
    # One row per dialling; channel_id is the id we originate with, so a restarted agent
    # finds its attempt by the channel instead of dialling again.
    op.create_table(
        "callback_attempts",
        sa.Column("attempt_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("callback_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'dialling'"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('dialling', 'answered', 'finished', 'failed')",
            name=op.f("ck_callback_attempts_state"),
        ),
        sa.CheckConstraint("attempt_no >= 1", name=op.f("ck_callback_attempts_attempt_no")),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.callback_id"],
            name=op.f("fk_callback_attempts_callback_id_callbacks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint(
            "callback_id", "attempt_no", name=op.f("uq_callback_attempts_callback_id_attempt_no")
        ),
        sa.UniqueConstraint("channel_id", name=op.f("uq_callback_attempts_channel_id")),
    )
    # --- recordings: looked up by opaque id; path is relative to the data dir ---------
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("attempt_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "path <> '' AND path NOT LIKE '/%' AND path NOT LIKE '%..%'",
            name=op.f("ck_recordings_relative_path"),
        ),
        sa.CheckConstraint(
            "sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_recordings_sha256")
        ),
        sa.CheckConstraint(
            "status IN ('ok', 'corrupt', 'missing', 'purged')", name=op.f("ck_recordings_status")
        ),
        sa.CheckConstraint("bytes IS NULL OR bytes >= 0", name=op.f("ck_recordings_bytes")),
        sa.CheckConstraint(
            "call_id IS NOT NULL OR attempt_id IS NOT NULL", name=op.f("ck_recordings_owner")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["callback_attempts.attempt_id"],
            name=op.f("fk_recordings_attempt_id_callback_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_recordings_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("recording_id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"], unique=False)
    op.create_index(op.f("ix_recordings_attempt_id"), "recordings", ["attempt_id"], unique=False)
    # Five indices scored 1-5 by keypad; the satisfaction index is their mean.
    op.create_table(
        "survey_scores",
        sa.Column("attempt_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("index_name", sa.Text(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_survey_scores_score")),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["callback_attempts.attempt_id"],
            name=op.f("fk_survey_scores_attempt_id_callback_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "index_name", name=op.f("pk_survey_scores")),
    )
    # --- access: bearer tokens stored only as SHA-256, and the audit trail --------------
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('ops', 'qa', 'admin')", name=op.f("ck_api_tokens_role")),
        sa.CheckConstraint(
            "token_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_api_tokens_token_sha256")
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)

    for statement in _AUDIT_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and triggers.
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in (
        "audit_log",
        "api_tokens",
        "survey_scores",
        "recordings",
        "callback_attempts",
        "callbacks",
        "call_events",
        "prompts_played",
        "holds",
        "calls",
    ):
        op.drop_table(table)
