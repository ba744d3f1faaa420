"""many tenants on one fleet: fair-share weights, the dispatcher's index, hot-product jobs

- plans.fair_share_weight: an organization's share of the batch window, relative to others'.
- ix_jobs_fair_waiting: the queued jobs no one has published yet, by organization, in order
  (what the fair-share dispatcher reads each pass).
- jobs.org_id nullable: hot-product refreshes are jobs charged to nobody.
- products.hot_failures / hot_retry_at: a hot product whose refresh failed is backed off.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("fair_share_weight", sa.Float(), nullable=False,
                                     server_default=sa.text("1")))
    op.create_check_constraint("fair_share_weight", "plans", "fair_share_weight > 0")
    op.create_index(
        "ix_jobs_fair_waiting", "jobs", ["org_id", "id"],
        postgresql_where=sa.text("status = 'queued' AND dispatched_at IS NULL"))
    op.alter_column("jobs", "org_id", nullable=True)
    op.add_column("products", sa.Column("hot_failures", sa.Integer(), nullable=False,
                                        server_default=sa.text("0")))
    op.add_column("products", sa.Column("hot_retry_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("products", "hot_retry_at")
    op.drop_column("products", "hot_failures")
    op.execute("DELETE FROM jobs WHERE org_id IS NULL")
    op.alter_column("jobs", "org_id", nullable=False)
    op.drop_index("ix_jobs_fair_waiting", table_name="jobs")
    op.drop_constraint("ck_plans_fair_share_weight", "plans", type_="check")
    op.drop_column("plans", "fair_share_weight")
