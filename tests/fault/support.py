"""Helpers the fault tests share: the simulator's admin endpoint, waiting, reading rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import Engine, text

# Re-exported: the fault tests import their helpers from here; these are shared suite-wide.
from tests.factories import ledger_kinds as ledger_kinds
from tests.waiting import wait_until as wait_until

URL = "/api/v1/reviews/refresh"


class Sim:
    def __init__(self, url: str):
        self.url = url

    def faults(self, **faults: Any) -> None:
        requests.put(self.url + "/_sim/faults", json=faults, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return requests.request("GET", self.url + "/_sim/stats", timeout=5).json()

    def reset_stats(self) -> None:
        requests.delete(self.url + "/_sim/stats", timeout=5)

    def review_requests(self, asin: str) -> int:
        return sum(
            n for path, n in self.stats()["paths"].items() if f"/product-reviews/{asin}" in path
        )


def job_row(engine: Engine, job_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM jobs WHERE id = :j"), {"j": job_id}).one()._mapping
        )


def wait_status(
    engine: Engine, job_id: int, statuses: tuple[str, ...], timeout: float = 30.0
) -> dict[str, Any]:
    return wait_until(
        lambda: (j := job_row(engine, job_id))["status"] in statuses and j,
        timeout,
        f"job {job_id} to be {'/'.join(statuses)}",
    )


def wait_done(engine: Engine, job_id: int, timeout: float = 30.0) -> dict[str, Any]:
    return wait_status(engine, job_id, ("completed", "failed", "cancelled"), timeout)


def review_jobs_used(engine: Engine, org_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(review_jobs_used), 0) FROM usage_periods WHERE org_id = :o"),
            {"o": org_id},
        ).scalar()


def submit(client, tenant, asin: str, **headers: str) -> dict[str, Any]:
    resp = client.post(URL, json={"asin": asin}, headers={**tenant.headers, **headers})
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


def asin_with_pages(simulator, pages: int, prefix: str = "B0FAULT") -> str:
    """A deterministic ASIN whose simulated reviews fill at least `pages` pages."""
    from simulator.amazon import PER_PAGE, review_total

    seed = simulator.app.extensions["simulator"].seed
    for n in range(10_000):
        asin = f"{prefix}{n:0{10 - len(prefix)}d}"
        if review_total(seed, asin) > PER_PAGE * (pages - 1):
            return asin
    raise AssertionError("no ASIN with enough reviews")


def slot_members(rt, org_id: int) -> set[int]:
    return {int(m) for m in rt.redis.zrange(rt.guards.slot_key(org_id), 0, -1)}


def cooldown_holder(rt, org_id: int, asin: str, marketplace: str = "amazon.de"):
    return rt.guards.cooldown_holder(rt.guards.cooldown_key(org_id, asin, marketplace))


def stored_reviews(engine: Engine, asin: str) -> tuple[int, int]:
    """(rows, distinct review ids) stored for the ASIN."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT count(*), count(DISTINCT amazon_review_id) FROM reviews WHERE asin = :a"),
            {"a": asin},
        ).one()
    return int(row[0]), int(row[1])


def sweep_until(rt, done: Callable[[], Any], timeout: float, what: str) -> list[dict]:
    """Run the sweeper every 0.2 s (as beat would, faster) until `done()`; the passes' counts."""
    from freshet.jobs.sweeper import sweep

    passes: list[dict] = []

    def step() -> Any:
        passes.append(sweep(rt))
        return done()

    wait_until(step, timeout, what, every=0.2)
    return passes
