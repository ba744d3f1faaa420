"""seed plans

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PLANS = [
    # name, tokens/month, review jobs/month, concurrent, cooldown s, req/min, force/min, markets
    ("free", 2000, 50, 2, 86400, 60, 100, ["amazon.de"]),
    ("pro", 50000, 2000, 10, 3600, 600, 100,
     ["amazon.de", "amazon.com", "amazon.co.uk", "amazon.fr", "amazon.it", "amazon.es"]),
    ("business", 500000, 20000, 50, 900, 3000, 100,
     ["amazon.de", "amazon.com", "amazon.co.uk", "amazon.fr", "amazon.it", "amazon.es",
      "amazon.nl", "amazon.pl", "amazon.se", "amazon.ca", "amazon.co.jp", "amazon.in"]),
]


def upgrade() -> None:
    plans = sa.table(
        "plans",
        sa.column("name", sa.Text), sa.column("monthly_tokens", sa.Integer),
        sa.column("review_jobs_per_month", sa.Integer), sa.column("concurrent_jobs", sa.Integer),
        sa.column("asin_cooldown_seconds", sa.Integer), sa.column("requests_per_minute", sa.Integer),
        sa.column("force_refresh_per_minute", sa.Integer),
        sa.column("marketplaces", sa.dialects.postgresql.ARRAY(sa.Text)),
    )
    op.bulk_insert(plans, [
        dict(name=n, monthly_tokens=t, review_jobs_per_month=r, concurrent_jobs=c,
             asin_cooldown_seconds=cd, requests_per_minute=rpm, force_refresh_per_minute=f,
             marketplaces=m)
        for n, t, r, c, cd, rpm, f, m in PLANS
    ])


def downgrade() -> None:
    op.execute("DELETE FROM plans WHERE name IN ('free', 'pro', 'business')")
