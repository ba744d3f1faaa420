"""webhook secrets per organization: the current secret, and the previous one while it overlaps

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Existing organizations get a fresh secret here. It is sealed the way the application seals it
(freshet.accounts.secrets): Fernet with the first key of FRESHET_SECRETS_KEYS when that is set
in the environment that runs the migration, otherwise stored plainly ("plain:" prefix).
An operator reads a backfilled secret once with `freshet org rotate-webhook-secret NAME`.
"""
import os
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _seal(secret: str) -> str:
    keys = [k.strip() for k in os.environ.get("FRESHET_SECRETS_KEYS", "").split(",") if k.strip()]
    if not keys:
        return "plain:" + secret
    from cryptography.fernet import Fernet

    return "fernet:" + Fernet(keys[0].encode()).encrypt(secret.encode()).decode()


def upgrade() -> None:
    op.add_column("organizations", sa.Column("webhook_secret", sa.Text()))
    op.add_column("organizations", sa.Column("webhook_secret_previous", sa.Text()))
    op.add_column("organizations",
                  sa.Column("webhook_secret_previous_until", sa.DateTime(timezone=True)))
    op.add_column("organizations",
                  sa.Column("webhook_secret_rotated_at", sa.DateTime(timezone=True)))
    conn = op.get_bind()
    for (org_id,) in conn.execute(sa.text("SELECT id FROM organizations")).all():
        conn.execute(
            sa.text("UPDATE organizations SET webhook_secret = :s WHERE id = :o"),
            {"s": _seal("whsec_" + secrets.token_urlsafe(32)), "o": org_id},
        )


def downgrade() -> None:
    for col in ("webhook_secret_rotated_at", "webhook_secret_previous_until",
                "webhook_secret_previous", "webhook_secret"):
        op.drop_column("organizations", col)
