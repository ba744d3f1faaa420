"""Reading stored products without fetching or charging (the console): one product by any id
the product API takes, and products found by a business id (operators' search)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from sqlalchemy import Connection, or_, select

from freshet import accounts
from freshet.accounts import Principal
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from freshet.products.lookup import tokens_left
from freshet.products.view import LookupOptions, answer
from freshet.settings import Settings
from store.tables import products

FULL = LookupOptions(offers_reviews=True)


def stored(
    conn: Connection, settings: Settings, principal: Principal, raw_id: str
) -> dict[str, Any] | None:
    """The product answer (offers, history, stats) from what is stored, or None if never
    fetched. Raises what the product API raises for a bad or inaccessible id; charges nothing
    and does not count as a read (a person looking is not what makes a product hot)."""
    ident = product_ids.parse(raw_id)
    row, _ = product_ids.resolve(conn, settings, principal, ident)
    if row is None or row.data is None:
        return None
    history, stats = product_store.history(conn, row.id)
    return answer(
        row,
        FULL,
        history=history,
        stats=stats,
        tokens_consumed=0,
        tokens_remaining=tokens_left(conn, principal),
        cached=True,
    )


def find(conn: Connection, q: str, principal: Principal | None, limit: int = 10) -> list[Any]:
    """Stored products whose ASIN, item id, UPC, EAN, GTIN, ISBN, MPN or URL is `q`; with a
    principal, only those in its catalogs (or in none)."""
    c = products.c
    cond = or_(*(c[k] == q for k in product_store.CODES), c.url == q, c.key == q)
    with contextlib.suppress(ValueError):
        cond = or_(cond, c.id == uuid.UUID(q))
    stmt = select(
        c.id,
        c.source,
        c.url,
        c.item_id,
        c.asin,
        c.catalog_id,
        c.data["title"].astext.label("title"),
    )
    rows = conn.execute(stmt.where(cond).order_by(c.updated_at.desc()).limit(limit)).all()
    if principal is None:
        return list(rows)
    granted = {
        int(g["id"]) for g in accounts.granted_catalogs(conn, principal.org_id, principal.plan)
    }
    return [r for r in rows if r.catalog_id is None or r.catalog_id in granted]
