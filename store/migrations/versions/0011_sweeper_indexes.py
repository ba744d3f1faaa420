"""a sweeper pass independent of history: the settled marker and the recent-reviews index

- ledger.settled_at: set on a job's `reserve` rows by the statement that writes their charge
  or refund; ix_ledger_unsettled holds only the reservations still open, so the sweeper's
  "ended but never settled" check reads those, not the whole ledger.
- ix_jobs_reviews_created: review jobs by age, so the cooldown restore reads only the last
  cooldown's worth of them instead of every job.

The backfill marks every reservation that already has its settlement (once, on upgrade).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("settled_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE ledger r SET settled_at = s.created_at FROM ledger s "
        "WHERE r.kind = 'reserve' AND s.job_id = r.job_id AND s.resource = r.resource "
        "AND s.kind <> 'reserve'"
    )
    op.create_index("ix_ledger_unsettled", "ledger", ["job_id"],
                    postgresql_where=sa.text("kind = 'reserve' AND settled_at IS NULL"))
    op.create_index("ix_jobs_reviews_created", "jobs", ["created_at"],
                    postgresql_where=sa.text("kind = 'reviews'"))


def downgrade() -> None:
    op.drop_index("ix_jobs_reviews_created", table_name="jobs")
    op.drop_index("ix_ledger_unsettled", table_name="ledger")
    op.drop_column("ledger", "settled_at")
