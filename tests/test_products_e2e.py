"""Products end to end: API → real Celery worker → simulator, with exact token accounting,
the force-refresh cap, single flight, history, failures and the bounded wait."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

from freshet.products.ids import walmart_target
from sources import walmart
from sources.http import HttpClient
from tests.factories import make_tenant
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
ITEM = "19667262713"


@pytest.fixture
def settings(settings):
    # These tests stand for many API processes at once: every caller waits for its answer
    # (the per-process bound on waiters is tests/test_bounded_waiting.py's subject).
    return settings.with_overrides(sync_waiters_max=256)


@pytest.fixture
def sim(simulator):
    """The simulator's admin API; pinned prices are unpinned afterwards."""

    class Sim:
        url = simulator.url

        def faults(self, **faults) -> None:
            requests.put(self.url + "/_sim/faults", json=faults, timeout=5).raise_for_status()

        def pin(self, item_id: str, price: float) -> None:
            requests.put(
                self.url + "/_sim/prices",
                json={"path": f"/walmart/ip/{item_id}", "price": price},
                timeout=5,
            ).raise_for_status()

        def fetches(self, item_id: str | None = None) -> int:
            stats = requests.request("GET", self.url + "/_sim/stats", timeout=5).json()
            if item_id is None:
                return sum(n for p, n in stats["paths"].items() if p.startswith("/walmart/ip/"))
            return stats["paths"].get(f"/walmart/ip/{item_id}", 0)

    yield Sim()
    requests.delete(simulator.url + "/_sim/prices", timeout=5)


def ledger(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, sum(amount) FROM ledger GROUP BY kind")).all()
    return {k: int(v) for k, v in rows}


def tokens_used(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods")
        ).scalar()


def unsettled(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM ledger r WHERE r.kind = 'reserve' AND NOT EXISTS (SELECT 1 "
                "FROM ledger s WHERE s.job_id = r.job_id AND s.kind <> 'reserve')"
            )
        ).scalar()


def test_force_refresh_repopulates_every_field_from_upstream(client, engine, worker, sim, settings):
    t = make_tenant(engine)
    resp = client.post(f"/v1/products/{ITEM}/refresh", headers=t.headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    direct = walmart.fetch_product(
        HttpClient(allowed_private_hosts=(sim.url.split("//")[1],)),
        base_url=settings.walmart_base_url,
        item_id=ITEM,
    )
    for key in (
        "item_id",
        "upc",
        "ean",
        "isbn",
        "gtin",
        "asin",
        "mpn",
        "model",
        "title",
        "brand",
        "image_url",
        "description",
        "current_price",
        "buybox_price",
        "secondary_offer_price",
        "msrp",
        "weight_lbs",
        "seller_id",
        "seller_name",
        "average_rating",
        "review_count",
        "categories",
        "in_stock",
    ):
        assert body[key] == getattr(direct, key), key
    assert body["dimensions"] == direct.to_dict()["dimensions"]
    assert body["offers_count"] == len(direct.offers) == len(body["offers"])
    assert body["review_summary"] == {
        "average_rating": direct.average_rating,
        "total_reviews": direct.review_count,
    }
    assert body["walmart_url"] == f"https://www.walmart.com/ip/{ITEM}"
    assert body["tokens_consumed"] == 9 and body["tokens_remaining"] == 1991
    assert body["cached"] is False
    assert [p["price"] for p in body["price_history"]] == [direct.current_price]
    assert body["stats"]["low_30d"] == body["stats"]["high_30d"] == direct.current_price
    assert resp.headers["X-RateLimit-Tokens-Remaining"] == "1991"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, amount FROM ledger ORDER BY id")).all()
        job = conn.execute(text("SELECT kind, queue, status, product_id FROM jobs")).one()
    assert [tuple(r) for r in rows] == [("reserve", 9), ("charge", 9)]
    assert tuple(job)[:3] == ("product", "interactive", "completed")
    assert str(job.product_id) == body["product_id"]

    # the next plain lookup is answered from the cache: 1 token, no upstream fetch
    assert sim.fetches(ITEM) == 2  # the worker's, and this test's own
    again = client.get(f"/v1/products/{ITEM}", headers=t.headers).get_json()
    assert again["cached"] is True and again["tokens_consumed"] == 1
    assert again["tokens_remaining"] == 1990 and sim.fetches(ITEM) == 2


def test_unknown_item_is_fetched_then_known_by_its_codes(client, engine, worker, sim):
    t = make_tenant(engine)
    first = client.get("/v1/products/555000111?include_offers_reviews=true", headers=t.headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert body["tokens_consumed"] == 6 and len(body["offers"]) >= 1
    by_upc = client.get(f"/v1/products/{body['upc']}", headers=t.headers).get_json()
    by_gtin = client.get(f"/v1/products/{body['gtin']}", headers=t.headers).get_json()
    assert by_upc["product_id"] == by_gtin["product_id"] == body["product_id"]
    assert by_upc["cached"] is True and sim.fetches() == 1


def test_200_parallel_lookups_charge_exactly_the_tokens_there_are(app, engine, worker, sim):
    t = make_tenant(engine, monthly_tokens=1000, requests_per_minute=1000)
    items = [str(900000 + i % 10) for i in range(200)]  # 10 products, 20 requests each

    def get(item: str) -> tuple[int, dict]:
        r = app.test_client().get(
            f"/v1/products/{item}?include_offers_reviews=true", headers=t.headers
        )
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(get, items))
    statuses = Counter(s for s, _ in results)
    assert statuses == {200: 166, 402: 34}, statuses
    assert all(b["tokens_consumed"] == 6 for s, b in results if s == 200)
    assert all(b["code"] == "payment_required" for s, b in results if s == 402)
    assert tokens_used(engine) == 996
    totals = ledger(engine)
    assert totals["charge"] == 996
    assert totals.get("reserve", 0) - totals.get("refund", 0) == 996 - sum(
        b["tokens_consumed"] for s, b in results if s == 200 and b["cached"]
    )
    assert unsettled(engine) == 0
    usage = app.test_client().get("/v1/usage", headers=t.headers).get_json()
    assert usage["tokens"]["remaining"] == 4


def test_150_force_refreshes_in_a_minute_give_100_answers_and_50_429s(app, engine, worker, sim):
    t = make_tenant(
        engine, monthly_tokens=2000, requests_per_minute=1000, force_refresh_per_minute=100
    )
    items = [str(700000 + i % 5) for i in range(150)]

    def force(item: str) -> tuple[int, dict, dict]:
        r = app.test_client().get(f"/v1/products/{item}?force_refresh=true", headers=t.headers)
        return r.status_code, r.get_json(), dict(r.headers)

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(force, items))
    statuses = Counter(s for s, _, _ in results)
    assert statuses == {200: 100, 429: 50}, statuses
    for s, b, h in results:
        if s == 429:
            assert b["code"] == "rate_limited" and "Force refresh" in b["message"]
            assert 1 <= int(h["Retry-After"]) <= 60
        else:
            assert b["tokens_consumed"] == 4
    assert tokens_used(engine) == 400 and ledger(engine)["charge"] == 400
    # the 429s took nothing from the per-minute throttle: 1000 - 100 admitted
    usage = app.test_client().get("/v1/usage", headers=t.headers).get_json()
    assert usage["limits"]["requestsPerMinute"]["remaining"] == 900
    assert usage["limits"]["forceRefreshesPerMinute"]["remaining"] == 0


def test_20_parallel_requests_for_one_product_make_one_upstream_fetch(app, engine, worker, sim):
    sim.faults(latency_ms=400)
    t = make_tenant(engine, requests_per_minute=1000)

    def get(_: int) -> tuple[int, dict]:
        r = app.test_client().get("/v1/products/123123123", headers=t.headers)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(get, range(20)))
    assert [s for s, _ in results] == [200] * 20, results
    assert len({b["product_id"] for _, b in results}) == 1
    assert sim.fetches("123123123") == 1
    assert tokens_used(engine) == 20 and ledger(engine)["charge"] == 20
    assert unsettled(engine) == 0
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT status, leader_job_id FROM jobs")).all()
    assert all(j.status == "completed" for j in jobs)
    assert sum(j.leader_job_id is None for j in jobs) == 1  # one leader, the rest followed


def test_history_and_stats_follow_observed_prices(client, engine, worker, sim):
    t = make_tenant(engine)
    for price in (10.0, 30.0, 20.0, 20.0):
        sim.pin("444555666", price)
        resp = client.post("/v1/products/444555666/refresh", headers=t.headers)
        assert resp.status_code == 200 and resp.get_json()["current_price"] == price
    body = resp.get_json()
    assert [p["price"] for p in body["price_history"]] == [10.0, 30.0, 20.0, 20.0]
    assert body["stats"] == {"low_30d": 10.0, "high_30d": 30.0, "avg_30d": 20.0}


@pytest.mark.parametrize(
    ("status", "http", "code"), [(404, 404, "not_found"), (503, 502, "upstream_unavailable")]
)
def test_an_upstream_failure_is_not_charged(client, engine, worker, sim, status, http, code):
    sim.faults(error_rate=1.0, error_status=status, path_prefix="/walmart")
    t = make_tenant(engine)
    resp = client.post("/v1/products/321321321/refresh", headers=t.headers)
    assert resp.status_code == http, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["code"] == code and "Nothing was charged" in body["message"]
    assert resp.headers["X-RateLimit-Tokens-Remaining"] == "2000"
    assert tokens_used(engine) == 0
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM ledger ORDER BY id")).scalars().all()
        products = conn.execute(text("SELECT count(*) FROM products")).scalar()
    assert kinds == ["reserve", "refund"] and products == 0


def test_a_wait_past_the_bound_is_202_and_the_job_completes(
    engine, worker, sim, settings, celery_app
):
    from api.app import create_app
    from workers.publish import CeleryPublisher

    sim.faults(latency_ms=1500)
    quick = create_app(
        settings.with_overrides(sync_wait_seconds=0.2), publisher=CeleryPublisher(celery_app)
    )
    try:
        t = make_tenant(engine)
        resp = quick.test_client().post(f"/v1/products/{ITEM}/refresh", headers=t.headers)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["status"] in ("queued", "processing") and body["tokens_reserved"] == 9
        assert body["statusUrl"] == f"/v1/jobs/{body['jobId']}"
        assert resp.headers["X-RateLimit-Tokens-Remaining"] == "1991"
        wait_until(
            lambda: (
                quick.test_client().get(body["statusUrl"], headers=t.headers).get_json()["status"]
                == "completed"
            ),
            20,
            "the job to complete",
            every=0.2,
        )
        job = quick.test_client().get(body["statusUrl"], headers=t.headers).get_json()
        assert job["status"] == "completed", job
        assert job["kind"] == "product" and job["productId"] and job["productTitle"]
        assert job["url"] == walmart_target(settings, ITEM).url
        assert ledger(engine) == {"reserve": 9, "charge": 9}
    finally:
        quick.extensions["freshet"].close()


def test_idempotent_refresh_replays_without_a_second_charge(client, engine, worker, sim):
    t = make_tenant(engine)
    h = {**t.headers, "Idempotency-Key": "refresh-1"}
    first = client.post(f"/v1/products/{ITEM}/refresh", headers=h)
    second = client.post(f"/v1/products/{ITEM}/refresh", headers=h)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert tokens_used(engine) == 9 and sim.fetches(ITEM) == 1
