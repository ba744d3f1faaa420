"""Postgres or Redis down under a stream of submissions: the Descripio endpoints' outage
answer (its `500 service_error`, with Retry-After) in the shared envelope, nothing
half-written, and service resumes by itself when the backend is back."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from store.db import make_engine, upgrade
from tests.factories import make_product, make_tenant
from tests.fault import pg
from tests.fault.support import URL, review_jobs_used, wait_until

pytestmark = pytest.mark.fault


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def publish(self, dispatches: list) -> None:
        self.sent += [d.job_id for d in dispatches]


@pytest.fixture(scope="module")
def _cluster() -> Iterator[pg.PgCluster]:
    why = pg.available()
    if why:
        pytest.skip(f"cannot make a throwaway Postgres cluster: {why}")
    cluster = pg.PgCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def own_postgres(_cluster: pg.PgCluster) -> Iterator[pg.PgCluster]:
    """A Postgres of the test's own, which it may stop; running again afterwards."""
    yield _cluster
    if not _cluster.is_running():
        _cluster.start()


OUTAGE = 500  # Descripio's error table: a backing-service outage is its 500 service_error


def assert_unavailable(resp) -> None:
    assert resp.status_code == OUTAGE, (resp.status_code, resp.get_data(as_text=True))
    body = resp.get_json()
    assert body["code"] == "service_error" and body["error"] and body["message"]
    assert int(resp.headers["Retry-After"]) >= 1


def ledger_invariants(engine) -> dict[str, int]:
    """Every job has exactly one reservation, every reservation a job, and the month's
    counter equals what the ledger says is held."""
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
        jobs_without = q(
            "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM ledger l "
            "WHERE l.job_id = j.id AND l.kind = 'reserve') <> 1"
        )
        reservations_without = q(
            "SELECT count(*) FROM ledger l WHERE l.kind = 'reserve' AND "
            "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = l.job_id)"
        )
        held = q(
            "SELECT coalesce(sum(CASE kind WHEN 'refund' THEN -amount WHEN 'reserve' "
            "THEN amount ELSE 0 END), 0) FROM ledger WHERE resource = 'review_jobs'"
        )
        counted = q("SELECT coalesce(sum(review_jobs_used), 0) FROM usage_periods")
        n_jobs = q("SELECT count(*) FROM jobs")
    assert jobs_without == 0
    assert reservations_without == 0
    assert held == counted
    return {"jobs": n_jobs}


def test_postgres_stopped_during_submissions(own_postgres, settings):
    from api.app import create_app

    url = own_postgres.create_database("stream")
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    t = make_tenant(
        engine, concurrent_jobs=1000, requests_per_minute=10_000, review_jobs_per_month=10_000
    )
    publisher = RecordingPublisher()
    app = create_app(settings.with_overrides(database_url=url), publisher=publisher)
    asins = (f"B0PG{n:06d}" for n in itertools.count())
    statuses: Counter[int] = Counter()
    accepted: list[int] = []
    unexpected: list[tuple[int, str]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def submitter() -> None:
        c = app.test_client()
        while not stop.is_set():
            with lock:
                asin = next(asins)
            r = c.post(URL, json={"asin": asin}, headers=t.headers)
            with lock:
                statuses[r.status_code] += 1
                if r.status_code == 202:
                    accepted.append(r.get_json()["jobId"])
                elif r.status_code == OUTAGE:
                    assert_unavailable(r)
                else:
                    unexpected.append((r.status_code, r.get_data(as_text=True)[:300]))
            time.sleep(0.005)

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    try:
        for th in threads:
            th.start()
        wait_until(lambda: len(accepted) >= 20, 20, "submissions to flow")
        own_postgres.stop("immediate")  # mid-stream: transactions die wherever they are
        stopped_at = time.monotonic()
        client = app.test_client()
        assert_unavailable(client.post(URL, json={"asin": "B0PGDOWN01"}, headers=t.headers))
        assert_unavailable(client.get("/api/v1/jobs/1", headers=t.headers))
        assert client.get("/readyz").status_code == 503
        wait_until(lambda: statuses[OUTAGE] >= 20, 20, "outage answers while Postgres is down")
        before_restart = len(accepted)
        own_postgres.start()
        wait_until(
            lambda: len(accepted) >= before_restart + 20, 30, "submissions to be accepted again"
        )
        recovered = time.monotonic() - stopped_at
    finally:
        stop.set()
        for th in threads:
            th.join(10)
        app.extensions["freshet"].close()

    assert not unexpected, unexpected[:3]
    counts = ledger_invariants(engine)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT id, status FROM jobs"))}
        idem = conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar()
    assert set(accepted) <= set(rows)  # every job answered 202 exists
    assert {r.status for r in rows.values()} == {"queued"}
    # A commit that landed while its answer was lost may leave a job the client never saw;
    # it is whole (reserved, queued) and will run. It can only be a handful at most.
    assert len(rows) - len(accepted) <= len(threads)
    assert idem == 0
    assert client.get("/readyz").status_code == 200
    engine.dispose()
    print(
        f"\nPostgres outage: {dict(statuses)} answers; service back {recovered:.1f}s after "
        f"the stop; {counts['jobs']} jobs, {len(rows) - len(accepted)} committed unseen"
    )


def test_postgres_outage_retried_with_the_same_idempotency_key(own_postgres, settings):
    """A client that retries its outage answer with its Idempotency-Key gets its job, once."""
    from api.app import create_app

    url = own_postgres.create_database("idempotent")
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    t = make_tenant(engine)
    app = create_app(settings.with_overrides(database_url=url), publisher=RecordingPublisher())
    client = app.test_client()
    headers = {**t.headers, "Idempotency-Key": "order-42"}
    try:
        own_postgres.stop("immediate")
        assert_unavailable(client.post(URL, json={"asin": "B0IDEMP001"}, headers=headers))
        own_postgres.start()
        first = client.post(URL, json={"asin": "B0IDEMP001"}, headers=headers)
        second = client.post(URL, json={"asin": "B0IDEMP001"}, headers=headers)
    finally:
        app.extensions["freshet"].close()
    assert first.status_code == 202, first.get_json()
    assert second.status_code == 202 and second.get_json() == first.get_json()
    ledger_invariants(engine)
    engine.dispose()


def test_redis_down_is_an_outage_answer_and_writes_nothing(client, engine, rt, redis_server):
    t = make_tenant(engine)
    redis_server.stop()
    try:
        resp = client.post(URL, json={"asin": "B0REDISDWN"}, headers=t.headers)
        assert_unavailable(resp)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM ledger")).scalar() == 0
            assert (
                conn.execute(
                    text("SELECT coalesce(sum(review_jobs_used), 0) FROM usage_periods")
                ).scalar()
                == 0
            )
    finally:
        redis_server.restart()
    ok = wait_until(
        lambda: client.post(URL, json={"asin": "B0REDISDWN"}, headers=t.headers).status_code == 202,
        10,
        "submissions to work again",
    )
    assert ok


def test_worker_rides_out_a_postgres_outage_mid_job(
    own_postgres, settings, sim, simulator, spawn_worker
):
    """Postgres goes away while a worker is upstream: the worker does not lose the job, and
    once Postgres is back the job completes, charged once."""
    from api.app import create_app
    from freshet.jobs.sweeper import sweep
    from tests.fault.support import asin_with_pages, job_row, ledger_kinds, wait_status

    url = own_postgres.create_database("worker")
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    t = make_tenant(engine)
    local = settings.with_overrides(database_url=url)
    app = create_app(local)
    rt = app.extensions["freshet"]
    asin = asin_with_pages(simulator, 2, prefix="B0PGWRK")
    try:
        sim.faults(latency_ms=1000)
        spawn_worker(settings=local)
        resp = app.test_client().post(URL, json={"asin": asin}, headers=t.headers)
        job_id = resp.get_json()["jobId"]
        wait_status(engine, job_id, ("running",), timeout=20)
        own_postgres.stop("immediate")
        stopped_at = time.monotonic()
        time.sleep(2.5)  # the fetch ends and the worker finds Postgres gone
        own_postgres.start()
        sim.faults()

        def settled() -> bool:
            sweep(rt)
            return job_row(engine, job_id)["status"] == "completed"

        wait_until(settled, 40, "the job to complete after the outage", every=0.3)
        recovered = time.monotonic() - stopped_at
    finally:
        rt.close()
    done = job_row(engine, job_id)
    assert done["status"] == "completed"
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    ledger_invariants(engine)
    engine.dispose()
    print(
        f"\nPostgres outage under a worker: job completed {recovered:.1f}s after the stop "
        f"(down 2.5s), attempt {done['attempt']}"
    )


def test_a_request_that_died_before_its_commit_leaves_its_key_free(client, engine, rt):
    """The key is bound only in the transaction that commits the job, so a request that died
    before that commit (API process killed, Postgres lost) leaves nothing behind: the retry
    runs at once. A request still in flight holds a short-lived marker: a duplicate is 409."""
    import hashlib
    import json

    t = make_tenant(engine)
    raw = json.dumps({"asin": "B0DEADREQ1"}).encode()
    headers = {**t.headers, "Content-Type": "application/json"}
    digest = hashlib.sha256(b"live-1").hexdigest()[:32]
    rt.redis.set(f"{rt.prefix}idem:{t.org_id}:{digest}", "a request in flight", px=60_000)
    live = client.post(URL, data=raw, headers={**headers, "Idempotency-Key": "live-1"})
    assert live.status_code == 409 and live.headers["Retry-After"]  # in flight: retry later
    first = client.post(URL, data=raw, headers={**headers, "Idempotency-Key": "dead-1"})
    assert first.status_code == 202, first.get_json()
    other_body = client.post(
        URL, json={"asin": "B0DEADREQ2"}, headers={**t.headers, "Idempotency-Key": "dead-1"}
    )
    assert other_body.status_code == 422  # the key is bound to its body
    again = client.post(URL, data=raw, headers={**headers, "Idempotency-Key": "dead-1"})
    assert again.status_code == 202 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert review_jobs_used(engine, t.org_id) == 1


def test_a_postgres_crash_forgets_at_most_the_last_moment_of_cached_read_charges(
    own_postgres, settings
):
    """Cached reads commit their charge asynchronously. A crash (immediate stop) during a
    stream of them may forget the last fraction of a second of charges — an under-charge,
    never a double one: the ledger never holds more than was answered 200, and the month's
    counter equals the ledger."""
    from api.app import create_app
    from freshet.products.ids import walmart_target

    url = own_postgres.create_database("asynccommit")
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    t = make_tenant(engine, monthly_tokens=10_000_000, requests_per_minute=100_000)
    s = settings.with_overrides(database_url=url, cached_charge_async_commit=True)
    make_product(engine, walmart_target(s, "19667262713"))
    app = create_app(s, publisher=RecordingPublisher())
    answered: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def reader() -> None:
        c = app.test_client()
        while not stop.is_set():
            r = c.get("/v1/products/19667262713", headers=t.headers)
            with lock:
                answered[r.status_code] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    try:
        for th in threads:
            th.start()
        wait_until(lambda: answered[200] >= 200, 30, "cached reads to flow")
        rate_started, ok_before = time.monotonic(), answered[200]
        time.sleep(1.0)
        per_second = (answered[200] - ok_before) / (time.monotonic() - rate_started)
        own_postgres.stop("immediate")
    finally:
        stop.set()
        for th in threads:
            th.join(10)
        app.extensions["freshet"].close()
    acknowledged = answered[200]  # every reader has stopped: no answer is still on its way
    own_postgres.start()
    with engine.connect() as conn:
        charged = conn.execute(
            text("SELECT count(*) FROM ledger WHERE kind = 'charge' AND job_id IS NULL")
        ).scalar()
        used = conn.execute(text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods"))
        used_tokens = used.scalar()
    engine.dispose()
    lost = acknowledged - charged
    assert charged <= acknowledged  # never charged for an answer that was not given
    assert used_tokens == charged  # the counter and the ledger agree (1 token each)
    print(
        f"\nasync commit: {acknowledged} cached reads answered 200 before the crash "
        f"({per_second:.0f}/s), {charged} charges survived, {lost} forgotten "
        f"({lost / per_second * 1000 if per_second else 0:.0f} ms of charges)"
    )


def test_a_postgres_crash_forgets_no_sync_refresh_it_answered(own_postgres, settings):
    """A sync refresh's one-statement submit runs on the API's statement engine, whose
    sessions commit asynchronously for cached reads; the submit sets synchronous_commit for
    its own transaction. A crash (immediate stop) under a stream of them loses no job (nor
    its reservation) that was answered 202."""
    from api.app import create_app

    url = own_postgres.create_database("durablesubmit")
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    t = make_tenant(
        engine,
        monthly_tokens=10_000_000,
        requests_per_minute=100_000,
        force_refresh_per_minute=100_000,
    )
    # No seat to wait in: each refresh answers 202 with its job as soon as it is written.
    s = settings.with_overrides(
        database_url=url, cached_charge_async_commit=True, sync_waiters_max=0
    )
    app = create_app(s, publisher=RecordingPublisher())
    accepted: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()
    ids = itertools.count(800_000_000)

    def submitter() -> None:
        c = app.test_client()
        while not stop.is_set():
            r = c.post(f"/v1/products/{next(ids)}/refresh", headers=t.headers)
            if r.status_code == 202:
                with lock:
                    accepted.append(r.get_json()["jobId"])

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    try:
        for th in threads:
            th.start()
        wait_until(lambda: len(accepted) >= 100, 30, "sync refreshes to flow")
        own_postgres.stop("immediate")
    finally:
        stop.set()
        for th in threads:
            th.join(10)
        app.extensions["freshet"].close()
    own_postgres.start()
    with engine.connect() as conn:
        kept = set(conn.execute(text("SELECT id FROM jobs")).scalars())
        reserved = set(
            conn.execute(text("SELECT job_id FROM ledger WHERE kind = 'reserve'")).scalars()
        )
        used = conn.execute(text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods"))
        used_tokens = used.scalar()
    engine.dispose()
    assert set(accepted) <= kept  # every job answered 202 survived the crash
    assert set(accepted) <= reserved  # with its reservation
    assert used_tokens == 9 * len(reserved)  # and the month's counter agrees with the ledger
