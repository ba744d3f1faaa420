"""A catalog whose shop is hostile, seen by a real worker process (threads pool, where
Celery's time limits do nothing): hostile jobs fill every worker thread, each ends within
its bounded attempts, and an ordinary job submitted behind them still completes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from freshet.settings import Settings
from tests.factories import make_catalog, make_tenant
from tests.fault.hostile_shop import HostileShop
from tests.fault.support import wait_until

pytestmark = pytest.mark.fault

URL = "/v1/products/refresh"
THREADS = 3
UPSTREAM_TIMEOUT = 1.0  # per connect and read; the client's total deadline is 3x this
HOSTILE = [
    "slow-headers",
    "slow-headers?every=0.5",
    "drip-body",
    "hang",
    "endless",
    "loop",
    "garbage",
    "gzip-bomb",
    "big",
    "nested",
]


@pytest.fixture
def shop() -> Iterator[HostileShop]:
    with HostileShop() as s:
        yield s


@pytest.fixture
def settings(settings: Settings, shop: HostileShop) -> Settings:
    # Reaches the worker as FRESHET_ALLOWED_PRIVATE_HOSTS and FRESHET_UPSTREAM_TIMEOUT.
    # A lease longer than any attempt: lease recovery is not what this test is about.
    return settings.with_overrides(
        allowed_private_hosts=(*settings.allowed_private_hosts, f"127.0.0.1:{shop.port}"),
        upstream_timeout=UPSTREAM_TIMEOUT,
        lease_seconds=30,
    )


def submit(client, tenant, targets: list[dict[str, str]]) -> uuid.UUID:
    resp = client.post(URL, json={"targets": targets}, headers=tenant.headers)
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["rejected"] == [], body["rejected"]
    return uuid.UUID(body["workflowId"])


def jobs_of(engine: Engine, workflow_id: uuid.UUID) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, url, status, attempt, error, error_code, created_at, started_at, "
                "finished_at FROM jobs WHERE workflow_id = :w ORDER BY target_index"
            ),
            {"w": workflow_id},
        ).all()
    return [dict(r._mapping) for r in rows]


def running(engine: Engine, workflow_id: uuid.UUID) -> int:
    return sum(j["status"] == "running" for j in jobs_of(engine, workflow_id))


def test_hostile_jobs_fill_the_worker_yet_all_end_and_an_ordinary_job_gets_through(
    client, engine, simulator, spawn_worker, settings, shop
):
    make_catalog(engine, "hostile", "jsonld", [f"127.0.0.1:{shop.port}"])
    make_catalog(engine, "site", "jsonld", [f"{simulator.host}/sites/demo"])
    t = make_tenant(engine, catalogs=["hostile", "site"], requests_per_minute=100)
    spawn_worker(queues="interactive,reviews,batch,default", concurrency=THREADS)

    hostile = submit(client, t, [{"catalog": "hostile", "url": f"{shop.url}/{p}"} for p in HOSTILE])
    # Every worker thread is busy with a hostile job before the ordinary one arrives.
    wait_until(lambda: running(engine, hostile) >= THREADS, 20, "hostile jobs on every thread")
    submitted = time.monotonic()
    ordinary = submit(client, t, [{"catalog": "site", "url": f"{simulator.url}/sites/demo/p/x"}])
    (job,) = wait_until(
        lambda: (js := jobs_of(engine, ordinary))[0]["status"] in ("completed", "failed") and js,
        60,
        "the ordinary job to end",
        every=0.1,
    )
    waited = time.monotonic() - submitted
    assert job["status"] == "completed", job["error"]
    queued_for = (job["started_at"] - job["created_at"]).total_seconds()

    def all_ended() -> list[dict[str, Any]] | None:
        js = jobs_of(engine, hostile)
        return js if all(j["status"] in ("completed", "failed") for j in js) else None

    ended = wait_until(all_ended, 90, "every hostile job to end", every=0.2)
    print(f"\nordinary job: completed {waited:.1f}s after submission (queued {queued_for:.1f}s)")
    budget = settings.max_attempts * (3 * UPSTREAM_TIMEOUT + settings.retry_backoff_max)
    for j in ended:
        took = (j["finished_at"] - j["created_at"]).total_seconds()
        path = j["url"].split("/", 3)[-1]
        print(
            f"  /{path}: {j['status']} after {j['attempt']} attempt(s), {took:.1f}s "
            f"[{j['error_code']}] {(j['error'] or '')[:90]}"
        )
        assert j["status"] == "failed" and j["error"], j
        assert j["attempt"] <= settings.max_attempts
        # Each attempt is bounded by the client's total deadline, each retry by the backoff
        # cap; what queueing behind the other hostile jobs adds is bounded by the same.
        assert took <= budget * len(HOSTILE) / THREADS + 10, (path, took)
    by_path = {j["url"].split("/", 3)[-1]: j for j in ended}
    # Timeouts are retried to the last attempt; answers that will not change fail at once.
    for path in ("slow-headers", "drip-body", "hang"):
        assert by_path[path]["attempt"] == settings.max_attempts, by_path[path]
        assert "timeout" in by_path[path]["error"]
    for path in ("endless", "loop", "garbage", "gzip-bomb", "big"):
        assert by_path[path]["attempt"] == 1, by_path[path]
    assert waited <= 30
