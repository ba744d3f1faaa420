"""Stored products: writing a fetched record with its price observation, reading a product
with its 30-day history and stats, and counting reads (what makes a product hot)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert

from freshet.products.ids import Target, product_columns
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
    return conn.execute(select(*product_columns()).where(products.c.id == product_id)).first()


def mark_read(conn: Connection, product_id: Any) -> None:
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(reads=products.c.reads + 1, last_read_at=func.now())
    )


def history(conn: Connection, product_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every observation of the last 30 days, oldest first; low/high/avg over all of them)."""
    since = func.now() - dt.timedelta(days=HISTORY_DAYS)
    where = (
        price_observations.c.product_id == product_id,
        price_observations.c.observed_at > since,
    )
    # One query: the window aggregates see every row of the 30 days, before the LIMIT.
    rows = conn.execute(
        select(
            price_observations.c.observed_at,
            price_observations.c.price,
            func.min(price_observations.c.price).over().label("low"),
            func.max(price_observations.c.price).over().label("high"),
            func.avg(price_observations.c.price).over().label("avg"),
        )
        .where(*where)
        .order_by(price_observations.c.observed_at.desc(), price_observations.c.id.desc())
        .limit(HISTORY_MAX_POINTS)
    ).all()
    low, high, avg = (rows[0].low, rows[0].high, rows[0].avg) if rows else (None, None, None)
    points = [
        {
            "date": r.observed_at.date().isoformat(),
            "observed_at": r.observed_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "price": float(r.price),
        }
        for r in reversed(rows)
    ]
    stats = {
        "low_30d": _num(low),
        "high_30d": _num(high),
        "avg_30d": round(float(avg), 2) if avg is not None else None,
    }
    return points, stats


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None
