"""Review refresh end to end: API → real Celery worker → simulator → cached reviews."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text

from tests.factories import ledger_kinds, make_tenant, pass_cooldown
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
URL = "/api/v1/reviews/refresh"


def wait_job(client, tenant, job_id: int, timeout: float = 30.0) -> dict:
    def ended() -> dict | None:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers).get_json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    return wait_until(ended, timeout, f"job {job_id} to end", every=0.1)


def test_refresh_completes_and_reviews_are_cached(client, engine, worker, simulator):
    t = make_tenant(engine)
    asin = "B08N5WRWNW"
    job_id = client.post(URL, json={"asin": asin}, headers=t.headers).get_json()["jobId"]
    job = wait_job(client, t, job_id)
    assert job["status"] == "completed", job
    assert job["startedAt"] and job["finishedAt"] and job["error"] is None
    assert job["reviewsFound"] >= 0
    cached = client.get(f"/api/v1/reviews?asin={asin}", headers=t.headers)
    assert cached.status_code == 200
    body = cached.get_json()
    assert body["cached"] is True and body["asin"] == asin and body["marketplace"] == "amazon.de"
    assert body["reviewCount"] == job["reviewsFound"]
    assert job["productTitle"] == body["title"]
    for r in body["reviews"]:
        assert {
            "id",
            "amazonReviewId",
            "title",
            "content",
            "date",
            "isTopReview",
            "country",
            "scrapedAt",
            "rating",
            "author",
            "verifiedPurchase",
            "helpfulVotes",
        } <= set(r)
    assert sum(body["summary"]["histogram"].values()) == body["reviewCount"]
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]


def test_reviews_paginate_with_a_cursor(client, engine, worker, simulator):
    t = make_tenant(engine)
    # find an ASIN the simulator gives more than a page of reviews
    for n in range(40):
        asin = f"B0TEST{n:04d}"
        job_id = client.post(URL, json={"asin": asin}, headers=t.headers).get_json()["jobId"]
        job = wait_job(client, t, job_id)
        if (job["reviewsFound"] or 0) > 12:
            break
    else:
        pytest.skip("simulator gave no ASIN with more than 12 reviews")
    seen, cursor = [], None
    while True:
        q = f"/api/v1/reviews?asin={asin}&limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(q, headers=t.headers).get_json()
        seen += [r["amazonReviewId"] for r in body["reviews"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == job["reviewsFound"]


def test_a_second_run_writes_no_duplicates(client, engine, worker, simulator, rt):
    t = make_tenant(engine, concurrent_jobs=5)
    asin = "B0DUPL1CAT"
    first = client.post(URL, json={"asin": asin}, headers=t.headers).get_json()["jobId"]
    n1 = wait_job(client, t, first)["reviewsFound"]
    pass_cooldown(engine, rt, first)  # a day later, as far as Redis and Postgres can tell
    second = client.post(URL, json={"asin": asin}, headers=t.headers)
    assert second.status_code == 202, second.get_json()
    n2 = wait_job(client, t, second.get_json()["jobId"])["reviewsFound"]
    assert n1 == n2
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM reviews WHERE asin = :a"), {"a": asin}
        ).scalar()
    assert stored == n1


def test_permanent_failure_releases_cooldown_and_refunds_quota(client, engine, worker, simulator):
    t = make_tenant(engine)
    requests.put(simulator.url + "/_sim/faults", json={"malformed_rate": 1.0}, timeout=5)
    asin = "B0MALF0RMD"
    job_id = client.post(URL, json={"asin": asin}, headers=t.headers).get_json()["jobId"]
    job = wait_job(client, t, job_id)
    assert job["status"] == "failed" and job["error"]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM reviews WHERE asin = :a"), {"a": asin}).scalar()
            == 0
        )
        assert conn.execute(text("SELECT review_jobs_used FROM usage_periods")).scalar() == 0
    requests.put(simulator.url + "/_sim/faults", json={}, timeout=5)
    again = client.post(URL, json={"asin": asin}, headers=t.headers)
    assert again.status_code == 202  # the failed job gave its cooldown back
    assert wait_job(client, t, again.get_json()["jobId"])["status"] == "completed"


def test_transient_errors_retry_then_fail_with_reason(client, engine, worker, simulator):
    t = make_tenant(engine)
    requests.put(
        simulator.url + "/_sim/faults", json={"error_rate": 1.0, "error_status": 503}, timeout=5
    )
    job_id = client.post(URL, json={"asin": "B0STORM503"}, headers=t.headers).get_json()["jobId"]
    job = wait_job(client, t, job_id, timeout=60)
    assert job["status"] == "failed"
    assert "3 attempts" in job["error"] and "503" in job["error"]
    assert job["attempt"] == 3


def test_concurrency_slot_frees_when_a_job_ends(client, engine, worker, simulator):
    t = make_tenant(engine, concurrent_jobs=1)
    first = client.post(URL, json={"asin": "B000000001"}, headers=t.headers).get_json()["jobId"]
    wait_job(client, t, first)
    assert client.post(URL, json={"asin": "B000000002"}, headers=t.headers).status_code == 202
