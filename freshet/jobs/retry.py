"""Operator actions on jobs that go beyond the API: retrying ended jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from freshet import accounts
from freshet.accounts import get_plan
from freshet.jobs import lifecycle as jobs
from freshet.runtime import Runtime
from store.tables import organizations

COPIED = (
    "org_id",
    "workflow_id",
    "target_index",
    "catalog_id",
    "product_id",
    "url",
    "asin",
    "marketplace",
    "params",
    "tokens_reserved",
)


def retry_jobs(
    rt: Runtime, job_ids: list[int], progress: Callable[[int], Any] = lambda _: None
) -> Iterator[tuple[int, int | None, str]]:
    """Each failed or cancelled job runs again as a new job with a fresh reservation."""
    for job_id in job_ids:
        outcome = _retry_one(rt, job_id)  # its transaction ends before anything is yielded
        progress(1)
        yield outcome


def _retry_one(rt: Runtime, job_id: int) -> tuple[int, int | None, str]:
    with rt.engine.begin() as conn:
        old = jobs.get(conn, job_id)
        if old is None or old["status"] not in ("failed", "cancelled"):
            return job_id, None, "not failed or cancelled"
        if old["org_id"] is None:  # a hot-product refresh: the next hot pass retries it
            return job_id, None, "a hot-product refresh (charged to nobody): not retried"
        plan_name = (
            conn.execute(organizations.select().where(organizations.c.id == old["org_id"]))
            .one()
            .plan
        )
        plan = get_plan(conn, plan_name)
        new_id = jobs.allocate_ids(conn)[0]
        if old["kind"] == "reviews":
            ok = accounts.reserve(
                conn,
                org_id=old["org_id"],
                resource="review_jobs",
                amount=1,
                limit=plan.review_jobs_per_month,
                job_id=new_id,
            )
        else:
            ok = accounts.reserve(
                conn,
                org_id=old["org_id"],
                resource="tokens",
                amount=old["tokens_reserved"],
                limit=plan.monthly_tokens,
                job_id=new_id,
            )
        if not ok:
            return job_id, None, "quota or tokens exhausted"
        jobs.insert(
            conn,
            rt.kinds[old["kind"]],
            id=new_id,
            max_attempts=rt.settings.max_attempts,
            request_id=old["request_id"],
            **{k: old[k] for k in COPIED},
        )
    jobs.publish_after_commit(rt, [rt.kinds.dispatch(new_id, old["kind"], old["request_id"])])
    return job_id, new_id, "retried"
