"""GET /metrics: requests by route and status, task outcomes, upstream fetches by source,
queue depths and guard refusals; and multi-process mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_tenant
from tests.waiting import wait_until
from workers.publish import NullPublisher

REFRESH = "/api/v1/reviews/refresh"


def scrape(client) -> dict[tuple[str, tuple], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(predicate, timeout: float = 30.0) -> None:
    wait_until(predicate, timeout, "the condition", every=0.1)


def test_requests_are_counted_by_route_and_status_with_latency(client, engine):
    t = make_tenant(engine)
    before = scrape(client)
    for job_id in ("12345", "67890"):
        assert client.get(f"/api/v1/jobs/{job_id}", headers=t.headers).status_code == 404
    assert client.get("/no/such/path").status_code == 404
    after = scrape(client)
    route = "/api/v1/jobs/<job_id>"
    key = dict(method="GET", route=route, status="404")
    assert (
        value(after, "freshet_http_requests_total", **key)
        - value(before, "freshet_http_requests_total", **key)
        == 2
    )
    count = dict(method="GET", route=route)
    assert (
        value(after, "freshet_http_request_duration_seconds_count", **count)
        - value(before, "freshet_http_request_duration_seconds_count", **count)
        == 2
    )
    # raw paths never become labels: an unknown path is one <unmatched> series
    assert not any("12345" in str(k) for k in after)
    assert (
        value(after, "freshet_http_requests_total", method="GET", route="<unmatched>", status="404")
        >= 1
    )


def test_queue_depth_is_read_from_the_broker_at_scrape_time(client, engine):
    t = make_tenant(engine, concurrent_jobs=5)
    assert value(scrape(client), "freshet_queue_depth", queue="reviews") == 0
    for asin in ("B000000001", "B000000002"):
        assert client.post(REFRESH, json={"asin": asin}, headers=t.headers).status_code == 202
    samples = scrape(client)  # no worker runs: both messages wait in the queue
    assert value(samples, "freshet_queue_depth", queue="reviews") == 2
    assert value(samples, "freshet_queue_depth", queue="interactive") == 0
    assert ("freshet_queue_unacked", ()) in samples


def test_guard_refusals_are_counted_by_reason(client, engine):
    t = make_tenant(engine, concurrent_jobs=5)
    before = scrape(client)
    assert client.post(REFRESH, json={"asin": "B0COOLDOWN"}, headers=t.headers).status_code == 202
    again = client.post(REFRESH, json={"asin": "B0COOLDOWN"}, headers=t.headers)
    assert again.status_code == 429
    after = scrape(client)
    reason = again.get_json()["code"]
    assert (
        value(after, "freshet_guard_refusals_total", reason=reason)
        - value(before, "freshet_guard_refusals_total", reason=reason)
        == 1
    )


@pytest.mark.e2e
def test_a_job_moves_task_and_upstream_counters(client, engine, worker):
    t = make_tenant(engine)
    task = "freshet.reviews.refresh"
    before = scrape(client)
    job_id = client.post(REFRESH, json={"asin": "B0METRICS1"}, headers=t.headers).get_json()[
        "jobId"
    ]

    def done() -> bool:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=t.headers).get_json()
        return body["status"] in ("completed", "failed")

    wait_for(done)
    wait_for(
        lambda: (
            value(scrape(client), "freshet_tasks_total", task=task, state="success")
            > value(before, "freshet_tasks_total", task=task, state="success")
        )
    )
    after = scrape(client)
    assert (
        value(after, "freshet_task_results_total", task=task, result="completed")
        - value(before, "freshet_task_results_total", task=task, result="completed")
        == 1
    )
    assert value(after, "freshet_task_duration_seconds_count", task=task, state="success") > value(
        before, "freshet_task_duration_seconds_count", task=task, state="success"
    )
    assert (
        value(after, "freshet_upstream_fetches_total", source="amazon_reviews", status="ok")
        - value(before, "freshet_upstream_fetches_total", source="amazon_reviews", status="ok")
        == 1
    )
    assert value(
        after, "freshet_upstream_fetch_duration_seconds_count", source="amazon_reviews"
    ) > value(before, "freshet_upstream_fetch_duration_seconds_count", source="amazon_reviews")


def test_upstream_failures_are_counted_by_status():
    from freshet import metrics
    from sources.record import PermanentSourceError, TransientSourceError

    job = {"kind": "reviews"}

    def count(status: str) -> float:
        return metrics.upstream_fetches.labels("amazon_reviews", status)._value.get()

    before = {s: count(s) for s in ("503", "permanent")}
    with pytest.raises(TransientSourceError), metrics.upstream_fetch(None, job):
        raise TransientSourceError("upstream error 503", status=503)
    with pytest.raises(PermanentSourceError), metrics.upstream_fetch(None, job):
        raise PermanentSourceError("unparseable page")
    assert count("503") == before["503"] + 1
    assert count("permanent") == before["permanent"] + 1


def test_source_of_a_product_job_is_its_catalogs_source():
    from freshet.metrics import source_of

    lookups = []

    def catalog_source(cid: int) -> str:
        lookups.append(cid)
        return "shopify"

    job = {"kind": "product", "catalog_id": 987654}
    assert source_of(job, catalog_source) == "shopify"
    assert source_of(job, catalog_source) == "shopify"
    assert lookups == [987654]  # cached per process
    assert (
        source_of({"kind": "product", "params": {"retailer": "walmart"}}, catalog_source)
        == "walmart"
    )


def test_multiprocess_mode_aggregates_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, values written by two processes appear in one scrape."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    write = textwrap.dedent("""
        from freshet import metrics
        metrics.observe_request("GET", "/v1/usage", 200, 0.01)
        metrics.tasks.labels("freshet.reviews.refresh", "success").inc()
    """)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", write], env=env, check=True, timeout=60)
    read = textwrap.dedent("""
        from prometheus_client import generate_latest
        from freshet import metrics
        metrics.prepare_multiprocess_dir()  # the writers are gone: their files are dropped
        print("AFTER-CLEANUP", generate_latest(metrics.scrape_registry()).decode().count(
            "freshet_tasks_total{"))
    """)
    scrape_only = textwrap.dedent("""
        from prometheus_client import generate_latest
        from freshet import metrics
        print(generate_latest(metrics.scrape_registry()).decode())
    """)
    out = subprocess.run(
        [sys.executable, "-c", scrape_only],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert (
        'freshet_tasks_total{state="success",task="freshet.reviews.refresh"} 2.0' in out
        or 'freshet_tasks_total{task="freshet.reviews.refresh",state="success"} 2.0' in out
    )
    assert 'freshet_http_requests_total{method="GET",route="/v1/usage",status="200"} 2.0' in out
    cleaned = subprocess.run(
        [sys.executable, "-c", read],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "AFTER-CLEANUP 0" in cleaned


def test_metrics_can_be_turned_off(settings):
    from api.app import create_app

    app = create_app(settings.with_overrides(metrics_enabled=False), publisher=NullPublisher())
    try:
        resp = app.test_client().get("/metrics")
    finally:
        app.extensions["freshet"].close()
    assert resp.status_code == 404
    assert resp.get_json()["code"] == "not_found"


def test_worker_metrics_port_is_off_by_default_and_checked():
    from freshet.settings import SettingsError
    from workers.metrics import worker_metrics_port

    assert worker_metrics_port({}) == 0
    assert worker_metrics_port({"FRESHET_WORKER_METRICS_PORT": "9100"}) == 9100
    with pytest.raises(SettingsError):
        worker_metrics_port({"FRESHET_WORKER_METRICS_PORT": "ninety"})
