"""Upstream faults seen by a real worker: a 503 storm, a 429 with Retry-After, a page that
breaks half-way through a job."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import make_tenant
from tests.fault.support import (
    URL,
    asin_with_pages,
    cooldown_holder,
    job_row,
    ledger_kinds,
    review_jobs_used,
    slot_members,
    stored_reviews,
    submit,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.fault


def test_503_storm_is_retried_a_bounded_number_of_times_then_fails_with_reason(
    client, engine, rt, sim, spawn_worker, settings
):
    t = make_tenant(engine, concurrent_jobs=1)
    sim.faults(error_rate=1.0, error_status=503)
    spawn_worker()
    asin = "B0STORM001"
    job_id = submit(client, t, asin)["jobId"]
    done = wait_done(engine, job_id, timeout=40)

    assert done["status"] == "failed" and done["error_code"] == "upstream_unavailable"
    assert f"gave up after {settings.max_attempts} attempts" in done["error"]
    assert "503" in done["error"]
    assert done["attempt"] == settings.max_attempts
    assert sim.review_requests(asin) == settings.max_attempts  # bounded: no hidden retries
    # the failure gives everything back: quota, cooldown, concurrency slot
    assert ledger_kinds(engine, job_id) == ["reserve", "refund"]
    assert review_jobs_used(engine, t.org_id) == 0
    assert cooldown_holder(rt, t.org_id, asin)[0] is None
    assert slot_members(rt, t.org_id) == set()
    elapsed = (done["finished_at"] - done["started_at"]).total_seconds()
    print(
        f"\n503 storm: {done['attempt']} attempts, {sim.review_requests(asin)} upstream "
        f"requests, failed {elapsed:.1f}s after the first claim"
    )
    status = client.get(f"/api/v1/jobs/{job_id}", headers=t.headers).get_json()
    assert status["status"] == "failed" and "503" in status["error"]
    sim.faults()
    again = submit(client, t, asin)["jobId"]  # the user may retry at once
    assert wait_done(engine, again)["status"] == "completed"


def test_429_retry_after_is_honoured(client, engine, rt, sim, spawn_worker):
    t = make_tenant(engine)
    sim.faults(throttle_rate=1.0)  # the simulator answers 429 with Retry-After: 1
    spawn_worker()
    asin = "B0THROTTLE"
    job_id = submit(client, t, asin)["jobId"]
    requeued = wait_until(
        lambda: (
            (j := job_row(engine, job_id))["attempt"] == 1
            and j["status"] == "queued"
            and j["error"]
            and j
        ),
        20,
        "the throttled job to be requeued",
    )
    assert "429" in requeued["error"]
    with engine.connect() as conn:
        delay = conn.execute(
            text("SELECT extract(epoch FROM dispatched_at - updated_at) FROM jobs WHERE id = :j"),
            {"j": job_id},
        ).scalar()
    assert float(delay) >= 1.0  # never sooner than the upstream asked
    sim.faults()
    done = wait_done(engine, job_id, timeout=20)
    assert (done["status"], done["attempt"]) == ("completed", 2)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    print(f"\n429: retried after {float(delay):.2f}s (Retry-After: 1)")


def test_page_breaking_mid_job_fails_it_and_writes_no_partial_data(
    client, engine, rt, sim, simulator, spawn_worker
):
    t = make_tenant(engine)
    asin = asin_with_pages(simulator, 3, prefix="B0BROKE")
    # page 1 is fine; every later page (…/ref=…_next_N?pageNumber=N) is a captcha
    sim.faults(malformed_rate=1.0, path_prefix=f"/amazon/amazon.de/product-reviews/{asin}/ref=")
    spawn_worker()
    job_id = submit(client, t, asin)["jobId"]
    done = wait_done(engine, job_id)
    assert done["status"] == "failed" and done["attempt"] == 1  # permanent: not retried
    assert "captcha" in done["error"].lower()
    assert sim.review_requests(asin) == 2
    assert stored_reviews(engine, asin) == (0, 0)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM review_products WHERE asin = :a"), {"a": asin}
            ).scalar()
            == 0
        )
    assert ledger_kinds(engine, job_id) == ["reserve", "refund"]
    assert cooldown_holder(rt, t.org_id, asin)[0] is None
    resp = client.get(f"/api/v1/reviews?asin={asin}", headers=t.headers)
    assert resp.status_code == 404


def test_unreachable_upstream_is_transient_then_fails(client, engine, rt, spawn_worker, settings):
    """Connection refused (nothing listening) is retried like a 5xx, then fails with why."""
    from tests.services import free_port

    port = free_port()
    dead = settings.with_overrides(
        amazon_base_url=f"http://127.0.0.1:{port}/{{marketplace}}",
        allowed_private_hosts=(f"127.0.0.1:{port}",),
    )
    spawn_worker(settings=dead)
    t = make_tenant(engine)
    job_id = client.post(URL, json={"asin": "B0NOSERVER"}, headers=t.headers).get_json()["jobId"]
    done = wait_done(engine, job_id, timeout=40)
    assert done["status"] == "failed" and done["attempt"] == settings.max_attempts
    assert "connection error" in done["error"]
    assert ledger_kinds(engine, job_id) == ["reserve", "refund"]


def test_upstream_timeout_is_retried_then_fails(client, engine, sim, spawn_worker, settings):
    sim.faults(latency_ms=1500)
    spawn_worker(settings=settings.with_overrides(upstream_timeout=0.3))
    t = make_tenant(engine)
    asin = "B0TIMEOUT1"
    job_id = submit(client, t, asin)["jobId"]
    done = wait_done(engine, job_id, timeout=40)
    assert done["status"] == "failed" and done["attempt"] == settings.max_attempts
    assert "timeout" in done["error"]
    assert sim.review_requests(asin) == settings.max_attempts
    assert ledger_kinds(engine, job_id) == ["reserve", "refund"]
