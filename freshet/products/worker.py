"""The worker's side of product refresh: fetch a target with its source, store the record
and settle the followers in the completion transaction; and beat's hot-product pass."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Connection, func, select, text, update

from freshet import hosts, jobs
from freshet.products import flight as product_flight
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from freshet.products.ids import Target
from freshet.runtime import Runtime, Upstream
from sources import registry, walmart
from sources.http import HttpStatusError
from sources.record import PermanentSourceError, ProductRecord
from store.db import Executor, fetch_prepared
from store.tables import catalogs, products
from store.tables import jobs as jobs_table

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

    def complete(self, conn: Executor, rt: Runtime, job: dict[str, Any], record: Any) -> bool:
        """Store the record, finish the job, complete its followers and charge them all: one
        statement (`_COMPLETE`). The followers it completed are noted on `job` for `after`,
        which wakes them."""
        params = product_store.record_params(target_of_job(job), record, job["id"])
        params["result"] = json.dumps(
            {"productTitle": record.title, "itemId": record.item_id, "price": record.current_price}
        )
        row = jobs.complete(conn, _COMPLETE, job, params)
        if row is None:
            return False
        job[_FOLLOWERS] = list(row.followers or ())
        return True

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        if status == "completed" and _FOLLOWERS in job:
            return self._after_completion(rt, job)
        params = job.get("params")
        if params is None:  # the sweeper passes a partial row
            with rt.engine.connect() as conn:
                job = jobs.get(conn, job["id"]) or job
            params = job.get("params") or {}
        if params.get("source") and params.get("key"):
            rt.guards.leave_flight(Target(params["source"], params["key"]).flight, job["id"])
        product_flight.settle_ended(rt, job["id"])
        if job.get("org_id") is not None:
            jobs.release_slot(rt, job["org_id"], job["id"])
        if params.get("hot"):
            hot_ended(rt, job, status)

    def _after_completion(self, rt: Runtime, job: dict[str, Any]) -> None:
        """After `complete`: the flight and the slot given back in one call, then the job's
        waiters and its followers' woken; then a follower that attached while the completion
        waited for the leader's row (its snapshot did not see it) is settled here."""
        params = job["params"]
        rt.guards.end_flight(
            Target(params["source"], params["key"]).flight,
            job["id"],
            slot_key=rt.guards.slot_key(job["org_id"]) if job.get("org_id") is not None else None,
        )
        jobs.notify(rt.redis, rt.prefix, [job["id"], *job[_FOLLOWERS]])
        # Committed before the completion did, so this read sees it (a later one finds the
        # leader finished and settles itself): one prepared read, the settling only if so.
        left = fetch_prepared(rt.statements, _LEFT_BEHIND, {"id": job["id"]})
        if left is not None and left.left:
            product_flight.settle_ended(rt, job["id"])
        if params.get("hot"):
            hot_ended(rt, job, "completed")


HANDLER = ProductHandler()
_FOLLOWERS = "completed_followers"
_LEFT_BEHIND = (
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE leader_job_id = %(id)s AND status = 'queued') AS left"
)

# The completion of a product job, compiled once: the record stored (RECORD_CTES), the job
# completed with the product's id in its result; its queued followers (`leader_job_id`)
# completed with the same result and product; every one of them charged.
_RESULT = (
    "CAST(:result AS jsonb) || "
    "jsonb_build_object('productId', CAST((SELECT id FROM stored) AS text))"
)
_COMPLETE = jobs.completion(
    product_store.RECORD_CTES,
    result=_RESULT,
    product_id="(SELECT id FROM stored)",
    shared=(
        "fol AS (UPDATE jobs SET status = 'completed', "  # noqa: S608 (SQL of ours, no value)
        f"result = {_RESULT} || jsonb_build_object('sharedFetchJobId', CAST(:job AS bigint)), "
        "product_id = (SELECT id FROM stored), error = NULL, error_code = NULL, "
        "lease_until = NULL, started_at = coalesce(jobs.started_at, now()), "
        "finished_at = now(), updated_at = now() FROM me "
        "WHERE jobs.leader_job_id = me.id AND jobs.status = 'queued' RETURNING jobs.id)"
    ),
    also=", ARRAY(SELECT id FROM fol) AS followers",
)


# hot products -----------------------------------------------------------------------------
HOT_LOCK = 7_140_008  # pg advisory lock: never two hot passes at once, fleet-wide
HOT_BACKOFF_MAX_SECONDS = 3600


def refresh_hot(rt: Runtime) -> int:
    """Beat: products read often are refreshed before they go stale, as ordinary `product`
    jobs charged to nobody (no organization, no reservation) that run under the hosts'
    politeness like any other. The pass only writes jobs, so it is short; an advisory lock
    keeps a second beat (or a slow pass) from running beside it; a product whose refresh
    failed waits `hot_retry_at` (doubling per failure); one with an open job is skipped."""
    s = rt.settings
    # Due now if it would be stale before the pass after next could reach it.
    ahead = max(s.ttl_price - 2 * s.hot_refresh_interval_seconds, 0)
    kind = rt.kinds["product"]
    dispatches = []
    with rt.engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": HOT_LOCK}).scalar():
            return 0
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
                (products.c.hot_retry_at.is_(None)) | (products.c.hot_retry_at <= func.now()),
                ~select(jobs_table.c.id)
                .where(
                    jobs_table.c.product_id == products.c.id,
                    jobs_table.c.status.in_(("queued", "running")),
                )
                .exists(),
            )
            .order_by(products.c.price_fetched_at.nulls_first())
            .limit(s.hot_refresh_batch)
        ).all()
        for row in rows:
            target = product_ids.target_of(conn, s, row)
            job_id = jobs.allocate_ids(conn)[0]
            if rt.guards.join_flight(target.flight, job_id, s.lease_seconds) != job_id:
                continue  # a request is fetching it right now
            request_id = jobs.new_request_id()
            jobs.insert(
                conn,
                kind,
                id=job_id,
                org_id=None,
                max_attempts=s.max_attempts,
                request_id=request_id,
                product_id=row.id,
                url=target.url,
                catalog_id=target.catalog_id,
                tokens_reserved=0,
                params=target.params() | {"hot": True},
            )
            dispatches.append(rt.kinds.dispatch(job_id, "product", request_id))
    if dispatches:
        # Not sent (the broker away)? The sweeper sends queued jobs nobody sent.
        jobs.publish_after_commit(rt, dispatches)
        log.info("hot products queued", extra={"count": len(dispatches)})
    return len(dispatches)


def hot_ended(rt: Runtime, job: dict[str, Any], status: str) -> None:
    """A hot refresh ended: success clears the product's backoff, failure doubles it."""
    if job.get("product_id") is None:
        return
    with rt.engine.begin() as conn:
        if status == "completed":
            conn.execute(
                update(products)
                .where(products.c.id == job["product_id"])
                .values(hot_failures=0, hot_retry_at=None)
            )
        elif status == "failed":
            conn.execute(
                text(
                    "UPDATE products SET hot_failures = hot_failures + 1, hot_retry_at = now() + "
                    "make_interval(secs => LEAST(:base * power(2, hot_failures), :cap)) "
                    "WHERE id = :id"
                ),
                {
                    "id": job["product_id"],
                    "base": rt.settings.hot_refresh_interval_seconds,
                    "cap": HOT_BACKOFF_MAX_SECONDS,
                },
            )
