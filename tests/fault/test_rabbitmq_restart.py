"""RabbitMQ, the durable broker, restarted under load: nothing lost, nothing run twice.

Runs only when the suite runs on RabbitMQ (`FRESHET_TEST_BROKER=rabbitmq`, as `.ci/run`'s
second pass does). The queued messages live in quorum queues the broker confirmed, so they
come back with the node: the sweeper never has to re-send them. Jobs that were running when
the connection dropped are cancelled by their worker (acks late: the message goes back), the
redelivery meets a `running` row and is dropped at claim, and the sweeper requeues the job
when its lease ends: it completes once, is charged once.
"""

from __future__ import annotations

import time

import pytest

from freshet.jobs.sweeper import sweep
from tests.factories import make_tenant
from tests.fault.support import job_row, ledger_kinds, review_jobs_used, submit

pytestmark = pytest.mark.fault


def test_rabbitmq_restart_under_load_loses_nothing_and_runs_nothing_twice(
    client, engine, rt, sim, spawn_worker, rabbit_vhost
):
    if rabbit_vhost is None:
        pytest.skip("runs on RabbitMQ only (FRESHET_TEST_BROKER=rabbitmq)")
    t = make_tenant(engine, concurrent_jobs=50, requests_per_minute=1000)
    sim.faults(latency_ms=1000)
    spawn_worker(concurrency=2)
    ids = [submit(client, t, f"B0RABBIT{i:02d}")["jobId"] for i in range(20)]
    deadline = time.monotonic() + 20
    while not any(job_row(engine, j)["status"] == "running" for j in ids):
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.05)
    before = {j: job_row(engine, j)["status"] for j in ids}
    waiting = [j for j, s in before.items() if s == "queued"]
    assert waiting, "the restart should find messages waiting in the broker"

    rabbit_vhost.restart_node()  # every connection drops; the quorum queues come back
    restarted_at = time.monotonic()
    sim.faults()

    resent_queued = 0
    deadline = time.monotonic() + 90
    while any(job_row(engine, j)["status"] in ("queued", "running") for j in ids):
        assert time.monotonic() < deadline, {j: job_row(engine, j)["status"] for j in ids}
        counts = sweep(rt)
        resent_queued += counts["dispatched"] - counts["expired"]
        time.sleep(0.3)
    recovered = time.monotonic() - restarted_at

    done = [job_row(engine, j) for j in ids]
    assert [d["status"] for d in done] == ["completed"] * len(ids), done
    for job_id in ids:  # charged once each: one reserve, one charge, never a second
        assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == len(ids)
    attempts = [d["attempt"] for d in done]
    assert max(attempts) <= 2  # at most the in-flight ones ran a second attempt (lease)
    # the jobs waiting in the broker ran once, from the message it kept (two of them may
    # have started in the seconds stop_app takes, and been cut off like the others)
    assert sum(job_row(engine, j)["attempt"] == 1 for j in waiting) >= len(waiting) - 2
    assert resent_queued <= 0, "the sweeper re-sent messages the broker still held"
    print(
        f"\nRabbitMQ restart: {len(ids)} jobs ({len(waiting)} waiting in the broker) completed "
        f"{recovered:.1f}s after the restart; attempts {attempts}"
    )
