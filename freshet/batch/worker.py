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
from store.db import Executor
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

    def complete(self, conn: Executor, rt: Runtime, job: dict[str, Any], record: Any) -> bool:
        """Store the record, finish the job and charge it: one statement (`_COMPLETE`). The
        jobs of its workflow it saw still open are noted on `job` for `after`."""
        params = record_params(_target(job, record), record, job["id"])
        params["result"] = json.dumps(_result(record))
        params["tail"] = TAIL + 1
        row = jobs.complete(conn, _COMPLETE, job, params)
        if row is None:
            return False
        job[_OPEN_SIBLINGS] = row.open_siblings
        return True

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        # The workflow's end is looked for unless this job's completion saw more than
        # TAIL of its siblings still open: then it cannot have been the last (see TAIL).
        if job.get("workflow_id") and job.get(_OPEN_SIBLINGS, 0) <= TAIL:
            ending.job_ended(rt, job["workflow_id"])
        jobs.dispatch_fair(
            rt, job_ended=True
        )  # a place in the window is free: the next job, in fair order


HANDLER = BatchTargetHandler()

# A workflow ends when its last open job does; each job's end looks for it with a statement
# of its own after its commit (ending.job_ended), which sees every commit before it — except
# a job whose completion saw more than TAIL of its siblings still open: all of them would
# have to end while that one statement ran for it to be the last, so it does not look (at
# worst, after a stall that long, the sweeper's pass finishes the workflow).
TAIL = 64
_OPEN_SIBLINGS = "open_siblings"

# The completion of a batch target, compiled once: the product stored (RECORD_CTES), the job
# completed with the product's id in its result and charged; and how many of its workflow's
# other jobs were open (counted up to TAIL + 1).
_COMPLETE = jobs.completion(
    RECORD_CTES,
    result="CAST(:result AS jsonb) || "
    "jsonb_build_object('productId', CAST((SELECT id FROM stored) AS text))",
    product_id="(SELECT id FROM stored)",
    also=", (SELECT count(*) FROM (SELECT 1 FROM jobs o WHERE o.workflow_id = "
    "(SELECT workflow_id FROM jobs WHERE id = :job) AND o.status IN ('queued', 'running') "
    "AND o.id <> :job LIMIT :tail) s) AS open_siblings",
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
