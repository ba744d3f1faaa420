"""Product lookup API without a worker: ids, flags, errors, headers, the cached answer's exact
shape, token charges from the cache, history and stats from stored observations."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import text

from freshet.errors import BadRequest
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from sources.record import Dimensions, Offer, ProductRecord, TopReview
from tests.factories import add_prices, age_product, make_catalog, make_product, make_tenant

SEED_FIELDS = [
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
    "dimensions",
    "offers_count",
    "seller_id",
    "seller_name",
    "average_rating",
    "review_count",
    "categories",
    "walmart_url",
    "in_stock",
    "offers",
    "price_history",
    "stats",
    "review_summary",
    "tokens_consumed",
    "tokens_remaining",
]
HEADERS = (
    "X-RateLimit-Tokens-Remaining",
    "X-RateLimit-Throttle-Limit",
    "X-RateLimit-Throttle-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
)


def seed_record(item_id: str = "19667262713", **over) -> ProductRecord:
    values = dict(
        source="walmart",
        url=f"https://www.walmart.com/ip/{item_id}",
        item_id=item_id,
        upc="086279195869",
        gtin="00086279195869",
        mpn="EP-PC8",
        model="EP-PC8",
        title="12-in-1 Electric Pressure Cooker 6 QT",
        brand="Cooks Essentials",
        image_url="https://i5.walmartimages.com/x/EP-PC8.jpg",
        description="12-in-1 multi-function pressure cooker",
        currency="USD",
        current_price=49.0,
        buybox_price=49.0,
        msrp=79.99,
        weight_lbs=14.2,
        dimensions=Dimensions(height_in=13.4, width_in=12.6, length_in=13.0),
        seller_id="F55CDC31AB754BB68FE0B39041159D63",
        seller_name="Walmart",
        average_rating=4.3,
        review_count=1247,
        categories=["Kitchen", "Small Appliances", "Pressure Cookers"],
        in_stock=True,
        offers=[
            Offer(
                seller_id="F55CDC31AB754BB68FE0B39041159D63",
                seller_name="Walmart",
                price=49.0,
                currency="USD",
                condition="new",
                in_stock=True,
                shipping_price=0.0,
                is_buybox=True,
            )
        ],
        top_reviews=[
            TopReview(
                rating=5.0, title="Great", text="Cooks fast.", author="Ann", date="2025-01-02"
            )
        ],
    )
    values.update(over)
    return ProductRecord(**values)


def store(engine, settings, record: ProductRecord | None = None):
    record = record or seed_record()
    return make_product(engine, product_ids.walmart_target(settings, record.item_id), record)


def tokens_used(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods")
        ).scalar()


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608


def envelope(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) >= {"error", "code", "message"} and body["code"] == code
    for h in HEADERS:
        assert h in resp.headers, h
    if status == 429:
        assert int(resp.headers["Retry-After"]) >= 1
    return body


# identifiers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "fmt", "kind"),
    [
        ("19667262713", None, "item_id"),
        ("086279195869", None, "upc"),
        ("4006381333931", None, "ean"),
        ("9780306406157", None, "isbn"),
        ("0306406152", None, "isbn"),
        ("00086279195869", None, "gtin"),
        ("B08N5WRWNW", None, "asin"),
        ("b08n5wrwnw", None, "asin"),
        ("0b8a7e2c-1d1f-4f57-9a38-2b5c7d0f4e11", None, "uuid"),
        ("https://x.test/p/1", None, "url"),
        ("086279195869", "item_id", "item_id"),
        ("123", None, "item_id"),
    ],
)
def test_identifiers_are_recognized(raw, fmt, kind):
    assert product_ids.parse(raw, fmt).kind == kind


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [
        ("abc", None),
        ("086279195860", None),
        ("12345", "upc"),
        ("B08N5", "asin"),
        ("not-a-uuid", "uuid"),
        ("ftp://x.test/p", "url"),
        ("12a4", "item_id"),
        ("x" * 3000, None),
    ],
)
def test_bad_identifiers_are_rejected(raw, fmt):
    with pytest.raises(BadRequest):
        product_ids.parse(raw, fmt)


@pytest.mark.parametrize(
    "query",
    [
        "include_offers_reviews=maybe",
        "force_refresh=2",
        "max_age=-1",
        "max_age=soon",
        "format=sku",
        "retailer=Not%20A%20Slug",
        "include_offers=yesplease",
    ],
)
def test_bad_flag_values_are_400(client, engine, query):
    t = make_tenant(engine)
    envelope(client.get(f"/v1/products/19667262713?{query}", headers=t.headers), 400, "bad_request")
    assert count(engine, "jobs") == 0 and tokens_used(engine) == 0


def test_bad_id_is_400_with_headers(client, engine):
    t = make_tenant(engine)
    resp = client.get("/v1/products/what-is-this", headers=t.headers)
    envelope(resp, 400, "bad_request")
    assert resp.headers["X-RateLimit-Tokens-Remaining"] == "2000"
    assert resp.headers["X-RateLimit-Throttle-Limit"] == "60"


def test_missing_key_is_401(client):
    resp = client.get("/v1/products/19667262713")
    assert resp.status_code == 401 and resp.get_json()["code"] == "unauthorized"


def test_unknown_upc_is_404_saying_it_cannot_be_resolved(client, engine, simulator):
    t = make_tenant(engine)
    body = envelope(client.get("/v1/products/086279195869", headers=t.headers), 404, "not_found")
    assert "UPC" in body["message"] and "item id" in body["message"]
    assert count(engine, "jobs") == 0 and tokens_used(engine) == 0
    assert requests.request("GET", simulator.url + "/_sim/stats", timeout=5).json()["total"] == 0


def test_unknown_uuid_and_ungranted_url_are_404(client, engine):
    t = make_tenant(engine)
    envelope(
        client.get("/v1/products/0b8a7e2c-1d1f-4f57-9a38-2b5c7d0f4e11", headers=t.headers),
        404,
        "not_found",
    )
    url = quote("https://shop.example.com/products/kettle", safe="")
    envelope(client.get(f"/v1/products/{url}", headers=t.headers), 404, "not_found")


# the cached answer ----------------------------------------------------------------------------
def test_cached_full_answer_has_the_seeds_exact_shape(client, engine, settings):
    t = make_tenant(engine)
    pid = store(engine, settings)
    resp = client.get("/v1/products/19667262713?include_offers_reviews=true", headers=t.headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert list(body)[: len(SEED_FIELDS) - 2] == SEED_FIELDS[:-2]
    assert list(body)[-2:] == ["tokens_consumed", "tokens_remaining"]
    expected = {
        "item_id": "19667262713",
        "upc": "086279195869",
        "ean": None,
        "isbn": None,
        "gtin": "00086279195869",
        "asin": None,
        "mpn": "EP-PC8",
        "model": "EP-PC8",
        "title": "12-in-1 Electric Pressure Cooker 6 QT",
        "brand": "Cooks Essentials",
        "image_url": "https://i5.walmartimages.com/x/EP-PC8.jpg",
        "description": "12-in-1 multi-function pressure cooker",
        "current_price": 49.0,
        "buybox_price": 49.0,
        "secondary_offer_price": None,
        "msrp": 79.99,
        "weight_lbs": 14.2,
        "dimensions": {"height_in": 13.4, "width_in": 12.6, "length_in": 13.0},
        "offers_count": 1,
        "seller_id": "F55CDC31AB754BB68FE0B39041159D63",
        "seller_name": "Walmart",
        "average_rating": 4.3,
        "review_count": 1247,
        "categories": ["Kitchen", "Small Appliances", "Pressure Cookers"],
        "walmart_url": "https://www.walmart.com/ip/19667262713",
        "in_stock": True,
        "review_summary": {"average_rating": 4.3, "total_reviews": 1247},
        "cross_retailer": {},
        "seller_context": None,
        "product_id": str(pid),
        "cached": True,
        "tokens_consumed": 6,
        "tokens_remaining": 1994,
    }
    for key, value in expected.items():
        assert body[key] == value, key
    assert body["offers"] == [
        {
            "seller_id": "F55CDC31AB754BB68FE0B39041159D63",
            "seller_name": "Walmart",
            "price": 49.0,
            "currency": "USD",
            "condition": "new",
            "in_stock": True,
            "shipping_price": 0.0,
            "is_buybox": True,
        }
    ]
    assert body["top_reviews"] == [
        {
            "rating": 5.0,
            "title": "Great",
            "text": "Cooks fast.",
            "author": "Ann",
            "date": "2025-01-02",
        }
    ]
    assert [p["price"] for p in body["price_history"]] == [49.0]  # stored with the record
    assert body["stats"] == {"low_30d": 49.0, "high_30d": 49.0, "avg_30d": 49.0}
    assert resp.headers["X-RateLimit-Tokens-Remaining"] == "1994"
    assert resp.headers["X-RateLimit-Throttle-Limit"] == "60"
    assert resp.headers["X-RateLimit-Throttle-Remaining"] == "59"
    assert resp.headers["X-RateLimit-Remaining"] == "59"
    assert 0 <= int(resp.headers["X-RateLimit-Reset"]) <= 60
    with engine.connect() as conn:
        ledger = conn.execute(text("SELECT kind, amount, job_id FROM ledger")).all()
        reads = conn.execute(text("SELECT reads FROM products")).scalar()
    assert [tuple(r) for r in ledger] == [("charge", 6, None)]
    assert reads == 1 and count(engine, "jobs") == 0


def test_base_lookup_costs_one_token_and_leaves_paid_parts_empty(client, engine, settings):
    t = make_tenant(engine)
    store(engine, settings)
    body = client.get(
        "/v1/products/19667262713?include_history=true&include_stats=1&"
        "include_cross_retailer=true&include_seller_context=true&retailer=walmart",
        headers=t.headers,
    ).get_json()
    assert body["tokens_consumed"] == 1 and body["tokens_remaining"] == 1999
    assert body["offers"] == [] and body["top_reviews"] == [] and body["review_summary"] is None
    assert body["cross_retailer"] == {} and body["seller_context"] is None
    assert body["offers_count"] == 1 and body["current_price"] == 49.0
    assert tokens_used(engine) == 1


def test_every_read_counts_until_hot_then_at_most_one_a_second(client, engine, settings):
    """The read count decides hotness only: exact up to the threshold, then a hot product's
    concurrent readers do not each rewrite its row (each is still charged)."""
    t = make_tenant(engine)
    store(engine, settings)
    threshold = settings.hot_reads_threshold
    for _ in range(threshold + 5):
        assert client.get("/v1/products/19667262713", headers=t.headers).status_code == 200
    with engine.connect() as conn:
        reads = conn.execute(text("SELECT reads FROM products")).scalar()
        charges = conn.execute(text("SELECT count(*) FROM ledger WHERE kind = 'charge'")).scalar()
    assert charges == threshold + 5 and tokens_used(engine) == threshold + 5
    assert threshold <= reads < threshold + 5  # the rest fell within a second of the last
    with engine.begin() as conn:
        conn.execute(text("UPDATE products SET last_read_at = now() - interval '2 seconds'"))
    assert client.get("/v1/products/19667262713", headers=t.headers).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reads FROM products")).scalar() == reads + 1


@pytest.mark.parametrize("alias", ["include_offers", "include_reviews", "include_offers_reviews"])
def test_offers_reviews_aliases_cost_five_more(client, engine, settings, alias):
    t = make_tenant(engine)
    store(engine, settings)
    body = client.get(f"/v1/products/19667262713?{alias}=true", headers=t.headers).get_json()
    assert body["tokens_consumed"] == 6 and len(body["offers"]) == 1


@pytest.mark.parametrize("path", ["086279195869", "00086279195869", "86279195869?format=item_id"])
def test_known_codes_find_the_stored_product(client, engine, settings, path):
    t = make_tenant(engine)
    store(engine, settings, seed_record("86279195869"))
    if "format" not in path:
        store(engine, settings, seed_record("19667262713", upc="000000000000", gtin=None))
    resp = client.get(f"/v1/products/{path}", headers=t.headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["item_id"] == "86279195869"


def test_uuid_and_walmart_url_find_the_stored_product(client, engine, settings):
    t = make_tenant(engine)
    pid = store(engine, settings)
    by_uuid = client.get(f"/v1/products/{pid}", headers=t.headers).get_json()
    url = quote("https://www.walmart.com/ip/Pressure-Cooker/19667262713", safe="")
    by_url = client.get(f"/v1/products/{url}", headers=t.headers).get_json()
    assert by_uuid["product_id"] == by_url["product_id"] == str(pid)


def test_too_few_tokens_is_402_before_any_upstream_work(client, engine, settings, simulator):
    t = make_tenant(engine, monthly_tokens=5)
    store(engine, settings)
    resp = client.get("/v1/products/19667262713?include_offers_reviews=true", headers=t.headers)
    body = envelope(resp, 402, "payment_required")
    assert "6 tokens" in body["message"] and resp.headers["X-RateLimit-Tokens-Remaining"] == "5"
    fresh = client.post("/v1/products/55555555/refresh", headers=t.headers)
    envelope(fresh, 402, "payment_required")
    assert count(engine, "jobs") == 0 and count(engine, "ledger") == 0
    assert requests.request("GET", simulator.url + "/_sim/stats", timeout=5).json()["total"] == 0
    assert client.get("/v1/products/19667262713", headers=t.headers).status_code == 200
    assert tokens_used(engine) == 1


def test_throttle_counts_every_product_call(client, engine, settings):
    t = make_tenant(engine, requests_per_minute=3)
    store(engine, settings)
    for _ in range(3):
        assert client.get("/v1/products/19667262713", headers=t.headers).status_code == 200
    resp = client.get("/v1/products/19667262713", headers=t.headers)
    envelope(resp, 429, "rate_limited")
    assert resp.headers["X-RateLimit-Throttle-Remaining"] == "0"
    assert tokens_used(engine) == 3
    usage = client.get("/v1/usage", headers=t.headers).get_json()
    assert usage["limits"]["requestsPerMinute"]["remaining"] == 0


def test_stale_ttl_and_max_age_decide_between_cache_and_fetch(engine, settings):
    from freshet.products.view import LookupOptions, needs_fetch

    pid = store(engine, settings)
    age_product(engine, pid, price_fetched_at=3600)
    with engine.connect() as conn:
        row = product_store.load(conn, pid)
    assert needs_fetch(row, LookupOptions(), settings)  # ttl_price is 15 minutes
    assert not needs_fetch(row, LookupOptions(max_age=7200), settings)
    assert needs_fetch(row, LookupOptions(max_age=7200, force=True), settings)
    age_product(engine, pid, price_fetched_at=0, reviews_fetched_at=2 * 86400)
    with engine.connect() as conn:
        row = product_store.load(conn, pid)
    assert not needs_fetch(row, LookupOptions(), settings)
    assert needs_fetch(row, LookupOptions(offers_reviews=True), settings)  # reviews 1 day
    assert needs_fetch(row, LookupOptions(max_age=60), settings) is False
    assert (
        needs_fetch(row, LookupOptions(offers_reviews=True, max_age=3 * 86400), settings) is False
    )


def test_history_and_stats_cover_every_observation_of_thirty_days(client, engine, settings):
    t = make_tenant(engine)
    pid = store(engine, settings)  # observes 49.0 now
    now = dt.datetime.now(dt.UTC)
    points = [
        (now - dt.timedelta(days=40), 5.0),
        (now - dt.timedelta(days=20), 39.0),
        (now - dt.timedelta(days=10), 59.0),
        (now - dt.timedelta(days=5), 47.0),
        (now - dt.timedelta(days=1), 42.0),
    ]
    add_prices(engine, pid, points)
    body = client.get("/v1/products/19667262713", headers=t.headers).get_json()
    assert [p["price"] for p in body["price_history"]] == [39.0, 59.0, 47.0, 42.0, 49.0]
    assert body["price_history"][0]["date"] == points[1][0].date().isoformat()
    assert all(set(p) == {"date", "observed_at", "price"} for p in body["price_history"])
    assert body["stats"] == {"low_30d": 39.0, "high_30d": 59.0, "avg_30d": 47.2}


def test_observations_are_unique_per_job(engine, settings):
    target = product_ids.walmart_target(settings, "19667262713")
    with engine.begin() as conn:
        product_store.store_record(conn, target, seed_record(), job_id=77)
        product_store.store_record(conn, target, seed_record(current_price=50.0), job_id=77)
    assert count(engine, "price_observations") == 1 and count(engine, "products") == 1


def test_catalog_url_resolves_to_the_granted_catalog(engine, settings, simulator):
    from freshet.accounts.tenants import Principal

    make_catalog(engine, "demo-shop", "shopify", [simulator.host + "/shops/demo"])
    t = make_tenant(engine, catalogs=["demo-shop"])
    with engine.connect() as conn:
        from freshet.accounts import tenants

        principal = tenants.authenticate(conn, t.key)
        assert isinstance(principal, Principal)
        url = simulator.url + "/shops/demo/products/kettle"
        row, target = product_ids.resolve(
            conn, settings, principal, product_ids.parse(url), "walmart"
        )
    assert row is None and target.source == "shopify" and target.catalog_id is not None
    assert target.key == url
