"""Running one job as a worker does (issue #11): the claim reads the job in the same
statement, the completion stores, finishes and charges in one, fenced by the attempt; a job
its host makes wait is queued again as if never claimed; one keeper renews every lease."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError

from freshet import accounts, hosts, jobs
from freshet.jobs import signals
from freshet.jobs.leases import LeaseKeeper
from freshet.jobs.runner import RetryLater
from freshet.runtime import Runtime
from freshet.settings import Settings
from freshet.wiring import build_runtime
from store.db import execute_prepared
from tests.factories import age_job, ledger_kinds, make_catalog, make_job, make_tenant
from workers.publish import NullPublisher


@pytest.fixture
def worker_rt(settings: Settings) -> Iterator[Runtime]:
    """A runtime built as a worker builds its own: the statement engine commits durably."""
    rt = build_runtime(settings, NullPublisher(), pool_size=2, statements_async=False)
    yield rt
    rt.close()


def _batch_target(client: Any, engine: Any, simulator: Any, politeness: float | None = None) -> int:
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/runner"], politeness)
    t = make_tenant(engine, catalogs=["shop"])
    url = f"{simulator.url}/shops/runner/products/p-{uuid.uuid4().hex[:8]}"
    resp = client.post(
        "/v1/products/refresh",
        json={"targets": [{"catalog": "shop", "url": url}]},
        headers=t.headers,
    )
    assert resp.status_code == 202, resp.get_json()
    with engine.connect() as conn:
        job_id: int = conn.execute(
            text("SELECT id FROM jobs WHERE workflow_id = :w"),
            {"w": uuid.UUID(resp.get_json()["workflowId"])},
        ).scalar_one()
    return job_id


def _row(engine: Any, job_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()


def _count(engine: Any, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_a_product_leader_completes_its_followers_in_its_one_statement(
    engine, simulator, worker_rt
):
    from freshet.products import flight
    from freshet.products.ids import walmart_target

    t = make_tenant(engine)
    target = walmart_target(worker_rt.settings, "19667262713")
    leader = make_job(engine, t, cost=9, url=target.url, params=target.params())
    follower = make_job(engine, t, cost=1, url=target.url, params=target.params())
    flight.attach(worker_rt, follower, leader)
    pubsub = worker_rt.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(signals.channel(worker_rt.prefix, follower))
    assert jobs.run_job(worker_rt, leader, "product") == "completed"
    lead, fol = _row(engine, leader), _row(engine, follower)
    assert (lead.status, fol.status) == ("completed", "completed")
    assert lead.result["productId"] == str(lead.product_id) == str(fol.product_id)
    assert fol.result == lead.result | {"sharedFetchJobId": leader}
    assert ledger_kinds(engine, leader) == ledger_kinds(engine, follower) == ["reserve", "charge"]
    with engine.connect() as conn:  # the tokens charged once each, and settled
        assert accounts.ledger_totals(conn, t.org_id)["tokens"] == 10
        assert (
            _count(
                engine, "SELECT count(*) FROM ledger WHERE kind = 'reserve' AND settled_at IS NULL"
            )
            == 0
        )
    woken = [pubsub.get_message(timeout=0.5) for _ in range(4)]  # the subscription's own first
    assert any(woken)  # the follower's waiter was woken
    pubsub.close()


def test_a_follower_the_completion_did_not_see_is_settled_after_it(engine, simulator, worker_rt):
    from freshet.products import worker as product_worker
    from freshet.products.ids import walmart_target

    t = make_tenant(engine)
    target = walmart_target(worker_rt.settings, "19667262713")
    leader = make_job(engine, t, cost=9, url=target.url, params=target.params())
    job = worker_rt.once(lambda conn: jobs.claim(conn, leader, 60))
    record = product_worker.HANDLER.fetch(worker_rt, job)
    assert worker_rt.once(
        lambda conn: product_worker.HANDLER.complete(conn, worker_rt, job, record)
    )
    # Attached (committed) while the completion waited for the leader's row: its snapshot
    # did not hold it, so the completion left it queued.
    late = make_job(engine, t, cost=1, leader_job_id=leader, params=target.params())
    product_worker.HANDLER.after(worker_rt, job, "completed")
    assert _row(engine, late).status == "completed"
    assert _row(engine, late).result["sharedFetchJobId"] == leader
    assert ledger_kinds(engine, late) == ["reserve", "charge"]


def test_a_batch_target_completes_in_one_statement_stored_and_charged_once(
    client, engine, simulator, worker_rt
):
    job_id = _batch_target(client, engine, simulator)
    assert jobs.run_job(worker_rt, job_id, "batch_target") == "completed"
    job = _row(engine, job_id)
    assert (job.status, job.attempt, job.lease_until, job.error) == ("completed", 1, None, None)
    assert job.result["productId"] == str(job.product_id)
    assert set(job.result) == {"productId", "productTitle", "price", "currency", "inStock"}
    with engine.connect() as conn:
        product = conn.execute(
            text("SELECT catalog_id, url, data FROM products WHERE id = :p"), {"p": job.product_id}
        ).one()
    assert (
        product.catalog_id == job.catalog_id and product.data["title"] == job.result["productTitle"]
    )
    assert _count(engine, "SELECT count(*) FROM price_observations") == 1
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    # the same statement marks the reservation settled: the sweeper has nothing to settle
    unmarked = "SELECT count(*) FROM ledger WHERE kind = 'reserve' AND settled_at IS NULL"
    assert _count(engine, unmarked) == 0
    with engine.connect() as conn:
        assert accounts.unsettled_job_ids(conn) == []
        workflow = conn.execute(
            text("SELECT status FROM workflows WHERE id = :w"), {"w": job.workflow_id}
        ).scalar_one()
    assert workflow == "completed"  # its last job's end finished it
    # A second delivery of the same message finds nothing to claim.
    assert jobs.run_job(worker_rt, job_id, "batch_target") == "skipped"
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]


def test_a_completion_fenced_off_writes_nothing(client, engine, simulator, worker_rt):
    job_id = _batch_target(client, engine, simulator)
    job = worker_rt.once(lambda conn: jobs.claim(conn, job_id, 60))
    record = jobs_handler(worker_rt).fetch(worker_rt, job)
    jobs.cancel_job(worker_rt, job_id, None)  # cancelled while it fetched
    done = worker_rt.once(
        lambda conn: jobs_handler(worker_rt).complete(conn, worker_rt, job, record)
    )
    assert done is False
    assert _row(engine, job_id).status == "cancelled"
    assert _count(engine, "SELECT count(*) FROM products") == 0
    assert _count(engine, "SELECT count(*) FROM price_observations") == 0
    assert ledger_kinds(engine, job_id) == ["reserve", "refund"]  # refunded by the cancel only


def test_a_completion_run_again_after_a_lost_answer_says_done_and_writes_nothing_more(
    client, engine, simulator, worker_rt
):
    job_id = _batch_target(client, engine, simulator)
    job = worker_rt.once(lambda conn: jobs.claim(conn, job_id, 60))
    handler = jobs_handler(worker_rt)
    record = handler.fetch(worker_rt, job)
    assert worker_rt.once(lambda conn: handler.complete(conn, worker_rt, job, record))
    # The answer was lost with the connection: Runtime.once runs the statement again.
    assert worker_rt.once(lambda conn: handler.complete(conn, worker_rt, job, record))
    assert _count(engine, "SELECT count(*) FROM products") == 1
    assert _count(engine, "SELECT count(*) FROM price_observations") == 1
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]


def _drop_every_other_connection(engine: Any) -> None:
    """What a Postgres restart does to the pooled connections of every other process."""
    with engine.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert dropped > 0


@pytest.mark.parametrize("once", ["once", "once_direct"])
def test_a_claim_and_a_completion_on_connections_postgres_dropped_run_again_on_fresh_ones(
    engine, worker_rt, once
):
    run = getattr(worker_rt, once)  # the runner's (once_direct), or with SQLAlchemy around
    t = make_tenant(engine)
    job_id = make_job(
        engine, t, "reviews", asin=f"B0DROP{once[-4:].upper()}", marketplace="amazon.de"
    )
    worker_rt.once(lambda conn: conn.execute(text("SELECT 1")))  # pooled connections
    worker_rt.once_direct(lambda conn: execute_prepared(conn, "SELECT 1", {}))
    _drop_every_other_connection(engine)
    job = run(lambda conn: jobs.claim(conn, job_id, 60))
    assert job is not None and job["attempt"] == 1
    handler = worker_rt.kinds["reviews"].handler
    pages = handler.fetch(worker_rt, job)
    _drop_every_other_connection(engine)
    assert run(lambda conn: handler.complete(conn, worker_rt, job, pages))
    assert (_row(engine, job_id).status, _row(engine, job_id).attempt) == ("completed", 1)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]


def test_a_statement_straight_through_psycopg_fails_as_sqlalchemy_would(engine, worker_rt):
    # The dead connection: SQLAlchemy's OperationalError, saying the connection is gone.
    with worker_rt.statements.connect() as conn:
        conn.execute(text("SELECT 1"))
        _drop_every_other_connection(engine)
        with pytest.raises(OperationalError) as dead:
            execute_prepared(conn, "SELECT 1", {})
    assert dead.value.connection_invalidated
    # A value Postgres refuses: SQLAlchemy's DataError (the runner fails such a job at once).
    with worker_rt.statements.connect() as conn, pytest.raises(DataError) as refused:
        execute_prepared(conn, "SELECT CAST(%(n)s AS smallint)", {"n": 10**6})
    assert not refused.value.connection_invalidated
    assert "out of range" in str(refused.value.orig)


def test_a_review_job_completes_in_one_statement(engine, worker_rt):
    t = make_tenant(engine)
    job_id = make_job(engine, t, "reviews", asin="B0RUNNER01", marketplace="amazon.de")
    assert jobs.run_job(worker_rt, job_id, "reviews") == "completed"
    job = _row(engine, job_id)
    assert job.status == "completed" and job.result["reviewsFound"] > 0
    found = _count(engine, "SELECT count(*) FROM reviews WHERE asin = 'B0RUNNER01'")
    assert found == job.result["reviewsFound"]
    assert _count(engine, "SELECT count(*) FROM review_products WHERE asin = 'B0RUNNER01'") == 1
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    unmarked = "SELECT count(*) FROM ledger WHERE kind = 'reserve' AND settled_at IS NULL"
    assert _count(engine, unmarked) == 0


def test_a_job_its_host_makes_wait_is_queued_again_as_if_never_claimed(
    client, engine, simulator, worker_rt
):
    job_id = _batch_target(client, engine, simulator, politeness=1.0)
    job = _row(engine, job_id)
    up = jobs_handler(worker_rt).upstream(worker_rt, dict(job._mapping))
    assert hosts.admit(worker_rt, up) == 0  # someone else's request takes the host's slot
    with pytest.raises(RetryLater):
        jobs.run_job(worker_rt, job_id, "batch_target")
    job = _row(engine, job_id)
    assert (job.status, job.attempt, job.started_at, job.lease_until) == ("queued", 0, None, None)
    assert job.max_attempts == 3  # nothing spent, nothing given: it never ran
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT dispatched_at > now() FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar()
    assert ledger_kinds(engine, job_id) == ["reserve"]


def test_redis_away_at_the_admission_gives_the_claim_back(client, engine, simulator, settings):
    job_id = _batch_target(client, engine, simulator)
    away = build_runtime(
        settings.with_overrides(redis_url="redis://127.0.0.1:1/0"),
        NullPublisher(),
        pool_size=1,
        statements_async=False,
    )
    try:
        with pytest.raises(redis.ConnectionError):
            jobs.run_job(away, job_id, "batch_target")
    finally:
        away.close()
    job = _row(engine, job_id)
    assert (job.status, job.attempt, job.started_at) == ("queued", 0, None)


def test_one_keeper_renews_every_running_job_and_lets_go_of_a_cancelled_one(engine, worker_rt):
    t = make_tenant(engine)
    ids = [make_job(engine, t, "reviews", asin=f"B0KEEPER0{i}") for i in range(2)]
    claimed = [worker_rt.once(lambda conn, i=i: jobs.claim(conn, i, 60)) for i in ids]
    keeper = LeaseKeeper(worker_rt)
    with keeper.hold(ids[0], claimed[0]["attempt"]), keeper.hold(ids[1], claimed[1]["attempt"]):
        for job_id in ids:
            age_job(engine, job_id, 120, column="lease_until")
        keeper.beat()
        with engine.connect() as conn:
            fresh = conn.execute(
                text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND lease_until > now()"),
                {"ids": ids},
            ).scalar()
        assert fresh == 2
        jobs.cancel_job(worker_rt, ids[1], None)
        keeper.beat()
        assert keeper.held() == [(ids[0], 1)]
    assert keeper.held() == []


def jobs_handler(rt: Runtime) -> Any:
    return rt.kinds["batch_target"].handler
