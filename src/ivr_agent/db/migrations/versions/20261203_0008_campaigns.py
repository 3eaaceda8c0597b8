"""Regular callback campaigns (S5: 每月1号、15号定期回访).

* ``campaigns``: name (unique), the days of the month it runs on (``"1,15"``), its own calling
  windows (``NULL``: the settings'), active or paused, the first local date a run may fall on.
* ``campaign_customers``: its list, one row per number (``position``: the imported order).
* ``campaign_runs``: the campaign on one of its days (local date), created once.
* ``callbacks``: reason ``campaign``; ``campaign_id`` + ``run_date`` (a foreign key to the
  run; set exactly for reason ``campaign``) and ``calling_windows`` (a callback's own
  windows). A unique index on ``(campaign_id, run_date, customer_number)``: each customer
  once per run, whoever creates it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REASONS_BEFORE = "'service_completed', 'complaint_resolved', 'abandoned_call', 'manual'"


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    """Create the campaign tables and link callbacks to their runs."""
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("days", sa.Text(), nullable=False),
        sa.Column("calling_windows", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_customers",
        sa.Column("campaign_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("customer_number", sa.Text(), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_campaign_customers_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "customer_number", name=op.f("pk_campaign_customers")
        ),
    )
    op.create_table(
        "campaign_runs",
        sa.Column("campaign_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("callbacks", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_campaign_runs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "run_date", name=op.f("pk_campaign_runs")),
    )
    op.add_column("callbacks", sa.Column("campaign_id", sa.Uuid(as_uuid=False), nullable=True))
    op.add_column("callbacks", sa.Column("run_date", sa.Date(), nullable=True))
    op.add_column("callbacks", sa.Column("calling_windows", sa.Text(), nullable=True))
    op.drop_constraint(op.f("ck_callbacks_reason"), "callbacks", type_="check")
    op.create_check_constraint("reason", "callbacks", f"reason IN ({_REASONS_BEFORE}, 'campaign')")
    op.create_check_constraint(
        "campaign_run",
        "callbacks",
        "(reason = 'campaign') = (campaign_id IS NOT NULL AND run_date IS NOT NULL)",
    )
    op.create_foreign_key(
        "fk_callbacks_campaign_id_campaign_runs",
        "callbacks",
        "campaign_runs",
        ["campaign_id", "run_date"],
        ["campaign_id", "run_date"],
        ondelete="RESTRICT",
    )
    op.create_index(
        "uq_callbacks_campaign_run_customer",
        "callbacks",
        ["campaign_id", "run_date", "customer_number"],
        unique=True,
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )


def downgrade() -> None:
    """Drop them; refused while campaign callbacks exist (0007 has no reason for them)."""
    kept = op.get_bind().execute(
        sa.text("SELECT count(*) FROM callbacks WHERE campaign_id IS NOT NULL")
    )
    if kept.scalar_one():
        raise RuntimeError(
            "callbacks of regular campaigns exist, which revision 0007 cannot hold: export "
            "and delete them (and their attempts) before downgrading"
        )
    op.drop_index("uq_callbacks_campaign_run_customer", table_name="callbacks")
    op.drop_constraint(
        op.f("fk_callbacks_campaign_id_campaign_runs"), "callbacks", type_="foreignkey"
    )
    op.drop_constraint(op.f("ck_callbacks_campaign_run"), "callbacks", type_="check")
    op.drop_constraint(op.f("ck_callbacks_reason"), "callbacks", type_="check")
    op.create_check_constraint("reason", "callbacks", f"reason IN ({_REASONS_BEFORE})")
    op.drop_column("callbacks", "calling_windows")
    op.drop_column("callbacks", "run_date")
    op.drop_column("callbacks", "campaign_id")
    op.drop_table("campaign_runs")
    op.drop_table("campaign_customers")
    op.drop_table("campaigns")
