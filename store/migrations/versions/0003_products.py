"""products schema additions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The hot-product pass selects recently read products; without this it scans them all.
    op.create_index("ix_products_last_read_at", "products", ["last_read_at"], unique=False,
                    postgresql_where=sa.text("last_read_at IS NOT NULL"))
    # History and stats average every observation; a negative price would poison them.
    op.create_check_constraint(op.f("ck_price_observations_price_nonneg"), "price_observations",
                               "price >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_price_observations_price_nonneg"), "price_observations", type_="check")
    op.drop_index("ix_products_last_read_at", table_name="products",
                  postgresql_where=sa.text("last_read_at IS NOT NULL"))
