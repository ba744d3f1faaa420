"""Workers that die, freeze or are merely slow: every accepted job completes exactly once,
is charged exactly once, and its guard state ends right."""

from __future__ import annotations

import time

import pytest

from tests.factories import age_job, make_tenant
from tests.fault.support import (
    asin_with_pages,
    cooldown_holder,
    job_row,
    ledger_kinds,
    review_jobs_used,
    slot_members,
    stored_reviews,
    submit,
    sweep_until,
    wait_done,
    wait_status,
    wait_until,
)

pytestmark = pytest.mark.fault


def test_sigkilled_worker_mid_task_completes_once_and_charges_once(
    client, engine, rt, sim, simulator, spawn_worker
):
    t = make_tenant(engine, concurrent_jobs=2)
    asin = asin_with_pages(simulator, 3)
    sim.faults(latency_ms=1500)  # each page takes 1.5 s: the job is surely mid-fetch
    doomed = spawn_worker()
    job_id = submit(client, t, asin)["jobId"]
    wait_status(engine, job_id, ("running",), timeout=20)
    wait_until(lambda: sim.review_requests(asin) >= 1, 10, "the first upstream request")
    doomed.kill()
    killed_at = time.monotonic()

    job = job_row(engine, job_id)
    assert (job["status"], job["attempt"]) == ("running", 1)
    assert slot_members(rt, t.org_id) == {job_id}  # the dead worker's slot is still held
    sim.faults()
    spawn_worker()
    # Nothing is retried while the lease (2 s here) could still belong to a live worker;
    # then the sweeper requeues and re-sends it, and the new worker finishes it. The dead
    # worker's last heartbeat is moved a lease back instead of the test waiting out the lease.
    age_job(engine, job_id, rt.settings.lease_seconds, column="lease_until")
    passes = sweep_until(
        rt,
        lambda: job_row(engine, job_id)["attempt"] == 2,
        20,
        "the sweeper to hand the job to the new worker",
    )
    assert sum(p["expired"] for p in passes) == 1
    done = wait_done(engine, job_id)
    recovered = time.monotonic() - killed_at

    assert done["status"] == "completed", done
    assert done["attempt"] == 2 and done["error"] is None
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == 1
    rows, distinct = stored_reviews(engine, asin)
    assert rows == distinct == done["result"]["reviewsFound"] > 0
    assert slot_members(rt, t.org_id) == set()
    holder, ttl = cooldown_holder(rt, t.org_id, asin)
    assert holder == job_id and ttl > 80_000  # a completed job keeps its cooldown
    print(
        f"\nSIGKILL recovery: completed {recovered:.1f}s after the kill "
        f"(lease {rt.settings.lease_seconds}s), attempt {done['attempt']}"
    )


def test_frozen_worker_that_wakes_up_late_changes_nothing(
    client, engine, rt, sim, simulator, spawn_worker
):
    """SIGSTOP (a stalled VM, a GC pause): its lease lapses, another worker completes the job,
    and when the first one wakes up the attempt fence discards its result."""
    t = make_tenant(engine)
    asin = asin_with_pages(simulator, 2, prefix="B0FROZE")
    sim.faults(latency_ms=1000)
    frozen = spawn_worker()
    job_id = submit(client, t, asin)["jobId"]
    wait_status(engine, job_id, ("running",), timeout=20)
    frozen.pause()
    sim.faults()
    spawn_worker()
    # frozen, it cannot extend its lease: its lease runs out (moved back, not waited for)
    age_job(engine, job_id, rt.settings.lease_seconds, column="lease_until")
    sweep_until(
        rt,
        lambda: job_row(engine, job_id)["status"] == "completed",
        30,
        "another worker to complete the job",
    )
    frozen.resume()
    wait_until(
        lambda: "result discarded" in frozen.log(),
        20,
        "the woken worker to find its attempt superseded",
    )

    done = job_row(engine, job_id)
    assert (done["status"], done["attempt"]) == ("completed", 2)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == 1
    rows, distinct = stored_reviews(engine, asin)
    assert rows == distinct == done["result"]["reviewsFound"]


def test_slow_live_worker_keeps_its_lease(client, engine, rt, sim, simulator, spawn_worker):
    """A fetch longer than the lease is not taken away while its worker is alive."""
    t = make_tenant(engine)
    asin = asin_with_pages(simulator, 3, prefix="B0SLOWW")
    sim.faults(latency_ms=1200)  # three pages: ~3.6 s, the lease is 2 s
    spawn_worker()
    job_id = submit(client, t, asin)["jobId"]
    wait_status(engine, job_id, ("running",), timeout=20)
    passes = sweep_until(
        rt, lambda: job_row(engine, job_id)["status"] != "running", 30, "the slow job to finish"
    )
    done = wait_done(engine, job_id)
    assert sum(p["expired"] for p in passes) == 0
    assert (done["status"], done["attempt"]) == ("completed", 1)
    assert sim.review_requests(asin) == 3  # fetched once, not twice
