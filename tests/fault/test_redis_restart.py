"""Redis is only a cache of what Postgres knows: lose it with jobs queued and nothing is lost."""

from __future__ import annotations

import time

import pytest
import redis

from freshet.jobs.sweeper import sweep
from tests.factories import age_jobs, make_tenant
from tests.fault.support import (
    URL,
    cooldown_holder,
    job_row,
    ledger_kinds,
    review_jobs_used,
    slot_members,
    submit,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.fault


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:  # the first command after a restart may find a dead socket
        return False


def test_redis_restart_with_jobs_queued_loses_nothing(
    client, engine, rt, redis_server, spawn_worker, settings, redis_broker
):
    t = make_tenant(engine, concurrent_jobs=10, requests_per_minute=100)
    asins = [f"B0REDIS{i:03d}" for i in range(6)]
    ids = [submit(client, t, a)["jobId"] for a in asins]
    assert slot_members(rt, t.org_id) == set(ids)
    assert rt.redis.llen("reviews") == len(ids)  # the broker holds one message per job

    redis_server.restart()  # broker messages, slots, cooldowns, rate windows: all gone
    restarted_at = time.monotonic()
    wait_until(lambda: _ping(rt.redis), 10, "Redis to answer again")
    assert rt.redis.dbsize() == 0
    spawn_worker()
    time.sleep(0.5)
    assert {job_row(engine, j)["status"] for j in ids} == {"queued"}  # nothing to consume

    # sent long enough ago that any sweeper would send them again, Redis wiped or not
    age_jobs(engine, settings.redispatch_after_seconds, ids, column="dispatched_at")
    counts = sweep(rt)
    assert counts["dispatched"] == len(ids)
    assert counts["cooldowns_restored"] == len(ids)
    for asin, job_id in zip(asins, ids, strict=True):
        holder, ttl = cooldown_holder(rt, t.org_id, asin)
        assert holder == job_id and 86_000 < ttl <= 86_400

    done = [wait_done(engine, j) for j in ids]
    recovered = time.monotonic() - restarted_at
    assert [d["status"] for d in done] == ["completed"] * len(ids)
    assert [d["attempt"] for d in done] == [1] * len(ids)
    for job_id in ids:
        assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == len(ids)
    sweep(rt)
    assert slot_members(rt, t.org_id) == set()
    # the restored cooldown is enforced again, naming the job that holds it
    again = client.post(URL, json={"asin": asins[0]}, headers=t.headers)
    assert again.status_code == 429 and again.get_json()["jobId"] == ids[0]
    print(
        f"\nRedis restart: {len(ids)} jobs completed {recovered:.1f}s after the restart "
        f"(redispatch after {settings.redispatch_after_seconds}s)"
    )


def test_sweeper_rebuilds_slots_of_running_jobs_after_redis_loss(client, engine, rt, redis_server):
    """Open jobs get their slots back, so the plan's concurrency holds after a Redis loss."""
    t = make_tenant(engine, concurrent_jobs=2)
    ids = [submit(client, t, a)["jobId"] for a in ("B0SLOTS001", "B0SLOTS002")]
    redis_server.restart()
    wait_until(lambda: _ping(rt.redis), 10, "Redis to answer again")
    assert slot_members(rt, t.org_id) == set()
    sweep(rt)
    assert slot_members(rt, t.org_id) == set(ids)
    third = client.post(URL, json={"asin": "B0SLOTS003"}, headers=t.headers)
    assert third.status_code == 429 and third.get_json()["code"] == "too_many_concurrent_jobs"


def test_worker_alive_through_a_redis_restart_resumes(
    client, engine, rt, redis_server, sim, spawn_worker, settings, redis_broker
):
    """Two jobs running, four waiting in the broker, then Redis restarts under the worker:
    the running ones finish, the worker reconnects, the sweeper re-sends the lost four."""
    t = make_tenant(engine, concurrent_jobs=10, requests_per_minute=100)
    sim.faults(latency_ms=800)
    spawn_worker(concurrency=2)
    ids = [submit(client, t, f"B0ALIVE{i:03d}")["jobId"] for i in range(6)]
    wait_until(
        lambda: sum(job_row(engine, j)["status"] == "running" for j in ids) == 2,
        20,
        "two jobs running",
    )
    redis_server.restart()
    restarted_at = time.monotonic()
    wait_until(lambda: _ping(rt.redis), 10, "Redis to answer again")
    sim.faults()
    done = []
    deadline = time.monotonic() + 60
    for job_id in ids:
        while job_row(engine, job_id)["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "jobs did not recover"
            sweep(rt)
            time.sleep(0.3)
        done.append(job_row(engine, job_id))
    recovered = time.monotonic() - restarted_at
    assert [d["status"] for d in done] == ["completed"] * len(ids), done
    for job_id in ids:
        assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == len(ids)
    sweep(rt)
    assert slot_members(rt, t.org_id) == set()
    print(
        f"\nRedis restart under a live worker: all {len(ids)} jobs completed "
        f"{recovered:.1f}s after the restart; attempts {[d['attempt'] for d in done]}"
    )
