"""Rows for tests: an organization on a plan of its own, with a key."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from freshet.accounts import tenants

_seq = itertools.count(1)

DEFAULT_PLAN = dict(
    monthly_tokens=2000,
    review_jobs_per_month=50,
    concurrent_jobs=2,
    asin_cooldown_seconds=86400,
    requests_per_minute=60,
    force_refresh_per_minute=100,
    marketplaces=["amazon.de"],
)


@dataclass
class Tenant:
    org_id: int
    name: str
    key: str
    plan: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(engine: Engine, *, catalogs: list[str] | None = None, **plan: Any) -> Tenant:
    n = next(_seq)
    name, plan_name = f"org{n}", f"plan{n}"
    with engine.begin() as conn:
        tenants.upsert_plan(conn, plan_name, **(DEFAULT_PLAN | plan))
        org_id = tenants.create_org(conn, name, plan_name)
        key, _ = tenants.create_key(conn, name)
        for slug in catalogs or []:
            tenants.grant(conn, name, slug)
    return Tenant(org_id, name, key, plan_name)


def make_catalog(
    engine: Engine, slug: str, source: str, domains: list[str], politeness: float | None = None
) -> int:
    with engine.begin() as conn:
        return tenants.create_catalog(conn, slug, source, domains, politeness, exist_ok=True)
