"""Stored products: writing a fetched record with its price observation, reading a product
with its 30-day history and stats, and counting reads (what makes a product hot)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, and_, case, func, text, update
from sqlalchemy.dialects.postgresql import insert

from freshet.products.ids import Target, by_id
from sources.record import ProductRecord
from store.tables import price_observations, products

HISTORY_DAYS = 30
HISTORY_MAX_POINTS = 1000  # newest first; stats still cover every observation
CODES = ("item_id", "upc", "ean", "gtin", "isbn", "asin", "mpn", "model")


def store_record(
    conn: Connection, target: Target, record: ProductRecord, job_id: int | None
) -> uuid.UUID:
    """Upsert the product (every field class fresh now) and record its price, once per job."""
    data = record.to_dict()
    codes = {c: getattr(record, c) for c in CODES}
    if target.source == "walmart" and target.catalog_id is None:
        codes["item_id"] = codes["item_id"] or target.key
    now = func.now()
    values = dict(
        source=target.source,
        key=target.key,
        catalog_id=target.catalog_id,
        url=record.url or target.url,
        data=data,
        fetched_at=now,
        price_fetched_at=now,
        offers_fetched_at=now,
        reviews_fetched_at=now,
        static_fetched_at=now,
        updated_at=now,
        **codes,
    )
    stmt = insert(products).values(id=uuid.uuid4(), **values)
    keep = ("source", "key")
    set_: dict[str, Any] = {k: stmt.excluded[k] for k in values if k not in keep}
    # A product's catalog membership is stable: the first catalog that stored it keeps it,
    # and a catalog-free write (a Walmart item id lookup of the same item) keeps the
    # catalog's page URL, so uuid and UPC lookups and {uuid} batch targets never flicker.
    set_["catalog_id"] = func.coalesce(products.c.catalog_id, stmt.excluded.catalog_id)
    set_["url"] = case(
        (
            and_(products.c.catalog_id.is_not(None), stmt.excluded.catalog_id.is_(None)),
            func.coalesce(products.c.url, stmt.excluded.url),
        ),
        else_=stmt.excluded.url,
    )
    product_id: uuid.UUID = conn.execute(
        stmt.on_conflict_do_update(constraint="uq_products_source_key", set_=set_).returning(
            products.c.id
        )
    ).scalar_one()
    if record.current_price is not None and record.current_price >= 0:
        obs = insert(price_observations).values(
            product_id=product_id,
            price=round(record.current_price, 2),
            in_stock=record.in_stock,
            job_id=job_id,
        )
        conn.execute(
            obs.on_conflict_do_nothing(index_elements=["job_id"]) if job_id is not None else obs
        )
    return product_id


def load(conn: Connection, product_id: Any) -> Any | None:
    return by_id(conn, product_id)


def mark_read(conn: Connection, product_id: Any) -> None:
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(reads=products.c.reads + 1, last_read_at=func.now())
    )


# One product's history over the stats window: the newest HISTORY_MAX_POINTS observations
# (as arrays, oldest first) and low/high/avg over every observation of the window.
_HISTORY_CTES = """
obs AS (
  SELECT observed_at, price, id FROM price_observations
  WHERE product_id = :pid AND observed_at > now() - make_interval(days => :days)),
last AS (SELECT observed_at, price, id FROM obs ORDER BY observed_at DESC, id DESC LIMIT :n)"""
_HISTORY_COLUMNS = """
       (SELECT array_agg(observed_at ORDER BY observed_at, id) FROM last) AS at,
       (SELECT array_agg(price ORDER BY observed_at, id) FROM last) AS prices,
       (SELECT min(price) FROM obs) AS low,
       (SELECT max(price) FROM obs) AS high,
       (SELECT round(avg(price), 2) FROM obs) AS avg"""

# A cached answer's whole write and read in one statement, compiled once: take the month's
# tokens (conditionally), write the ledger charge, count the read — each only if the take
# succeeded — and read the product's history back. `used` is NULL when the tokens do not
# suffice or the month has no row yet; then nothing at all was written.
_CHARGE_CTES = """
upd AS (
  UPDATE usage_periods SET tokens_used = tokens_used + :cost
  WHERE org_id = :org AND period = :period AND tokens_used + :cost <= :limit
  RETURNING tokens_used),
led AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT :org, :period, NULL, :rid, 'tokens', 'charge', :cost FROM upd),
rd AS (
  UPDATE products SET reads = reads + 1, last_read_at = now()
  WHERE id = :pid AND EXISTS (SELECT 1 FROM upd)),"""
# Constant pieces only (no value is ever formatted into them), so S608 does not apply.
_USED = "\nSELECT (SELECT tokens_used FROM upd) AS used,"
CHARGE_AND_READ = text("WITH" + _CHARGE_CTES + _HISTORY_CTES + _USED + _HISTORY_COLUMNS)
READ = text("WITH" + _HISTORY_CTES + "\nSELECT" + _HISTORY_COLUMNS)


def charge_and_read(
    conn: Connection,
    *,
    org_id: int,
    period: dt.date,
    cost: int,
    limit: int,
    request_id: str,
    product_id: Any,
) -> tuple[int | None, list[dict[str, Any]], dict[str, Any]]:
    """(the month's token use after the charge, or None: nothing written; history; stats)."""
    row = conn.execute(
        CHARGE_AND_READ,
        {
            "org": org_id,
            "period": period,
            "cost": cost,
            "limit": limit,
            "rid": request_id,
            "pid": product_id,
            "days": HISTORY_DAYS,
            "n": HISTORY_MAX_POINTS,
        },
    ).one()
    points, stats = _history_of(row)
    return (None if row.used is None else int(row.used)), points, stats


def history(conn: Connection, product_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every observation of the last 30 days, oldest first; low/high/avg over all of them)."""
    row = conn.execute(
        READ, {"pid": product_id, "days": HISTORY_DAYS, "n": HISTORY_MAX_POINTS}
    ).one()
    return _history_of(row)


def _history_of(row: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    points = [
        {
            "date": at.date().isoformat(),
            "observed_at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "price": float(price),
        }
        for at, price in zip(row.at or (), row.prices or (), strict=True)
    ]
    stats = {
        "low_30d": _num(row.low),
        "high_30d": _num(row.high),
        "avg_30d": _num(row.avg),
    }
    return points, stats


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None
