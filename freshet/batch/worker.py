"""The worker's side of one batch target: polite to its host, fetched with its catalog's
source, stored as the product the products package keeps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from freshet import hosts, jobs
from freshet.batch import ending
from freshet.batch.pacing import polite_rate
from freshet.products import Target, store_record
from freshet.runtime import Runtime, Upstream
from sources import registry
from sources.urls import normalize_url
from store.tables import jobs as jobs_table


class BatchTargetHandler:
    kind = "batch_target"

    def upstream(self, rt: Runtime, job: dict[str, Any]) -> Upstream:
        return Upstream(job["url"], polite_rate(rt, job["params"].get("politeness_per_second")))

    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any:
        params = job["params"]
        return registry.fetch_product(
            hosts.http(rt), params["source"], job["url"], allowed_domains=list(params["domains"])
        )

    def store(
        self, conn: Connection, rt: Runtime, job: dict[str, Any], record: Any
    ) -> dict[str, Any]:
        params = job["params"]
        # The products module's identity: a Walmart item by its id, any other page by its URL.
        key = (
            record.item_id
            if params["source"] == "walmart" and record.item_id
            else normalize_url(job["url"])
        )
        target = Target(
            params["source"],
            key,
            url=job["url"],
            catalog_id=job["catalog_id"],
            domains=tuple(params["domains"]),
        )
        product_id = store_record(conn, target, record, job["id"])
        conn.execute(
            update(jobs_table)
            .where(
                jobs_table.c.id == job["id"],
                jobs_table.c.attempt == job["attempt"],
                jobs_table.c.status == "running",
            )
            .values(product_id=product_id)
        )
        return {
            "productId": str(product_id),
            "productTitle": record.title,
            "price": record.current_price,
            "currency": record.currency,
            "inStock": record.in_stock,
        }

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        if job.get("workflow_id"):
            ending.job_ended(rt, job["workflow_id"])
        jobs.dispatch_fair(
            rt, job_ended=True
        )  # a place in the window is free: the next job, in fair order


HANDLER = BatchTargetHandler()
