"""Submitting a review refresh job: the ASIN and marketplace checked, the guards admitted,
the month's review jobs reserved, the job committed, then published."""

from __future__ import annotations

import logging
import re
from typing import Any

from freshet import accounts, idempotency, jobs
from freshet.accounts import Principal, submit_window
from freshet.errors import BadRequest, Forbidden, PaymentRequired, RateLimited
from freshet.idempotency import IdempotencyKey
from freshet.runtime import Runtime
from guards import ORPHAN_GRACE_SECONDS, Admission

log = logging.getLogger("freshet.reviews")

# Matched with fullmatch: `$` would also accept a trailing newline ("B08N5WRWNW\n").
ASIN_RE = re.compile(r"[A-Za-z0-9]{10}")
MARKETPLACE_RE = re.compile(r"amazon\.[a-z]{2,3}(\.[a-z]{2})?")
DEFAULT_MARKETPLACE = "amazon.de"
ESTIMATED_SECONDS = 60


def validate_asin(asin: Any) -> str:
    if not isinstance(asin, str) or not ASIN_RE.fullmatch(asin):
        raise BadRequest(
            "ASIN must be exactly 10 letters or digits, e.g. B08N5WRWNW.",
            title="Invalid ASIN format",
            code="invalid_asin",
        )
    return asin.upper()


def validate_marketplace(marketplace: Any) -> str:
    if marketplace is None:
        return DEFAULT_MARKETPLACE
    if not isinstance(marketplace, str) or not MARKETPLACE_RE.fullmatch(marketplace.lower()):
        raise BadRequest(
            "marketplace must look like amazon.de or amazon.co.uk.",
            title="Invalid marketplace",
            code="invalid_marketplace",
        )
    return marketplace.lower()


def refuse(adm: Admission) -> RateLimited:
    """The seed's three 429s, each with its own code and an honest Retry-After."""
    if adm.reason == "cooldown":
        return RateLimited(
            f"This ASIN was refreshed recently (job {adm.holder_job_id}); wait for the cooldown "
            "or read the cached reviews with GET /api/v1/reviews.",
            title="ASIN cooldown active",
            code="asin_cooldown_active",
            retry_after=adm.retry_after,
            extra={"jobId": adm.holder_job_id},
        )
    if adm.reason == "concurrency":
        return RateLimited(
            "Your plan's concurrent job limit is reached; wait for a job to complete.",
            title="Too many concurrent jobs",
            code="too_many_concurrent_jobs",
            retry_after=adm.retry_after,
        )
    return RateLimited(
        "Too many requests this minute; wait and retry.",
        title="Rate limit exceeded",
        code="rate_limit_exceeded",
        retry_after=adm.retry_after,
    )


def _orphaned(rt: Runtime, cd_key: str, adm: Admission) -> bool:
    """Whether a refusing cooldown's job failed, was cancelled or never committed; if so the
    cooldown is cleared (compare-and-delete: only while that job still holds it)."""
    holder = adm.holder_job_id
    if holder is None:
        return False
    with rt.engine.connect() as conn:
        status = jobs.status_of(conn, holder)
    if status in ("failed", "cancelled") or (
        status is None and adm.holder_age >= ORPHAN_GRACE_SECONDS
    ):
        rt.guards.clear_cooldown(cd_key, holder)
        return True
    return False


def submit(
    rt: Runtime,
    principal: Principal,
    asin: str,
    marketplace: str,
    request_id: str,
    idem: IdempotencyKey | None = None,
) -> tuple[dict[str, Any], Admission]:
    """Queue a review refresh job; `idem` is bound to its 202 in the job's own transaction."""
    plan = principal.plan
    if marketplace not in plan.marketplaces:
        raise Forbidden(
            f"Your plan does not include {marketplace}; add it in your plan or use "
            f"one of: {', '.join(plan.marketplaces)}.",
            title="Marketplace not authorized",
            code="marketplace_not_authorized",
        )
    quota_exceeded = PaymentRequired(
        "All review refresh jobs of this month are used; wait for the reset or upgrade.",
        title="Monthly quota exceeded",
        code="quota_exceeded",
    )
    with rt.engine.connect() as conn:
        if accounts.used(conn, principal.org_id)["review_jobs"] >= plan.review_jobs_per_month:
            raise quota_exceeded
        job_id = jobs.allocate_ids(conn)[0]
        conn.commit()

    g = rt.guards
    cd_key = g.cooldown_key(principal.org_id, asin, marketplace)
    slot_key = g.slot_key(principal.org_id) if "reviews" in plan.concurrency_kinds else None

    def admit() -> Admission:
        return g.admit(
            [submit_window(principal)],
            cooldown=(cd_key, plan.asin_cooldown_seconds),
            slot=(slot_key, plan.concurrent_jobs, rt.settings.slot_ttl_seconds)
            if slot_key
            else None,
            job_id=job_id,
        )

    adm = admit()
    if not adm.ok and adm.reason == "cooldown" and _orphaned(rt, cd_key, adm):
        adm = admit()  # the cooldown outlived its job: it is gone now
    if not adm.ok:
        raise refuse(adm)
    body = {
        "jobId": job_id,
        "asin": asin,
        "status": "queued",
        "message": f"Review refresh job queued for {asin} on {marketplace}.",
        "estimatedCompletionSeconds": ESTIMATED_SECONDS,
    }
    try:
        with rt.engine.begin() as conn:
            if not accounts.reserve(
                conn,
                org_id=principal.org_id,
                resource="review_jobs",
                amount=1,
                limit=plan.review_jobs_per_month,
                job_id=job_id,
                request_id=request_id,
            ):
                raise quota_exceeded
            jobs.insert(
                conn,
                rt.kinds["reviews"],
                id=job_id,
                org_id=principal.org_id,
                asin=asin,
                marketplace=marketplace,
                max_attempts=rt.settings.max_attempts,
                request_id=request_id,
            )
            idempotency.record(conn, idem, 202, body)
    except BaseException:  # nothing was accepted: give back all the admission took
        g.release(job_id, cooldown_key=cd_key, slot_key=slot_key, uncount=adm)
        raise
    jobs.publish_after_commit(rt, [rt.kinds.dispatch(job_id, "reviews", request_id)])
    return body, adm
