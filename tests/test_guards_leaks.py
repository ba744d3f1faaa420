"""Guards that never leak (issue 12, items 3 and 4): a cooldown never outlives its job, a
refusal spends no rate budget, and the slot sync only removes slots of jobs that ended."""

from __future__ import annotations

from sqlalchemy import text

from freshet.jobs import sweeper
from tests.factories import make_tenant

URL = "/api/v1/reviews/refresh"
ASIN = "B08N5WRWNW"


def post(client, t, asin=ASIN):
    return client.post(URL, json={"asin": asin}, headers=t.headers)


def _fail(engine, job_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'failed' WHERE id = :id"), {"id": job_id})


def test_a_plan_without_cooldown_accepts_every_submission(client, engine):
    t = make_tenant(engine, asin_cooldown_seconds=0, concurrent_jobs=5)
    first, second = post(client, t), post(client, t)
    assert (first.status_code, second.status_code) == (202, 202), second.get_data(as_text=True)
    assert second.headers["X-RateLimit-Remaining"] == "58"


def test_a_cooldown_refusal_spends_no_rate_budget(client, engine):
    t = make_tenant(engine, concurrent_jobs=5)
    assert post(client, t).status_code == 202
    for _ in range(3):
        assert post(client, t).status_code == 429
    assert post(client, t, "B000000001").headers["X-RateLimit-Remaining"] == "58"


def test_a_refused_reservation_gives_back_the_rate_budget(client, engine, rt, monkeypatch):
    from freshet import accounts

    t = make_tenant(engine, concurrent_jobs=5)
    # the month's quota refuses inside the transaction, after the guards admitted (a race)
    monkeypatch.setattr(accounts, "reserve", lambda *a, **k: False)
    assert post(client, t).status_code == 402
    assert post(client, t, "B000000001").status_code == 402
    assert rt.redis.zcard(rt.guards.rate_key(f"org:{t.org_id}:submit")) == 0
    key = rt.guards.cooldown_key(t.org_id, ASIN, "amazon.de")
    assert rt.guards.cooldown_holder(key)[0] is None


def test_a_cooldown_whose_job_never_committed_is_cleared(client, engine, rt, monkeypatch):
    t = make_tenant(engine, concurrent_jobs=5)
    g = rt.guards
    key = g.cooldown_key(t.org_id, ASIN, "amazon.de")
    # a crash between the admission and the commit: the guard holds job 999999, no row exists
    assert g.admit([], cooldown=(key, 86400), job_id=999_999).ok
    assert client.get("/api/v1/jobs/999999", headers=t.headers).status_code == 404
    assert sweeper.clear_orphan_cooldowns(rt, grace=3600) == 0  # it may still be committing
    assert sweeper.clear_orphan_cooldowns(rt, grace=0) == 1
    assert g.cooldown_holder(key)[0] is None
    # and admission itself never answers 429 naming a job that does not exist
    assert g.admit([], cooldown=(key, 86400), job_id=999_998).ok
    monkeypatch.setattr("freshet.reviews.submission.ORPHAN_GRACE_SECONDS", 0.0)
    resp = post(client, t)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert g.cooldown_holder(key)[0] == resp.get_json()["jobId"]


def test_a_failed_release_is_retried_by_the_sweeper(client, engine, rt):
    t = make_tenant(engine, concurrent_jobs=5)
    job_id = post(client, t).get_json()["jobId"]
    _fail(engine, job_id)  # failed, and after() never gave anything back (Redis was away)
    key = rt.guards.cooldown_key(t.org_id, ASIN, "amazon.de")
    assert rt.guards.cooldown_holder(key)[0] == job_id
    out = sweeper.sweep(rt)
    assert out["cooldowns_cleared"] == 1
    assert rt.guards.cooldown_holder(key)[0] is None
    assert rt.guards.slot_members(t.org_id) == []
    assert post(client, t).status_code == 202


def test_restore_never_puts_back_a_cooldown_a_failing_job_gave_back(client, engine, rt):
    t = make_tenant(engine, concurrent_jobs=5)
    job_id = post(client, t).get_json()["jobId"]
    key = rt.guards.cooldown_key(t.org_id, ASIN, "amazon.de")
    # the sweeper read the jobs (this one still queued) ... then the job failed and released
    _fail(engine, job_id)
    rt.kinds["reviews"].handler.after(
        rt, {"id": job_id, "org_id": t.org_id, "asin": ASIN, "marketplace": "amazon.de"}, "failed"
    )
    # ... and the sweeper's restore, working from what it read, must not put it back
    assert rt.guards.restore_cooldown(key, job_id, 86000) is False
    assert rt.guards.cooldown_holder(key)[0] is None
    assert post(client, t).status_code == 202


def test_slot_sync_keeps_slots_of_jobs_admitted_meanwhile(client, engine, rt):
    t = make_tenant(engine, concurrent_jobs=2)
    first = post(client, t).get_json()["jobId"]
    g = rt.guards
    # a second submission has been admitted but its job row is not committed yet
    assert g.admit([], slot=(g.slot_key(t.org_id), 2, 3600), job_id=777_777).ok
    sweeper.sync_slots(rt)
    assert set(g.slot_members(t.org_id)) == {first, 777_777}
    assert post(client, t, "B000000001").status_code == 429  # the limit of 2 holds
    _fail(engine, first)
    sweeper.sync_slots(rt)  # only a job known to have ended loses its slot
    assert set(g.slot_members(t.org_id)) == {777_777}


def test_usage_says_which_kinds_the_concurrency_limit_counts(client, engine):
    t = make_tenant(engine, concurrent_jobs=3)
    post(client, t)
    limits = client.get("/v1/usage", headers=t.headers).get_json()["limits"]
    assert limits["concurrentJobs"] == {"limit": 3, "remaining": 2, "kinds": ["reviews"]}


def test_the_limit_counts_the_kinds_the_plan_names(client, engine, rt):
    import pytest

    from freshet import jobs
    from freshet.accounts import authenticate
    from freshet.errors import RateLimited

    t = make_tenant(engine, concurrent_jobs=1, concurrency_kinds=["product"])
    # review jobs are not counted on this plan: three at once are fine
    assert [post(client, t, f"B00000000{i}").status_code for i in range(3)] == [202] * 3
    with engine.connect() as conn:
        principal = authenticate(conn, t.key)
    with jobs.concurrency_slot(rt, principal, "product", 1_000_001):
        pass  # submitted: the product job holds the one slot
    with (
        pytest.raises(RateLimited) as refused,
        jobs.concurrency_slot(rt, principal, "product", 1_000_002),
    ):
        pass
    assert refused.value.code == "too_many_concurrent_jobs"
    jobs.release_slot(rt, t.org_id, 1_000_001)  # the first one ended
    with jobs.concurrency_slot(rt, principal, "product", 1_000_002):
        pass
    limits = client.get("/v1/usage", headers=t.headers).get_json()["limits"]
    assert limits["concurrentJobs"]["kinds"] == ["product"]
    assert limits["concurrentJobs"]["remaining"] == 1  # no product job in Postgres is open
