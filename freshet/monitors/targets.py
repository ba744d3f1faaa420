"""A monitor's targets: the batch shapes resolved by the batch rules, and product ids
(`{"id": "<item id|UPC|EAN|GTIN|ASIN>"}`) turned into one of those shapes first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from freshet import accounts, batch
from freshet.accounts import Principal
from freshet.runtime import Runtime

_BY_CODE = text(
    "SELECT id FROM products WHERE url IS NOT NULL AND catalog_id = ANY(:cats) AND "
    "(item_id = :v OR upc = :v OR ean = :v OR gtin = :v OR asin = :v OR isbn = :v) "
    "ORDER BY updated_at DESC LIMIT 1"
)


def _by_id(conn: Connection, rt: Runtime, granted: list[int], raw: str) -> dict[str, str] | None:
    value = raw.strip()
    row = conn.execute(_BY_CODE, {"cats": granted, "v": value}).first()
    if row is not None:
        return {"uuid": str(row.id)}
    if value.isascii() and value.isdigit() and len(value) <= 20:
        # A Walmart item id needs no stored product: its page is under the walmart base URL,
        # and the batch rules then match it to the granted catalog that holds that domain.
        return {"url": f"{rt.settings.walmart_base_url.rstrip('/')}/ip/{value}"}
    return None


def resolve(rt: Runtime, principal: Principal, targets: list[dict[str, str]]) -> batch.Resolution:
    """Accepted (in the order sent, indexes into `targets`) and rejected, batch-style."""
    shaped: list[dict[str, str]] = []
    origin: list[int] = []
    unknown: list[tuple[int, dict[str, Any]]] = []
    with rt.engine.connect() as conn:
        granted = [
            int(c["id"]) for c in accounts.granted_catalogs(conn, principal.org_id, principal.plan)
        ]
        for i, t in enumerate(targets):
            if "id" not in t:
                shaped.append(t)
                origin.append(i)
                continue
            found = _by_id(conn, rt, granted, t["id"])
            if found is None:
                unknown.append((i, _rejection(t)))
            else:
                shaped.append(found)
                origin.append(i)
    res = batch.resolve_targets(rt, principal, shaped) if shaped else batch.Resolution()
    for a in res.accepted:
        a.index = origin[a.index]
    # echo what the caller sent, not the shape an id was turned into
    for r in res.rejected:
        for s, o in zip(shaped, origin, strict=True):
            if r["target"] == s and "id" in targets[o]:
                r["target"] = {"id": targets[o]["id"]}
                break
    res.rejected.extend(r for _, r in unknown)
    return res


def _rejection(t: dict[str, str]) -> dict[str, Any]:
    return {
        "target": {"id": t["id"]},
        "code": "product_not_found",
        "message": "No known product in your granted catalogs has this id; look it up once "
        "(GET /v1/products/{id}) or send its url with its catalog.",
    }
