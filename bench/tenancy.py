"""The bench's organizations: plans whose limits never get in the way of a load test, and
review jobs submitted through the domain as the API would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from freshet import reviews
from freshet.accounts import tenants
from freshet.accounts.tenants import Principal
from freshet.jobs import lifecycle as jobs
from freshet.runtime import Runtime
from tests.factories import Tenant, make_tenant

MARKETPLACE = "amazon.de"
UNLIMITED = dict(
    monthly_tokens=1_000_000_000,
    review_jobs_per_month=100_000_000,
    concurrent_jobs=10_000_000,
    asin_cooldown_seconds=60,
    requests_per_minute=10_000_000,
    marketplaces=[MARKETPLACE],
)


def unlimited_tenant(
    engine: Engine, catalogs: list[str] | None = None, **plan: Any
) -> tuple[Tenant, Principal]:
    tenant = make_tenant(engine, catalogs=catalogs, **(UNLIMITED | plan))
    with engine.connect() as conn:
        principal = tenants.authenticate(conn, tenant.key)
    assert principal is not None
    return tenant, principal


def asins(tag: str, n: int) -> list[str]:
    """n distinct, well-formed ASINs (10 letters or digits); `tag` keeps runs apart."""
    tag = tag.upper()[:3]
    return [f"B{tag}{i:0{9 - len(tag)}d}" for i in range(n)]


def submit_reviews(rt: Runtime, principal: Principal, asin_list: list[str]) -> list[int]:
    """Submit one review refresh job per ASIN exactly as POST /api/v1/reviews/refresh does."""
    ids = []
    for asin in asin_list:
        body, _ = reviews.submit(rt, principal, asin, MARKETPLACE, jobs.new_request_id())
        ids.append(int(body["jobId"]))
    return ids
