"""Concurrency slots for the job kinds a plan counts (plans.concurrency_kinds): taken when a
job is submitted, given back when it ends (or by the sweeper, when that fails)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from freshet.accounts import Principal
from freshet.errors import RateLimited
from freshet.runtime import Runtime


@contextlib.contextmanager
def concurrency_slot(rt: Runtime, principal: Principal, kind: str, job_id: int) -> Iterator[None]:
    """Hold a slot for `job_id` around its submission when the plan counts `kind`; a refusal
    is the 429 too_many_concurrent_jobs, a failed submission gives the slot back."""
    plan = principal.plan
    if kind not in plan.concurrency_kinds:
        yield
        return
    key = rt.guards.slot_key(principal.org_id)
    adm = rt.guards.admit(
        [], slot=(key, plan.concurrent_jobs, rt.settings.slot_ttl_seconds), job_id=job_id
    )
    if not adm.ok:
        raise RateLimited(
            f"Your plan's limit of {plan.concurrent_jobs} concurrent jobs "
            f"({', '.join(plan.concurrency_kinds)}) is reached; wait for a job to complete.",
            title="Too many concurrent jobs",
            code="too_many_concurrent_jobs",
            retry_after=adm.retry_after,
        )
    try:
        yield
    except BaseException:
        rt.guards.release(job_id, slot_key=key)
        raise


def release_slot(rt: Runtime, org_id: int, job_id: int) -> None:
    """Give a job's slot back (a no-op when it holds none); the sweeper retries a failure."""
    with contextlib.suppress(Exception):
        rt.guards.release(job_id, slot_key=rt.guards.slot_key(org_id))
