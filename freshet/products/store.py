"""Stored products: writing a fetched record with its price observation, reading a product
with its 30-day history and stats, and counting reads (what makes a product hot)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import Connection, func, text, update

from freshet.products.ids import Target, by_id
from sources.record import ProductRecord
from store.tables import products

HISTORY_DAYS = 30
HISTORY_MAX_POINTS = 1000  # newest first; stats still cover every observation
CODES = ("item_id", "upc", "ean", "gtin", "isbn", "asin", "mpn", "model")


# A fetched record's whole write, built once: the product upserted (every field class fresh
# now) and its price observed, once per job. `{source}` is where the one row comes from: no
# FROM for a plain write; FROM me (a job's locked row) inside a job's completion, so nothing
# is written when the job's fence refuses.
_RECORD = """
stored AS (
  INSERT INTO products AS pr (id, source, key, catalog_id, url, data, fetched_at,
    price_fetched_at, offers_fetched_at, reviews_fetched_at, static_fetched_at, updated_at,
    item_id, upc, ean, gtin, isbn, asin, mpn, model)
  SELECT CAST(:new_id AS uuid), :source, :key, CAST(:catalog_id AS bigint), :url,
    CAST(:data AS jsonb), now(), now(), now(), now(), now(), now(),
    :item_id, :upc, :ean, :gtin, :isbn, :asin, :mpn, :model{source}
  ON CONFLICT ON CONSTRAINT uq_products_source_key DO UPDATE SET
    -- A product's catalog membership is stable: the first catalog that stored it keeps it,
    -- and a catalog-free write (a Walmart item id lookup of the same item) keeps the
    -- catalog's page URL, so uuid and UPC lookups and {{uuid}} batch targets never flicker.
    catalog_id = coalesce(pr.catalog_id, EXCLUDED.catalog_id),
    url = CASE WHEN pr.catalog_id IS NOT NULL AND EXCLUDED.catalog_id IS NULL
          THEN coalesce(pr.url, EXCLUDED.url) ELSE EXCLUDED.url END,
    data = EXCLUDED.data, fetched_at = EXCLUDED.fetched_at,
    price_fetched_at = EXCLUDED.price_fetched_at, offers_fetched_at = EXCLUDED.offers_fetched_at,
    reviews_fetched_at = EXCLUDED.reviews_fetched_at,
    static_fetched_at = EXCLUDED.static_fetched_at, updated_at = EXCLUDED.updated_at,
    item_id = EXCLUDED.item_id, upc = EXCLUDED.upc, ean = EXCLUDED.ean, gtin = EXCLUDED.gtin,
    isbn = EXCLUDED.isbn, asin = EXCLUDED.asin, mpn = EXCLUDED.mpn, model = EXCLUDED.model
  RETURNING pr.id),
observed AS (
  INSERT INTO price_observations (product_id, price, in_stock, job_id)
  SELECT stored.id, CAST(:price AS numeric), CAST(:in_stock AS boolean), CAST(:job AS bigint)
  FROM stored WHERE CAST(:price AS numeric) IS NOT NULL
  ON CONFLICT (job_id) DO NOTHING)"""
# Inside a job's completion (freshet.jobs.completion): the product's id is `stored.id`.
RECORD_CTES = _RECORD.format(source=" FROM me")
_STORE_RECORD = text("WITH" + _RECORD.format(source="") + "\nSELECT id FROM stored")


def record_params(target: Target, record: ProductRecord, job_id: int | None) -> dict[str, Any]:
    """The parameters of the record's write (`RECORD_CTES`), the job's id included."""
    codes = {c: getattr(record, c) for c in CODES}
    if target.source == "walmart" and target.catalog_id is None:
        codes["item_id"] = codes["item_id"] or target.key
    price = record.current_price
    return {
        "new_id": uuid.uuid4(),
        "source": target.source,
        "key": target.key,
        "catalog_id": target.catalog_id,
        "url": record.url or target.url,
        "data": json.dumps(record.to_dict()),
        "price": round(price, 2) if price is not None and price >= 0 else None,
        "in_stock": record.in_stock,
        "job": job_id,
        **codes,
    }


def store_record(
    conn: Connection, target: Target, record: ProductRecord, job_id: int | None
) -> uuid.UUID:
    """Upsert the product (every field class fresh now) and record its price, once per job."""
    product_id: uuid.UUID = conn.execute(
        _STORE_RECORD, record_params(target, record, job_id)
    ).scalar_one()
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
