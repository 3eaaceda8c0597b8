"""API tokens expire; browser sign-ins become server-side sessions (issue 14, finding 10).

``api_tokens.expires_at``: a token is refused from that instant on. Tokens created before
this migration keep ``NULL`` = no expiry: a date picked here would cut off wall screens and
scripts on a day nobody chose; ``ivr-agent tokens list`` shows them as ``never`` so they
can be replaced and revoked on purpose. New tokens get an expiry (90 days by default).

``api_sessions``: the dashboard's sign-in cookie used to be the raw API token. It is now a
random secret stored here only as its SHA-256, tied to the token (deleted with it), with
its own ``expires_at`` (12 h, never past the token's expiry); logout deletes the row.
``token_sealed`` is the token encrypted under a key derived from the cookie's secret, for
the pages that still look a token up themselves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the token's expiry and the sessions table."""
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "api_sessions",
        sa.Column("session_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("token_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("session_sha256", sa.Text(), nullable=False),
        sa.Column("token_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "session_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_api_sessions_session_sha256")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.token_id"],
            name=op.f("fk_api_sessions_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_api_sessions")),
        sa.UniqueConstraint("session_sha256", name=op.f("uq_api_sessions_session_sha256")),
    )
    op.create_index(op.f("ix_api_sessions_token_id"), "api_sessions", ["token_id"])
    op.create_index(op.f("ix_api_sessions_expires_at"), "api_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop the sessions (browsers sign in again) and the expiry."""
    op.drop_index(op.f("ix_api_sessions_expires_at"), table_name="api_sessions")
    op.drop_index(op.f("ix_api_sessions_token_id"), table_name="api_sessions")
    op.drop_table("api_sessions")
    op.drop_column("api_tokens", "expires_at")
