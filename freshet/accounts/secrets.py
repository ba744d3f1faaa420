"""Each organization's webhook signing secret: created with the organization, shown once,
sealed at rest, rotated with a 24-hour overlap during which the previous one still signs.

Storage. A secret must be usable to compute HMACs, so it cannot be hashed like an API key.
It is sealed with Fernet (AES-128-CBC + HMAC-SHA256) under the first of FRESHET_SECRETS_KEYS
("fernet:<token>"); every listed key can open it, so the key itself can be rotated. Without
keys configured it is stored plainly ("plain:<secret>"), and whoever can read the
organizations table can sign as any tenant: set FRESHET_SECRETS_KEYS in production.
"""

from __future__ import annotations

import datetime as dt
import secrets as stdlib_secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, text

SECRET_PREFIX = "whsec_"  # noqa: S105 - a display prefix, not a secret
OVERLAP = dt.timedelta(hours=24)


class SecretUnreadable(RuntimeError):
    """A sealed secret that none of the configured keys opens."""


def new_secret() -> str:
    return SECRET_PREFIX + stdlib_secrets.token_urlsafe(32)


def seal(keys: Sequence[str], secret: str) -> str:
    if not keys:
        return "plain:" + secret
    return "fernet:" + Fernet(keys[0].encode()).encrypt(secret.encode()).decode()


def unseal(keys: Sequence[str], stored: str) -> str:
    kind, _, value = stored.partition(":")
    if kind == "plain":
        return value
    if kind == "fernet" and keys:
        try:
            return MultiFernet([Fernet(k.encode()) for k in keys]).decrypt(value.encode()).decode()
        except InvalidToken:
            pass
    raise SecretUnreadable(
        "an organization's webhook secret is sealed with a key not in FRESHET_SECRETS_KEYS"
    )


def set_initial(conn: Connection, org_id: int, keys: Sequence[str]) -> str:
    """Give a new organization its secret; returns it in clear (to be shown once)."""
    secret = new_secret()
    conn.execute(
        text("UPDATE organizations SET webhook_secret = :s WHERE id = :o"),
        {"s": seal(keys, secret), "o": org_id},
    )
    return secret


def rotate_webhook_secret(
    conn: Connection, org_id: int, keys: Sequence[str]
) -> tuple[str, dt.datetime | None]:
    """A new current secret; the one it replaces keeps signing for 24 h (a second rotation
    inside that window drops the oldest). Returns (the new secret in clear, until when the
    previous one is still sent)."""
    secret = new_secret()
    row = conn.execute(
        text(
            "UPDATE organizations SET webhook_secret_previous = webhook_secret, "
            "webhook_secret_previous_until = CASE WHEN webhook_secret IS NULL THEN NULL "
            "  ELSE now() + make_interval(secs => :overlap) END, "
            "webhook_secret = :s, webhook_secret_rotated_at = now() WHERE id = :o "
            "RETURNING webhook_secret_previous_until"
        ),
        {"s": seal(keys, secret), "o": org_id, "overlap": OVERLAP.total_seconds()},
    ).first()
    if row is None:
        raise LookupError(f"organization {org_id} does not exist")
    return secret, row[0]


def signing_secrets(conn: Connection, org_id: int, keys: Sequence[str]) -> list[str]:
    """The secrets a delivery is signed with now: the current one first, then the previous
    one while it overlaps. An organization without a secret (a row written around
    `create_org`) gets one here: a delivery is never sent unsigned."""
    row = conn.execute(
        text(
            "SELECT webhook_secret, CASE WHEN webhook_secret_previous_until > now() "
            "THEN webhook_secret_previous END AS previous FROM organizations WHERE id = :o"
        ),
        {"o": org_id},
    ).first()
    if row is None:
        raise LookupError(f"organization {org_id} does not exist")
    if row.webhook_secret is None:
        conn.execute(
            text(
                "UPDATE organizations SET webhook_secret = :s WHERE id = :o "
                "AND webhook_secret IS NULL"
            ),
            {"s": seal(keys, new_secret()), "o": org_id},
        )
        return signing_secrets(conn, org_id, keys)
    out = [unseal(keys, row.webhook_secret)]
    if row.previous:
        out.append(unseal(keys, row.previous))
    return out
