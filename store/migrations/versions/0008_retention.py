"""data lifecycle: indexes that make pruning cost grow with what is old, and the thinning mark

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Finished jobs and workflows, oldest first: the retention pass reads only the old end.
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"],
                    postgresql_where=sa.text("status in ('completed', 'failed', 'cancelled')"))
    op.create_index("ix_workflows_finished", "workflows", ["finished_at"],
                    postgresql_where=sa.text("status <> 'running'"))
    # Idempotency keys by age (the primary key is (org_id, key): no help to "older than 24 h").
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])
    # Observations by time across products: thinning walks forward from its mark.
    op.create_index("ix_price_observations_time", "price_observations", ["observed_at", "id"])
    # How far each forward-walking pass has got; one row per pass, locked while it runs.
    op.create_table(
        "maintenance_marks",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("upto", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upto_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("maintenance_marks")
    op.drop_index("ix_price_observations_time", "price_observations")
    op.drop_index("ix_idempotency_keys_created", "idempotency_keys")
    op.drop_index("ix_workflows_finished", "workflows")
    op.drop_index("ix_jobs_finished", "jobs")
