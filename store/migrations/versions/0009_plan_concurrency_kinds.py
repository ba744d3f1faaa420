"""plans.concurrency_kinds: which job kinds a plan's concurrent_jobs limit counts

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "plans",
        sa.Column("concurrency_kinds", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default=sa.text("'{reviews}'")),
    )
    op.create_check_constraint(
        "concurrency_kinds", "plans", "concurrency_kinds <@ ARRAY['reviews', 'product']::text[]")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_plans_concurrency_kinds"), "plans", type_="check")
    op.drop_column("plans", "concurrency_kinds")
