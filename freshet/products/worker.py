"""The worker's side of product refresh: fetch a target with its source, store the record
and settle the followers in the completion transaction; and beat's hot-product pass."""

from __future__ import annotations

import logging
import random
from typing import Any

from sqlalchemy import Connection, func, select, text

from freshet import hosts, jobs
from freshet.products import flight as product_flight
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from freshet.products.ids import Target
from freshet.runtime import Runtime, Upstream
from sources import registry, walmart
from sources.http import HttpStatusError
from sources.record import PermanentSourceError, ProductRecord, SourceError
from store.tables import catalogs, products

log = logging.getLogger("freshet.products")


class UpstreamNotFound(PermanentSourceError):
    code = "not_found"


def target_of_job(job: dict[str, Any]) -> Target:
    p = job.get("params") or {}
    return Target(
        p["source"],
        p["key"],
        url=job.get("url"),
        catalog_id=job.get("catalog_id"),
        domains=tuple(p.get("domains") or ()),
    )


def first_url(rt: Runtime, target: Target) -> str:
    """The URL the target's first request goes to: its host is the politeness key."""
    if target.source == "walmart" and target.catalog_id is None:
        return rt.settings.walmart_base_url.rstrip("/") + "/"
    url = target.url or target.key
    return url if "//" in url else "https://" + url


def fetch_target(rt: Runtime, target: Target) -> ProductRecord:
    """One upstream fetch of the target with its source; 404/410 become not_found."""
    client = hosts.http(rt)
    try:
        if target.source == "walmart" and target.catalog_id is None:
            return walmart.fetch_product(
                client, base_url=rt.settings.walmart_base_url, item_id=target.key
            )
        return registry.fetch_product(
            client, target.source, target.url or target.key, allowed_domains=target.domains
        )
    except HttpStatusError as exc:
        if exc.status in (404, 410):
            raise UpstreamNotFound(str(exc)) from exc
        raise


class ProductHandler:
    kind = "product"

    def upstream(self, rt: Runtime, job: dict[str, Any]) -> Upstream:
        target = target_of_job(job)
        per_second = rt.settings.politeness_per_second
        if job.get("catalog_id") is not None:
            with rt.engine.connect() as conn:
                own = conn.execute(
                    select(catalogs.c.politeness_per_second).where(
                        catalogs.c.id == job["catalog_id"]
                    )
                ).scalar()
            per_second = own if own is not None else per_second
        return Upstream(first_url(rt, target), per_second)

    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any:
        return fetch_target(rt, target_of_job(job))

    def store(
        self, conn: Connection, rt: Runtime, job: dict[str, Any], record: Any
    ) -> dict[str, Any]:
        product_id = product_store.store_record(conn, target_of_job(job), record, job["id"])
        conn.execute(
            text("UPDATE jobs SET product_id = :p WHERE id = :id"),
            {"p": product_id, "id": job["id"]},
        )
        result = {
            "productId": str(product_id),
            "productTitle": record.title,
            "itemId": record.item_id,
            "price": record.current_price,
        }
        product_flight.settle_completed(conn, job["id"], result, product_id)
        return result

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        params = job.get("params")
        if params is None:  # the sweeper passes a partial row
            with rt.engine.connect() as conn:
                full = jobs.get(conn, job["id"])
            params = (full or {}).get("params") or {}
        if params.get("source") and params.get("key"):
            rt.guards.leave_flight(Target(params["source"], params["key"]).flight, job["id"])
        product_flight.settle_ended(rt, job["id"])


HANDLER = ProductHandler()


# hot products -----------------------------------------------------------------------------
def refresh_hot(rt: Runtime) -> int:
    """Beat: refresh products read often, before they go stale, at nobody's expense."""
    s = rt.settings
    # Due now if it would be stale before the pass after next could reach it.
    ahead = max(s.ttl_price - 2 * s.hot_refresh_interval_seconds, 0)
    with rt.engine.connect() as conn:
        rows = conn.execute(
            select(products)
            .where(
                products.c.reads >= s.hot_reads_threshold,
                products.c.last_read_at
                > func.now() - text(f"make_interval(secs => {int(s.hot_read_window_seconds)})"),
                (products.c.price_fetched_at.is_(None))
                | (
                    products.c.price_fetched_at
                    < func.now() - text(f"make_interval(secs => {float(ahead)})")
                ),
            )
            .order_by(products.c.price_fetched_at.nulls_first())
            .limit(s.hot_refresh_batch)
        ).all()
        targets = [product_ids.target_of(conn, s, r) for r in rows]
    refreshed = 0
    for target in targets:
        token = -random.randint(1, 2**31)  # not a job: followers of it fetch on their own
        if rt.guards.join_flight(target.flight, token, s.lease_seconds) != token:
            continue  # a request is fetching it right now
        try:
            record = fetch_target(rt, target)
            with rt.engine.begin() as conn:
                product_store.store_record(conn, target, record, job_id=None)
            refreshed += 1
        except SourceError as exc:
            log.warning("hot refresh failed", extra={"target": target.flight, "reason": str(exc)})
        finally:
            rt.guards.leave_flight(target.flight, token)
    if refreshed:
        log.info("hot products refreshed", extra={"count": refreshed})
    return refreshed
