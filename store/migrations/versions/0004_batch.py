"""batch schema additions: workflow bookkeeping columns, state checks and sweeper indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workflows", sa.Column("rejected", postgresql.JSONB(), nullable=False,
                                         server_default=sa.text("'[]'::jsonb")))
    op.add_column("workflows", sa.Column("launched_at", sa.DateTime(timezone=True)))
    op.add_column("workflows", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("workflows", sa.Column("webhook_next_at", sa.DateTime(timezone=True)))
    op.add_column("workflows", sa.Column("webhook_error", sa.Text()))
    op.create_check_constraint(
        "status", "workflows",
        "status in ('running', 'completed', 'failed', 'partially_failed', 'cancelled')")
    op.create_check_constraint(
        "launch_status", "workflows",
        "launch_status in ('pending', 'launching', 'launched', 'retry_pending')")
    op.create_check_constraint(
        "webhook_status", "workflows",
        "webhook_status is null or webhook_status in ('pending', 'sending', 'delivered', 'failed')")
    op.create_index("ix_workflows_unlaunched", "workflows", ["updated_at"],
                    postgresql_where=sa.text("launch_status <> 'launched'"))
    op.create_index("ix_workflows_running", "workflows", ["created_at"],
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("ix_workflows_webhook_due", "workflows", ["webhook_next_at"],
                    postgresql_where=sa.text("webhook_status in ('pending', 'sending')"))
    op.create_index("ix_jobs_workflow_open", "jobs", ["workflow_id"],
                    postgresql_where=sa.text(
                        "workflow_id IS NOT NULL AND status in ('queued', 'running')"))


def downgrade() -> None:
    op.drop_index("ix_jobs_workflow_open", table_name="jobs")
    op.drop_index("ix_workflows_webhook_due", table_name="workflows")
    op.drop_index("ix_workflows_running", table_name="workflows")
    op.drop_index("ix_workflows_unlaunched", table_name="workflows")
    op.drop_constraint(op.f("ck_workflows_webhook_status"), "workflows", type_="check")
    op.drop_constraint(op.f("ck_workflows_launch_status"), "workflows", type_="check")
    op.drop_constraint(op.f("ck_workflows_status"), "workflows", type_="check")
    for col in ("webhook_error", "webhook_next_at", "cancelled_at", "launched_at", "rejected"):
        op.drop_column("workflows", col)
