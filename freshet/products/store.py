"""Stored products: writing a fetched record with its price observation, reading a product
with its 30-day history and stats, and counting reads (what makes a product hot)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, func, text, update

from freshet.products.ids import Target, by_id
from sources.record import ProductRecord
from store.db import fetch_prepared
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
# succeeded — and read the product's history back. The read count is what makes a product
# hot (products.worker.refresh_hot), nothing more: a hot product's read is marked at most
# once a second, and never waits for the row (SKIP LOCKED: a reader or a worker storing it
# holds it), so readers do not queue on a hot row, nor deadlock with a worker that locks
# the product before the organization's month. `used` is NULL when the tokens do not
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
  WHERE id = (
    SELECT id FROM products
    WHERE id = :pid AND EXISTS (SELECT 1 FROM upd)
      AND (reads < :hot OR last_read_at < now() - interval '1 second')
    FOR UPDATE SKIP LOCKED)),"""
# Constant pieces only (no value is ever formatted into them), so S608 does not apply.
_USED = ",\n       (SELECT tokens_used FROM upd) AS used"  # last: the writes after the reads
CHARGE_AND_READ = text(
    "WITH" + _CHARGE_CTES + _HISTORY_CTES + "\nSELECT" + _HISTORY_COLUMNS + _USED
)
READ = text("WITH" + _HISTORY_CTES + "\nSELECT" + _HISTORY_COLUMNS)


# The cached answer of an item-id lookup, whole, in one statement (psycopg placeholders,
# prepared once per connection): find the product by its key, decide in the database whether
# every field class the answer reads is fresh enough (`fresh`), and only then take the
# tokens, write the ledger charge, count the read and read the history back. The product's
# columns come back either way (NULL when unknown): a stale one is what the refresh starts
# from. `used` is NULL when nothing was charged (stale, out of tokens, no month row yet).
# The writes come last (`used` ends the select list; the other writes run when the query
# is done): the history is read before the org's month row and the product row are locked,
# so one organization's concurrent reads hold those row locks only for the writes.
CACHED_BY_KEY = """WITH
p AS (
  SELECT id, source, key, url, catalog_id, item_id, data, fetched_at,
         extract(epoch FROM now() - price_fetched_at) AS price_age,
         extract(epoch FROM now() - offers_fetched_at) AS offers_age,
         extract(epoch FROM now() - reviews_fetched_at) AS reviews_age,
         extract(epoch FROM now() - static_fetched_at) AS static_age
  FROM products WHERE source = %(source)s AND key = %(key)s),
ok AS (
  SELECT id FROM p
  WHERE data IS NOT NULL AND price_age <= %(price_limit)s AND static_age <= %(static_limit)s
    AND (NOT %(full)s OR (offers_age <= %(offers_limit)s AND reviews_age <= %(reviews_limit)s))),
upd AS (
  UPDATE usage_periods SET tokens_used = tokens_used + %(cost)s
  WHERE org_id = %(org)s AND period = %(period)s AND tokens_used + %(cost)s <= %(limit)s
    AND EXISTS (SELECT 1 FROM ok)
  RETURNING tokens_used),
led AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT %(org)s, %(period)s, NULL, %(rid)s, 'tokens', 'charge', %(cost)s FROM upd),
rd AS (
  UPDATE products SET reads = reads + 1, last_read_at = now()
  WHERE id = (
    SELECT id FROM products
    WHERE id = (SELECT id FROM ok) AND EXISTS (SELECT 1 FROM upd)
      AND (reads < %(hot)s OR last_read_at < now() - interval '1 second')
    FOR UPDATE SKIP LOCKED)),
obs AS (
  SELECT observed_at, price, id FROM price_observations
  WHERE product_id = (SELECT id FROM ok)
    AND observed_at > now() - make_interval(days => %(days)s)),
last AS (SELECT observed_at, price, id FROM obs ORDER BY observed_at DESC, id DESC LIMIT %(n)s)
SELECT p.*, EXISTS (SELECT 1 FROM ok) AS fresh,
       (SELECT array_agg(observed_at ORDER BY observed_at, id) FROM last) AS at,
       (SELECT array_agg(price ORDER BY observed_at, id) FROM last) AS prices,
       (SELECT min(price) FROM obs) AS low,
       (SELECT max(price) FROM obs) AS high,
       (SELECT round(avg(price), 2) FROM obs) AS avg,
       (SELECT tokens_used FROM upd) AS used
FROM (VALUES (1)) AS one (x) LEFT JOIN p ON true"""


# A product job's answer once it has run, in one statement: the job's state, its product with
# the 30-day history (when it completed), the read counted as CACHED_BY_KEY counts it, and
# the organization's tokens used this month.
JOB_ANSWER = """WITH
j AS (
  SELECT id AS job_id, status AS job_status, tokens_reserved, error, error_code, product_id,
         leader_job_id
  FROM jobs WHERE id = %(job)s),
p AS (
  SELECT id, source, key, url, catalog_id, item_id, data, fetched_at FROM products
  WHERE id = (SELECT product_id FROM j) AND (SELECT job_status FROM j) = 'completed'),
rd AS (
  UPDATE products SET reads = reads + 1, last_read_at = now()
  WHERE id = (
    SELECT id FROM products
    WHERE id = (SELECT id FROM p)
      AND (reads < %(hot)s OR last_read_at < now() - interval '1 second')
    FOR UPDATE SKIP LOCKED)),
obs AS (
  SELECT observed_at, price, id FROM price_observations
  WHERE product_id = (SELECT id FROM p)
    AND observed_at > now() - make_interval(days => %(days)s)),
last AS (SELECT observed_at, price, id FROM obs ORDER BY observed_at DESC, id DESC LIMIT %(n)s)
SELECT j.job_id, j.job_status, j.tokens_reserved, j.error, j.error_code, j.leader_job_id, p.*,
       (SELECT array_agg(observed_at ORDER BY observed_at, id) FROM last) AS at,
       (SELECT array_agg(price ORDER BY observed_at, id) FROM last) AS prices,
       (SELECT min(price) FROM obs) AS low,
       (SELECT max(price) FROM obs) AS high,
       (SELECT round(avg(price), 2) FROM obs) AS avg,
       (SELECT tokens_used FROM usage_periods WHERE org_id = %(org)s AND period = %(period)s)
         AS used
FROM j LEFT JOIN p ON true"""


# A product job's submission, one statement: the month's tokens taken (conditionally), the
# job written with its reservation — each only if the take succeeded — and the month's use
# after it. `id` and `used` are NULL when the tokens do not suffice or the month has no row
# yet; then nothing at all was written. The job's product is the one given, else the one
# stored under the target's source and key (a forced refresh looks nothing up before it).
# The job is written as published (`dispatched_at`):
# the publish follows the commit, and a failed one clears it (jobs.publish_after_commit).
SUBMIT = """
WITH upd AS (
  UPDATE usage_periods SET tokens_used = tokens_used + %(cost)s
  WHERE org_id = %(org)s AND period = %(period)s AND tokens_used + %(cost)s <= %(limit)s
  RETURNING tokens_used),
job AS (
  INSERT INTO jobs (kind, queue, org_id, max_attempts, request_id, product_id, url,
                    catalog_id, tokens_reserved, params, dispatched_at)
  SELECT 'product', CAST(%(queue)s AS text), CAST(%(org)s AS bigint),
         CAST(%(max_attempts)s AS integer), CAST(%(rid)s AS text),
         coalesce(CAST(%(product_id)s AS uuid), (SELECT id FROM products
           WHERE source = CAST(%(source)s AS text) AND key = CAST(%(key)s AS text))),
         CAST(%(url)s AS text), CAST(%(catalog_id)s AS bigint),
         CAST(%(cost)s AS integer), CAST(%(params)s AS jsonb), now() FROM upd
  RETURNING id),
led AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT CAST(%(org)s AS bigint), CAST(%(period)s AS date), id, CAST(%(rid)s AS text),
         'tokens', 'reserve', CAST(%(cost)s AS integer) FROM job)
SELECT (SELECT id FROM job) AS id, (SELECT tokens_used FROM upd) AS used"""


def job_answer(
    engine: Engine, *, job_id: int, org_id: int, period: dt.date, hot_reads: int
) -> Any | None:
    """The row of JOB_ANSWER (None: no such job): job_status, tokens_reserved, error,
    error_code, leader_job_id, the product's columns (`id` None unless completed), history, `used`."""
    return fetch_prepared(
        engine,
        JOB_ANSWER,
        {
            "job": job_id,
            "org": org_id,
            "period": period,
            "hot": hot_reads,
            "days": HISTORY_DAYS,
            "n": HISTORY_MAX_POINTS,
        },
    )


def cached_by_key(
    engine: Engine,
    *,
    source: str,
    key: str,
    limits: dict[str, float],
    full: bool,
    org_id: int,
    period: dt.date,
    cost: int,
    limit: int,
    request_id: str,
    hot_reads: int,
) -> Any:
    """The row of CACHED_BY_KEY: the product's columns (`id` None when unknown), `fresh`,
    `used` and the history columns. `limits` holds each field class's maximum age in
    seconds (price, static, offers, reviews); a negative one means "never fresh" (forced)."""
    return fetch_prepared(
        engine,
        CACHED_BY_KEY,
        {
            "source": source,
            "key": key,
            "price_limit": limits["price"],
            "static_limit": limits["static"],
            "offers_limit": limits["offers"],
            "reviews_limit": limits["reviews"],
            "full": full,
            "org": org_id,
            "period": period,
            "cost": cost,
            "limit": limit,
            "rid": request_id,
            "hot": hot_reads,
            "days": HISTORY_DAYS,
            "n": HISTORY_MAX_POINTS,
        },
    )


def charge_and_read(
    conn: Connection,
    *,
    org_id: int,
    period: dt.date,
    cost: int,
    limit: int,
    request_id: str,
    product_id: Any,
    hot_reads: int,
) -> Any:
    """The row of CHARGE_AND_READ: `used`, the month's token use after the charge (None:
    nothing written), and the history columns (history_of)."""
    return conn.execute(
        CHARGE_AND_READ,
        {
            "org": org_id,
            "period": period,
            "cost": cost,
            "limit": limit,
            "rid": request_id,
            "pid": product_id,
            "hot": hot_reads,
            "days": HISTORY_DAYS,
            "n": HISTORY_MAX_POINTS,
        },
    ).one()


def history(conn: Connection, product_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every observation of the last 30 days, oldest first; low/high/avg over all of them)."""
    row = conn.execute(
        READ, {"pid": product_id, "days": HISTORY_DAYS, "n": HISTORY_MAX_POINTS}
    ).one()
    return history_of(row)


def history_of(row: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(points, stats) of a row carrying the history columns (at, prices, low, high, avg)."""
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
