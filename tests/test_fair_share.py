"""Fair share between organizations (issue #14 item 1): the dispatcher's order over Postgres,
the sweeper leaving that order alone, a small batch behind another organization's backlog
with real workers and the simulator at 200 ms, and queue order within a worker."""

from __future__ import annotations

import base64
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import text

from freshet import jobs
from freshet.jobs import lifecycle
from freshet.jobs.sweeper import redispatch
from tests.factories import make_catalog, make_tenant

WINDOW = 8


@pytest.fixture
def settings(base_settings):
    return base_settings.with_overrides(fair_share_window=WINDOW)


def _queue_jobs(engine, rt, org_id: int, n: int) -> list[int]:
    with engine.begin() as conn:
        ids = lifecycle.allocate_ids(conn, n)
        for i in ids:
            lifecycle.insert(
                conn,
                rt.kinds["batch_target"],
                id=i,
                org_id=org_id,
                max_attempts=3,
                url=f"http://127.0.0.1:9/p/{i}",
                params={"source": "jsonld", "domains": ["127.0.0.1:9"]},
            )
    return ids


def _orgs_of(engine, ids: list[int]) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT org_id FROM jobs WHERE id = ANY(:ids)"), {"ids": ids}
        ).all()
    return Counter(r.org_id for r in rows)


def test_the_window_is_shared_in_turn_and_by_weight(engine, rt, published):
    a, b = make_tenant(engine), make_tenant(engine)
    _queue_jobs(engine, rt, a.org_id, 20)  # A's backlog is older
    _queue_jobs(engine, rt, b.org_id, 3)
    assert jobs.dispatch_fair(rt) == WINDOW
    assert _orgs_of(engine, published.sent) == {a.org_id: 5, b.org_id: 3}  # in turn
    assert jobs.dispatch_fair(rt) == 0  # the window is full: nothing more reaches the broker

    heavy = make_tenant(engine, fair_share_weight=3)
    with engine.begin() as conn:  # A's places free up
        conn.execute(
            text("UPDATE jobs SET status = 'completed' WHERE id = ANY(:ids)"),
            {"ids": published.sent},
        )
    _queue_jobs(engine, rt, heavy.org_id, 20)
    published.sent.clear()
    assert jobs.dispatch_fair(rt) == WINDOW
    # A holds 0 of 15 waiting, heavy 0 of 20 at weight 3: heavy gets three places to A's one
    assert _orgs_of(engine, published.sent) == {a.org_id: 2, heavy.org_id: 6}


def test_job_ends_inside_the_tick_leave_a_pass_that_runs_after_it(engine, rt, published):
    # The window's last jobs ending within one tick of the pass before them: without a
    # trailing pass nothing would publish the rest until the sweeper's next pass.
    a = make_tenant(engine)
    _queue_jobs(engine, rt, a.org_id, WINDOW + 3)
    assert jobs.dispatch_fair(rt, job_ended=True) == WINDOW  # takes the tick
    with engine.begin() as conn:  # the whole window ends at once
        conn.execute(
            text("UPDATE jobs SET status = 'completed' WHERE id = ANY(:ids)"),
            {"ids": published.sent},
        )
    published.sent.clear()
    assert jobs.dispatch_fair(rt, job_ended=True) == 0  # inside the tick: no pass now
    assert jobs.dispatch_fair(rt, job_ended=True) == 0  # one trailing pass for both
    deadline = time.monotonic() + 5
    while len(published.sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(published.sent) == 3  # the rest, published once the tick was over


def test_a_pass_puts_its_picks_on_the_broker_in_fair_order_and_marks_them(
    engine, rt, settings, redis_broker
):
    import json

    import redis

    a, b = make_tenant(engine), make_tenant(engine)
    a_ids = _queue_jobs(engine, rt, a.org_id, 20)
    b_ids = _queue_jobs(engine, rt, b.org_id, 3)
    assert jobs.dispatch_fair(rt) == WINDOW  # the real publisher (its one-pipeline path)
    with redis.Redis.from_url(settings.broker_url) as broker:
        raw = broker.lrange("batch", 0, -1)[::-1]  # LPUSHed: the first sent is on the right
    messages = [json.loads(m) for m in raw]
    assert {m["headers"]["task"] for m in messages} == {"freshet.batch.refresh_target"}
    sent = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    # in turn (A's older jobs first at each turn), as the window's places were given out
    turns = [a_ids[0], b_ids[0], a_ids[1], b_ids[1], a_ids[2], b_ids[2], a_ids[3], a_ids[4]]
    assert sent == turns
    with engine.connect() as conn:
        marked = conn.execute(
            text("SELECT id FROM jobs WHERE dispatched_at IS NOT NULL ORDER BY id")
        ).scalars()
        assert sorted(sent) == list(marked)


def test_jobs_parked_by_their_host_hold_back_only_their_own_organization(engine, rt, published):
    a, b = make_tenant(engine), make_tenant(engine)
    parked = _queue_jobs(engine, rt, a.org_id, WINDOW)
    with engine.begin() as conn:  # A's jobs wait 30 s for a paused host
        lifecycle.mark_dispatched(conn, parked, delay=30)
    _queue_jobs(engine, rt, a.org_id, 5)
    _queue_jobs(engine, rt, b.org_id, 2)
    jobs.dispatch_fair(rt)
    assert _orgs_of(engine, published.sent) == {b.org_id: 2}  # A is at its share already


def test_the_sweeper_hands_lost_fair_share_jobs_back_instead_of_publishing_them(
    engine, rt, published
):
    a = make_tenant(engine)
    waiting = _queue_jobs(engine, rt, a.org_id, 30)
    lost = waiting[:3]
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET created_at = now() - interval '1 hour'"))
        conn.execute(
            text("UPDATE jobs SET dispatched_at = now() - interval '1 hour' WHERE id = ANY(:i)"),
            {"i": lost},
        )
    assert redispatch(rt, 500) == 3
    assert published.sent == []  # the 27 never sent stay with the dispatcher, in order
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM jobs WHERE dispatched_at IS NULL AND id = ANY(:i)"),
                {"i": lost},
            ).scalar()
            == 3
        )
    assert jobs.dispatch_fair(rt) == WINDOW
    assert published.sent[:3] == lost  # first in line for their organization again


@pytest.mark.e2e
def test_a_small_batch_behind_another_organizations_backlog_starts_at_once(
    client, engine, worker, simulator
):
    requests.put(simulator.url + "/_sim/faults", json={"latency_ms": 200}, timeout=5)
    make_catalog(engine, "fair", "jsonld", [f"{simulator.host}/sites/fair"])
    a = make_tenant(engine, catalogs=["fair"], monthly_tokens=10_000)
    b = make_tenant(engine, catalogs=["fair"])
    base = f"{simulator.url}/sites/fair/p/"
    big = client.post(
        "/v1/products/refresh",
        json={"targets": [{"url": f"{base}a-{i}"} for i in range(300)]},
        headers=a.headers,
    )
    assert big.status_code == 202
    time.sleep(2.0)  # A's backlog is flowing
    submitted = time.monotonic()
    small = client.post(
        "/v1/products/refresh", json={"targets": [{"url": f"{base}b-0"}]}, headers=b.headers
    ).get_json()
    waited = None
    while time.monotonic() - submitted < 20:
        wf = client.get(f"/v1/workflows/{small['workflowId']}", headers=b.headers).get_json()
        if wf["status"] == "completed":
            waited = time.monotonic() - submitted
            break
        time.sleep(0.05)
    with engine.connect() as conn:
        a_done = conn.execute(
            text("SELECT count(*) FROM jobs WHERE org_id = :o AND status = 'completed'"),
            {"o": a.org_id},
        ).scalar()
    print(f"\nB's one target completed {waited}s after submission; A had {a_done}/300 done")
    assert waited is not None and waited < 5.0, waited
    assert a_done < 250  # B did not simply wait for A's backlog to end
    client.post(f"/v1/workflows/{big.get_json()['workflowId']}/cancel", headers=a.headers)


@pytest.mark.e2e
def test_a_worker_takes_interactive_before_reviews_before_batch(celery_app, redis_broker):
    """On the Redis broker (BRPOP in priority order); RabbitMQ's quorum queues have no such
    order (README, "Many tenants on one fleet")."""
    from celery.contrib.testing.worker import start_worker

    seen: list[str] = []

    @celery_app.task(name="tests.queue_probe")
    def probe(label: str) -> None:
        seen.append(label)

    for queue in ("batch", "reviews", "interactive"):  # the least urgent sent first
        for i in range(3):
            probe.apply_async(args=[f"{queue}-{i}"], queue=queue)
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        queues=["interactive", "reviews", "batch", "default"],
    ):
        deadline = time.monotonic() + 20
        while len(seen) < 9 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [s.split("-")[0] for s in seen] == ["interactive"] * 3 + ["reviews"] * 3 + [
        "batch"
    ] * 3, seen
