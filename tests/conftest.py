"""Shared fixtures: real Postgres (a database per run), real Redis (a server per run),
the simulator, the Flask app, and a real Celery worker on the real broker."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from freshet.settings import Settings, load_settings
from store.db import make_engine, upgrade
from tests.services import RabbitVhost, RedisServer, create_database, drop_database

# issue #17: FRESHET_TEST_BROKER=rabbitmq runs everything on RabbitMQ (a vhost per run).
TEST_BROKER = os.environ.get("FRESHET_TEST_BROKER", "redis").strip().lower()

TRUNCATE = (
    "monitor_deliveries, monitor_events, monitor_observations, monitor_targets, monitors, "
    "idempotency_keys, ledger, usage_periods, price_observations, reviews, "
    "review_products, jobs, workflows, products, grants, catalogs, api_keys, "
    "organizations, maintenance_marks"
)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def rabbit_vhost() -> Iterator[RabbitVhost | None]:
    if TEST_BROKER != "rabbitmq":
        yield None
        return
    vhost = RabbitVhost.create()
    yield vhost
    vhost.delete()


@pytest.fixture(scope="session")
def broker_name() -> str:
    if TEST_BROKER not in ("redis", "rabbitmq"):
        raise pytest.UsageError(f"FRESHET_TEST_BROKER={TEST_BROKER!r}: redis or rabbitmq")
    return TEST_BROKER


@pytest.fixture
def redis_broker(broker_name: str) -> None:
    """For a test about the Redis broker's own behaviour (its lists, its loss on restart)."""
    if broker_name != "redis":
        pytest.skip("about the Redis broker; this run is on " + broker_name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = create_database()
    upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def simulator() -> Iterator[object]:
    from simulator.server import serve_in_thread

    with serve_in_thread(port=0) as sim:
        yield sim


@pytest.fixture(scope="session")
def base_settings(
    database_url: str, redis_server: RedisServer, simulator, rabbit_vhost: RabbitVhost | None
) -> Settings:
    sim_host = simulator.url.split("//", 1)[1]
    return load_settings(
        environ={},
        database_url=database_url,
        redis_url=redis_server.url,
        celery_broker_url=rabbit_vhost.url if rabbit_vhost else "",
        redis_prefix="fr-test:",
        env="test",
        log_json=False,
        allowed_private_hosts=(sim_host,),
        amazon_base_url=simulator.url + "/amazon/{marketplace}",
        walmart_base_url=simulator.url + "/walmart",
        simulator_url=simulator.url,
        sync_wait_seconds=10.0,
        retry_backoff_base=1.2,
        retry_backoff_max=3.0,
        politeness_per_second=0.0,
        auth_cache_seconds=0.0,
        redispatch_after_seconds=30,
        max_attempts=3,
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings


@pytest.fixture
def engine(base_settings: Settings):
    eng = make_engine(base_settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from empty tables (plans kept) and an empty Redis."""
    yield
    if "base_settings" not in request.fixturenames:
        return
    s: Settings = request.getfixturevalue("base_settings")
    eng = make_engine(s.database_url, pool_size=1)
    # A worker's background work may still touch the tables (a fair-share pass trails a job
    # end by up to 200 ms): TRUNCATE locks table after table and can meet it in a deadlock,
    # which Postgres resolves by failing one side — this one, then, tries again.
    for attempt in range(5):
        try:
            with eng.begin() as conn:
                conn.execute(text(f"TRUNCATE {TRUNCATE} RESTART IDENTITY CASCADE"))
                conn.execute(
                    text("DELETE FROM plans WHERE name NOT IN ('free', 'pro', 'business')")
                )
            break
        except OperationalError as exc:
            if attempt == 4 or "deadlock" not in str(exc.orig):
                raise
            time.sleep(0.2)
    eng.dispose()
    import redis

    with contextlib.closing(redis.Redis.from_url(s.redis_url)) as r:
        r.flushdb()
    sim = request.getfixturevalue("simulator")
    import requests

    requests.put(sim.url + "/_sim/faults", json={}, timeout=5)
    requests.put(sim.url + "/_sim/overrides", json={}, timeout=5)
    requests.delete(sim.url + "/_sim/stats", timeout=5)


@pytest.fixture
def celery_app(settings: Settings):
    from workers.celery_app import create_celery

    # On amqp the in-thread test worker's event loop wakes only for a timer: a short AMQP
    # heartbeat lets it see the stop request in ~1 s instead of ~10 s (Redis polls anyway).
    return create_celery(settings, broker_heartbeat=2)


@pytest.fixture
def app(settings: Settings, celery_app):
    from api.app import create_app
    from workers.publish import publisher_for

    flask_app = create_app(settings, publisher=publisher_for(celery_app))
    flask_app.config["TESTING"] = True
    yield flask_app
    flask_app.extensions["freshet"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def rt(app):
    return app.extensions["freshet"]


@pytest.fixture
def worker(celery_app):
    """A real Celery worker (threads pool) consuming every queue of the real broker."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
        queues=["interactive", "reviews", "batch", "default"],
    ) as w:
        yield w
    from workers.celery_app import close_runtime

    # The embedded worker sends no worker_shutdown: close the runtime its tasks built, or
    # every test with a worker leaves its pools' connections open until the session ends.
    close_runtime(celery_app)


class Recorder:
    """A publisher that records the job ids it is handed and sends nothing."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def publish(self, dispatches) -> None:
        self.sent += [d.job_id for d in dispatches]


@pytest.fixture
def published(rt, monkeypatch):
    """The runtime's publisher replaced by a Recorder: what a test's code would have sent."""
    recorder = Recorder()
    monkeypatch.setattr(rt, "publisher", recorder)
    return recorder
