"""The worker's side of one batch target: polite to its host, fetched with its catalog's
source, stored as the product the products package keeps."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, update

from freshet import hosts, jobs
from freshet.batch import ending
from freshet.batch.pacing import polite_rate
from freshet.products import RECORD_CTES, Target, record_params, store_record
from freshet.runtime import Runtime, Upstream
from sources import registry
from sources.record import ProductRecord
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
        """Store the record as the job's product (the caller finishes the job)."""
        product_id = store_record(conn, _target(job, record), record, job["id"])
        conn.execute(
            update(jobs_table)
            .where(
                jobs_table.c.id == job["id"],
                jobs_table.c.attempt == job["attempt"],
                jobs_table.c.status == "running",
            )
            .values(product_id=product_id)
        )
        return {"productId": str(product_id)} | _result(record)

    def complete(self, conn: Connection, rt: Runtime, job: dict[str, Any], record: Any) -> bool:
        """Store the record, finish the job and charge it: one statement (`_COMPLETE`)."""
        params = record_params(_target(job, record), record, job["id"])
        params["result"] = json.dumps(_result(record))
        return jobs.complete(conn, _COMPLETE, job, params)

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        if job.get("workflow_id"):
            ending.job_ended(rt, job["workflow_id"])
        jobs.dispatch_fair(
            rt, job_ended=True
        )  # a place in the window is free: the next job, in fair order


HANDLER = BatchTargetHandler()

# The completion of a batch target, compiled once: the product stored (RECORD_CTES), the job
# completed with the product's id in its result and charged.
_COMPLETE = jobs.completion(
    RECORD_CTES,
    result="CAST(:result AS jsonb) || "
    "jsonb_build_object('productId', CAST((SELECT id FROM stored) AS text))",
    product_id="(SELECT id FROM stored)",
)


def _target(job: dict[str, Any], record: ProductRecord) -> Target:
    params = job["params"]
    # The products module's identity: a Walmart item by its id, any other page by its URL.
    key = (
        record.item_id
        if params["source"] == "walmart" and record.item_id
        else normalize_url(job["url"])
    )
    return Target(
        params["source"],
        key,
        url=job["url"],
        catalog_id=job["catalog_id"],
        domains=tuple(params["domains"]),
    )


def _result(record: ProductRecord) -> dict[str, Any]:
    return {
        "productTitle": record.title,
        "price": record.current_price,
        "currency": record.currency,
        "inStock": record.in_stock,
    }
