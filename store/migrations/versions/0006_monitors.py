"""monitors: products kept fresh on a schedule, their observations, events and deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("price_threshold", sa.Numeric(14, 2)),
        sa.Column("callback_url", sa.Text()),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("paused_reason", sa.Text()),
        sa.Column("target_count", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("interval_seconds BETWEEN 300 AND 604800", name="interval"),
    )
    # The beat pass reads only what is due: cost grows with what is due, not what exists.
    op.create_index("ix_monitors_due", "monitors", ["next_run_at"],
                    postgresql_where=sa.text("NOT paused"))
    op.create_index("ix_monitors_org_created", "monitors", ["org_id", "created_at"])
    op.create_table(
        "monitor_targets",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("monitor_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("catalog_id", sa.BigInteger(), sa.ForeignKey("catalogs.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True)),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("last_observation_id", sa.BigInteger()),
        sa.Column("last_job_id", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("monitor_id", "position", name="uq_monitor_targets_position"),
    )
    op.create_table(
        "monitor_observations",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("target_id", sa.BigInteger(),
                  sa.ForeignKey("monitor_targets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("price", sa.Numeric(14, 2)),
        sa.Column("currency", sa.Text()),
        sa.Column("in_stock", sa.Boolean()),
        sa.Column("rating", sa.Float()),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_monitor_observations_time", "monitor_observations", ["observed_at"])
    op.create_table(
        "monitor_events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("monitor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("target_id", sa.BigInteger()),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True)),
        sa.Column("previous_observation_id", sa.BigInteger()),
        sa.Column("observation_id", sa.BigInteger()),
        sa.Column("previous", postgresql.JSONB()),
        sa.Column("current", postgresql.JSONB()),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    # One change (a pair of consecutive observations) is one event of each type, ever.
    op.create_index("uq_monitor_events_change", "monitor_events",
                    ["previous_observation_id", "observation_id", "type"], unique=True,
                    postgresql_where=sa.text("observation_id IS NOT NULL"))
    op.create_index("ix_monitor_events_org", "monitor_events", ["org_id", "id"])
    op.create_index("ix_monitor_events_time", "monitor_events", ["occurred_at"])
    op.create_table(
        "monitor_deliveries",
        sa.Column("event_id", sa.BigInteger(),
                  sa.ForeignKey("monitor_events.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("monitor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("error", sa.Text()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status in ('pending', 'sending', 'delivered', 'failed')",
                           name="status"),
    )
    op.create_index("ix_monitor_deliveries_due", "monitor_deliveries", ["next_at"],
                    postgresql_where=sa.text("status in ('pending', 'sending')"))
    op.create_index("ix_monitor_deliveries_monitor", "monitor_deliveries", ["monitor_id"])


def downgrade() -> None:
    for t in ("monitor_deliveries", "monitor_events", "monitor_observations",
              "monitor_targets", "monitors"):
        op.drop_table(t)
