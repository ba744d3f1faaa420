"""Review refresh API: the seed's contract, every error row, guards under concurrency."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from sqlalchemy import text

from tests.factories import age_rate_window, make_tenant

URL = "/api/v1/reviews/refresh"


def post(client, tenant, body, **headers):
    return client.post(URL, json=body, headers={**tenant.headers, **headers})


def assert_envelope(resp, status: int, code: str, error: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) >= {"error", "code", "message"}
    assert body["code"] == code
    if error:
        assert body["error"] == error
    if status in (429, 503):
        assert int(resp.headers["Retry-After"]) >= 1
    return body


def test_refresh_is_accepted_in_the_vendor_shape(client, engine):
    t = make_tenant(engine)
    resp = post(client, t, {"asin": "B08N5WRWNW"})
    assert resp.status_code == 202
    body = resp.get_json()
    assert set(body) == {"jobId", "asin", "status", "message", "estimatedCompletionSeconds"}
    assert isinstance(body["jobId"], int)
    assert body["asin"] == "B08N5WRWNW" and body["status"] == "queued"
    assert isinstance(body["estimatedCompletionSeconds"], int)
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert h in resp.headers
    assert resp.headers["X-RateLimit-Limit"] == "60"
    assert resp.headers["X-RateLimit-Remaining"] == "59"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, marketplace, kind FROM jobs")).one()
    assert tuple(row) == ("queued", "amazon.de", "reviews")


@pytest.mark.parametrize(
    "asin", ["B08N5WRWN", "B08N5WRWNW1", "B08N5-RWNW", "", 1234567890, None, ["B08N5WRWNW"]]
)
def test_invalid_asin_is_400(client, engine, asin):
    t = make_tenant(engine)
    assert_envelope(post(client, t, {"asin": asin}), 400, "invalid_asin", "Invalid ASIN format")


def test_missing_asin_is_400(client, engine):
    t = make_tenant(engine)
    assert_envelope(post(client, t, {"marketplace": "amazon.de"}), 400, "invalid_asin")


DEEP = ('{"asin": ' + "[" * 40 + "1" + "]" * 40 + "}").encode()


@pytest.mark.parametrize(
    "data", [b"{not json", b"[1, 2]", b'"text"', b"", b"[" * 5000 + b"]" * 5000, DEEP]
)
def test_malformed_bodies_are_400_and_write_nothing(client, engine, data):
    t = make_tenant(engine)
    resp = client.post(URL, data=data, headers={**t.headers, "Content-Type": "application/json"})
    assert_envelope(resp, 400, resp.get_json()["code"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0


def test_wrong_marketplace_type_is_400(client, engine):
    t = make_tenant(engine)
    assert_envelope(
        post(client, t, {"asin": "B08N5WRWNW", "marketplace": 5}), 400, "invalid_marketplace"
    )


def test_oversized_body_is_413(client, engine, settings):
    t = make_tenant(engine)
    big = json.dumps({"asin": "B08N5WRWNW", "pad": "x" * (settings.max_body_bytes + 10)})
    resp = client.post(URL, data=big, headers={**t.headers, "Content-Type": "application/json"})
    assert_envelope(resp, 413, "payload_too_large")


@pytest.mark.parametrize(
    "auth", [None, "Bearer", "Bearer rk_live_nope", "Basic abc", "Bearer not_a_key"]
)
def test_bad_or_missing_key_is_401(client, engine, auth):
    headers = {"Authorization": auth} if auth else {}
    resp = client.post(URL, json={"asin": "B08N5WRWNW"}, headers=headers)
    assert_envelope(resp, 401, "unauthorized", "Invalid API key")


def test_revoked_key_is_401(client, engine):
    from freshet.accounts import tenants

    t = make_tenant(engine)
    with engine.begin() as conn:
        assert tenants.revoke_key(conn, t.key[:12]) == 1
    assert_envelope(post(client, t, {"asin": "B08N5WRWNW"}), 401, "unauthorized")


def test_keys_are_stored_hashed(engine):
    t = make_tenant(engine)
    with engine.connect() as conn:
        dump = conn.execute(text("SELECT row_to_json(k)::text FROM api_keys k")).scalar()
    assert t.key not in dump and t.key[12:] not in dump


def test_monthly_quota_exceeded_is_402(client, engine):
    t = make_tenant(engine, review_jobs_per_month=1)
    assert post(client, t, {"asin": "B08N5WRWNW"}).status_code == 202
    assert_envelope(
        post(client, t, {"asin": "B000000002"}), 402, "quota_exceeded", "Monthly quota exceeded"
    )


def test_unauthorized_marketplace_is_403(client, engine):
    t = make_tenant(engine)
    assert_envelope(
        post(client, t, {"asin": "B08N5WRWNW", "marketplace": "amazon.com"}),
        403,
        "marketplace_not_authorized",
        "Marketplace not authorized",
    )


def test_rate_limit_is_429_with_retry_after(client, engine):
    t = make_tenant(engine, requests_per_minute=2, concurrent_jobs=10)
    assert post(client, t, {"asin": "B000000001"}).status_code == 202
    assert post(client, t, {"asin": "B000000002"}).status_code == 202
    resp = post(client, t, {"asin": "B000000003"})
    assert_envelope(resp, 429, "rate_limit_exceeded", "Rate limit exceeded")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-RateLimit-Remaining"] == "0"


def test_the_rate_window_frees_its_places_a_minute_later(client, engine, rt):
    t = make_tenant(engine, requests_per_minute=2, concurrent_jobs=10)
    assert post(client, t, {"asin": "B000000001"}).status_code == 202
    assert post(client, t, {"asin": "B000000002"}).status_code == 202
    assert post(client, t, {"asin": "B000000003"}).status_code == 429
    age_rate_window(rt, t, 30)  # half a minute on: still full
    assert post(client, t, {"asin": "B000000003"}).status_code == 429
    age_rate_window(rt, t, 31)  # a minute on: the first two have slid out
    assert post(client, t, {"asin": "B000000003"}).status_code == 202


def test_a_new_month_gives_the_review_job_quota_back(client, engine):
    t = make_tenant(engine, review_jobs_per_month=1, concurrent_jobs=10)
    with time_machine.travel(dt.datetime(2031, 1, 31, 23, 59, 58, tzinfo=dt.UTC), tick=False):
        assert post(client, t, {"asin": "B0MONTH001"}).status_code == 202
        assert_envelope(post(client, t, {"asin": "B0MONTH002"}), 402, "quota_exceeded")
    with time_machine.travel(dt.datetime(2031, 2, 1, 0, 0, 1, tzinfo=dt.UTC), tick=False):
        assert post(client, t, {"asin": "B0MONTH002"}).status_code == 202
        usage = client.get("/v1/usage", headers=t.headers).get_json()
    assert usage["period"] == {"start": "2031-02-01", "resetsAt": "2031-03-01T00:00:00+00:00"}
    assert usage["reviewJobs"]["used"] == 1
    with engine.connect() as conn:
        periods = conn.execute(
            text("SELECT period, review_jobs_used FROM usage_periods ORDER BY period")
        ).all()
    assert [(p.isoformat(), n) for p, n in periods] == [("2031-01-01", 1), ("2031-02-01", 1)]


def test_too_many_concurrent_jobs_is_429(client, engine):
    t = make_tenant(engine, concurrent_jobs=1)
    assert post(client, t, {"asin": "B000000001"}).status_code == 202
    assert_envelope(
        post(client, t, {"asin": "B000000002"}),
        429,
        "too_many_concurrent_jobs",
        "Too many concurrent jobs",
    )


def test_cooldown_is_429_naming_the_callers_job(client, engine):
    t = make_tenant(engine, concurrent_jobs=10)
    first = post(client, t, {"asin": "B08N5WRWNW"}).get_json()["jobId"]
    resp = post(client, t, {"asin": "B08N5WRWNW"})
    body = assert_envelope(resp, 429, "asin_cooldown_active", "ASIN cooldown active")
    assert body["jobId"] == first
    assert 86000 < int(resp.headers["Retry-After"]) <= 86400
    # another marketplace or another organization is another cooldown
    other = make_tenant(engine, concurrent_jobs=10)
    assert post(client, other, {"asin": "B08N5WRWNW"}).status_code == 202


def test_backend_fault_is_500_service_error(client, engine, monkeypatch):
    from freshet import reviews

    def boom(*_a, **_k):
        raise RuntimeError("database exploded")

    monkeypatch.setattr(reviews, "submit", boom)
    t = make_tenant(engine)
    body = assert_envelope(
        post(client, t, {"asin": "B08N5WRWNW"}), 500, "service_error", "service_error"
    )
    assert "exploded" not in body["message"]


def test_fifty_parallel_submissions_respect_concurrency_and_cooldown(app, engine):
    t = make_tenant(engine, concurrent_jobs=5, requests_per_minute=1000)
    asins = [f"B0000000{i % 10:02d}" for i in range(50)]  # 10 ASINs, five times each

    def submit(asin: str) -> tuple[int, dict]:
        c = app.test_client()
        r = c.post(URL, json={"asin": asin}, headers=t.headers)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(submit, asins))
    accepted = [b for s, b in results if s == 202]
    assert len(accepted) == 5
    assert len({b["asin"] for b in accepted}) == 5
    codes = {b["code"] for s, b in results if s == 429}
    assert codes <= {"too_many_concurrent_jobs", "asin_cooldown_active"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 5
        assert conn.execute(text("SELECT review_jobs_used FROM usage_periods")).scalar() == 5


def test_job_status_shape_and_errors(client, engine):
    t = make_tenant(engine)
    job_id = post(client, t, {"asin": "B08N5WRWNW"}).get_json()["jobId"]
    for path in (f"/api/v1/jobs/{job_id}", f"/v1/jobs/{job_id}"):
        resp = client.get(path, headers=t.headers)
        assert resp.status_code == 200
        body = resp.get_json()
        assert {
            "jobId",
            "asin",
            "productTitle",
            "status",
            "createdAt",
            "updatedAt",
            "marketplace",
            "error",
            "reviewsFound",
            "startedAt",
            "finishedAt",
        } <= set(body)
        assert body["status"] == "queued" and body["jobId"] == job_id
    assert_envelope(
        client.get("/api/v1/jobs/abc", headers=t.headers), 400, "invalid_job_id", "Invalid job ID"
    )
    assert_envelope(
        client.get("/api/v1/jobs/999999", headers=t.headers), 404, "job_not_found", "Job not found"
    )
    other = make_tenant(engine)
    assert_envelope(
        client.get(f"/api/v1/jobs/{job_id}", headers=other.headers), 404, "job_not_found"
    )
    assert_envelope(
        client.get("/api/v1/jobs/99999999999999999999999", headers=t.headers), 404, "job_not_found"
    )


def test_cached_reviews_missing_and_absent(client, engine):
    t = make_tenant(engine)
    resp = client.get("/api/v1/reviews?asin=B08N5WRWNW", headers=t.headers)
    assert resp.status_code == 404
    assert resp.get_json() == {
        "asin": "B08N5WRWNW",
        "reviews": [],
        "cached": False,
        "message": "No cached data. Create a refresh job first.",
    }
    assert_envelope(
        client.get("/api/v1/reviews", headers=t.headers), 400, "missing_asin", "Missing asin"
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0


def test_reads_do_not_count_against_the_submission_limit(client, engine):
    t = make_tenant(engine, requests_per_minute=1)
    job_id = post(client, t, {"asin": "B08N5WRWNW"}).get_json()["jobId"]
    for _ in range(5):
        assert client.get(f"/api/v1/jobs/{job_id}", headers=t.headers).status_code == 200
        assert client.get("/v1/usage", headers=t.headers).status_code == 200
    usage = client.get("/v1/usage", headers=t.headers).get_json()
    assert usage["reviewJobs"] == {"limit": 50, "used": 1, "remaining": 49}
    assert usage["jobsInFlight"] == 1
    assert usage["limits"]["requestsPerMinute"]["remaining"] == 0
    assert usage["limits"]["concurrentJobs"] == {"limit": 2, "remaining": 1, "kinds": ["reviews"]}


def test_cancel_releases_cooldown_slot_and_quota(client, engine):
    t = make_tenant(engine, concurrent_jobs=1)
    job_id = post(client, t, {"asin": "B08N5WRWNW"}).get_json()["jobId"]
    resp = client.post(f"/v1/jobs/{job_id}/cancel", headers=t.headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    again = post(client, t, {"asin": "B08N5WRWNW"})
    assert again.status_code == 202
    with engine.connect() as conn:
        assert conn.execute(text("SELECT review_jobs_used FROM usage_periods")).scalar() == 1
        kinds = (
            conn.execute(
                text("SELECT kind FROM ledger WHERE job_id = :j ORDER BY id"), {"j": job_id}
            )
            .scalars()
            .all()
        )
    assert kinds == ["reserve", "refund"]
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=t.headers).status_code == 200
    other = make_tenant(engine)
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=other.headers).status_code == 404


def test_idempotency_key_replays_and_rejects_other_bodies(client, engine):
    t = make_tenant(engine, concurrent_jobs=5)
    first = post(client, t, {"asin": "B08N5WRWNW"}, **{"Idempotency-Key": "abc"})
    second = post(client, t, {"asin": "B08N5WRWNW"}, **{"Idempotency-Key": "abc"})
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = post(client, t, {"asin": "B000000002"}, **{"Idempotency-Key": "abc"})
    assert_envelope(other, 422, "idempotency_key_reused")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
