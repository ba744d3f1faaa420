"""Between the commit and the broker: a publish that never happens is sent by the sweeper;
a message delivered twice (or a task body run twice) has its effect once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from freshet.accounts import ledger as usage
from freshet.accounts import tenants
from freshet.jobs import lifecycle as jobs
from freshet.jobs.runner import run_job
from freshet.jobs.sweeper import sweep
from tests.factories import age_job, make_tenant
from tests.fault.support import (
    job_row,
    ledger_kinds,
    review_jobs_used,
    stored_reviews,
    submit,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.fault


def _crash(*_a: object, **_k: object) -> None:
    raise ConnectionError("the process died between the commit and the publish")


def test_crash_between_commit_and_publish_is_sent_by_the_sweeper(
    client, engine, rt, spawn_worker, monkeypatch, settings
):
    t = make_tenant(engine)
    spawn_worker()
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", _crash)
        body = submit(client, t, "B0ORPHAN01")  # still 202: the job row is what counts
    job_id = body["jobId"]
    job = job_row(engine, job_id)
    assert job["status"] == "queued" and job["dispatched_at"] is None
    time.sleep(0.5)
    assert job_row(engine, job_id)["status"] == "queued"  # no message: nothing runs

    assert sweep(rt)["dispatched"] == 0  # too fresh: its publish may still be under way
    age_job(engine, job_id, 5)  # past the sweeper's grace for a publish under way
    sent = sweep(rt)["dispatched"]
    assert sent == 1
    done = wait_done(engine, job_id)
    assert (done["status"], done["attempt"]) == ("completed", 1)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert sweep(rt)["dispatched"] == 0  # sent once, not on every pass


def test_a_sync_refresh_whose_publish_fails_is_sent_by_the_sweeper(
    client, engine, rt, spawn_worker, monkeypatch, settings
):
    """A sync product refresh writes dispatched_at with its job (no second transaction); a
    publish that fails clears it, so the sweeper sends the job after its short grace."""
    t = make_tenant(engine)
    monkeypatch.setattr(rt, "settings", settings.with_overrides(sync_wait_seconds=0.2))
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", _crash)
        resp = client.post("/v1/products/700123456/refresh", headers=t.headers)
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["jobId"]
    assert job_row(engine, job_id)["dispatched_at"] is None  # the failed publish unmarked it
    spawn_worker(queues="interactive")
    age_job(engine, job_id, 5)
    assert sweep(rt)["dispatched"] == 1
    done = wait_done(engine, job_id)
    assert (done["status"], done["attempt"]) == ("completed", 1)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]


def test_lost_dispatch_mark_after_publish_still_answers_202(client, engine, rt, monkeypatch):
    """Published, then Postgres fails before dispatched_at is written: the job exists and is
    on its way, so the answer must be 202 (a 503 would invite a duplicate submission)."""
    t = make_tenant(engine)

    def mark_fails(*_a: object, **_k: object) -> None:
        raise OperationalError("UPDATE jobs", {}, Exception("server closed the connection"))

    monkeypatch.setattr(jobs, "mark_dispatched", mark_fails)
    resp = client.post("/api/v1/reviews/refresh", json={"asin": "B0MARKLOST"}, headers=t.headers)
    assert resp.status_code == 202, resp.get_json()
    assert job_row(engine, resp.get_json()["jobId"])["status"] == "queued"


def test_redelivered_message_runs_once_and_charges_once(
    client, engine, rt, spawn_worker, monkeypatch
):
    t = make_tenant(engine)
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", lambda _d: None)
        job_id = submit(client, t, "B0TWICE001")["jobId"]
    worker = spawn_worker(concurrency=4)
    dispatch = rt.kinds.dispatch(job_id, "reviews")
    rt.publisher.publish([dispatch, dispatch, dispatch])  # at-least-once, taken literally
    done = wait_done(engine, job_id)
    wait_until(lambda: worker.log().count("succeeded in") >= 3, 10, "all three deliveries")
    assert (done["status"], done["attempt"]) == ("completed", 1)
    assert worker.log().count("job completed") == 1  # the two others found nothing to claim
    for secret in (t.key, tenants.hash_key(t.key)):  # the worker never sees the caller's key
        assert secret not in worker.log()
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert review_jobs_used(engine, t.org_id) == 1
    rows, distinct = stored_reviews(engine, "B0TWICE001")
    assert rows == distinct == done["result"]["reviewsFound"]

    # the task body run again by hand, and the settlement repeated: nothing changes
    assert run_job(rt, job_id, "reviews") == "skipped"
    with engine.begin() as conn:
        assert jobs.finish(conn, job_id, 1, "completed", result={}) is False
        assert usage.settle(conn, job_id, charge=True) == 0
        assert usage.settle(conn, job_id, charge=False) == 0
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert job_row(engine, job_id)["result"] == done["result"]


def test_task_bodies_racing_on_one_job_claim_it_once(client, engine, rt, monkeypatch):
    t = make_tenant(engine)
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", lambda _d: None)
        job_id = submit(client, t, "B0RACE0001")["jobId"]
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def body() -> None:
        start.wait()
        outcomes.append(run_job(rt, job_id, "reviews"))

    threads = [threading.Thread(target=body) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes) == ["completed"] + ["skipped"] * 7
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    rows, distinct = stored_reviews(engine, "B0RACE0001")
    assert rows == distinct
