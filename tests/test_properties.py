"""Property-based tests (issue 12, item 10): any id, query or body field of any endpoint is
answered with a 4xx in the vendor's envelope or a success, never a 5xx, and never with a job
for an id that is not exact (a trailing newline, non-ASCII digits, 'ß' that upper-cases to
'SS')."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text

from freshet.settings import Settings
from tests.factories import make_tenant

NASTY = [
    "B08N5WRWNW\n",
    "B08N5WRWNW\r\n",
    " B08N5WRWNW",
    "B08N5WRWNß",
    "B08N5WRWN\u0130",
    "\u00b2" * 12,
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662",
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff11\uff12",
    "19667262713\n",
    "0" * 5000,
    "9" * 30,
    "%00",
    "\x00",
    "amazon.de\n",
    "AMAZON.DE",
    "https://walmart.com/ip/\u0661\u0662",
    "00000000-0000-0000-0000-00000000000\u0661",
    "-1",
    "1e3",
    "",
]
ids = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.from_regex(r"[0-9]{1,25}"))
values = st.one_of(
    ids,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
PROPS = hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ASIN = re.compile(r"[A-Za-z0-9]{10}")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(sync_wait_seconds=0.0)  # a fetch answers 202 at once


@pytest.fixture
def tenant(engine):
    return make_tenant(
        engine,
        asin_cooldown_seconds=0,
        concurrent_jobs=10_000,
        requests_per_minute=100_000,
        force_refresh_per_minute=100_000,
        review_jobs_per_month=100_000,
        monthly_tokens=10_000_000,
        marketplaces=["amazon.de", "amazon.co.uk"],
    )


def check(resp) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    if resp.status_code >= 400:
        body = resp.get_json()
        assert isinstance(body, dict) and {"error", "code", "message"} <= set(body), body


def path(value: str) -> str:
    return quote(value, safe="")


@PROPS
@given(asin=values, marketplace=values)
def test_review_refresh(client, engine, tenant, asin, marketplace):
    body = {"asin": asin} if marketplace is None else {"asin": asin, "marketplace": marketplace}
    resp = client.post("/api/v1/reviews/refresh", json=body, headers=tenant.headers)
    check(resp)
    if resp.status_code == 202:  # only for an exact ASIN and marketplace
        assert isinstance(asin, str) and ASIN.fullmatch(asin)
        assert resp.get_json()["asin"] == asin.upper()
        with engine.connect() as conn:
            job = conn.execute(
                text("SELECT asin, marketplace FROM jobs WHERE id = :id"),
                {"id": resp.get_json()["jobId"]},
            ).one()
        assert job.asin == asin.upper()
        assert job.marketplace in ("amazon.de", "amazon.co.uk")


@PROPS
@given(asin=ids, marketplace=ids, page=ids, limit=ids)
def test_cached_reviews(client, tenant, asin, marketplace, page, limit):
    q = {"asin": asin, "marketplace": marketplace, "page": page, "limit": limit}
    check(client.get("/api/v1/reviews", query_string=q, headers=tenant.headers))


@PROPS
@given(job_id=ids)
def test_jobs(client, tenant, job_id):
    for url in (f"/api/v1/jobs/{path(job_id)}", f"/v1/jobs/{path(job_id)}"):
        check(client.get(url, headers=tenant.headers))
    check(client.post(f"/v1/jobs/{path(job_id)}/cancel", headers=tenant.headers))


@PROPS
@given(
    product_id=ids,
    fmt=st.one_of(
        st.none(),
        st.sampled_from(["item_id", "upc", "ean", "isbn", "gtin", "asin", "uuid", "url"]),
        ids,
    ),
    max_age=st.one_of(st.none(), ids),
    flag=st.one_of(st.none(), ids, st.sampled_from(["true", "false", "1"])),
)
def test_products(client, engine, tenant, product_id, fmt, max_age, flag):
    q = {
        k: v
        for k, v in {"format": fmt, "max_age": max_age, "force_refresh": flag}.items()
        if v is not None
    }
    for resp in (
        client.get(f"/v1/products/{path(product_id)}", query_string=q, headers=tenant.headers),
        client.post(f"/v1/products/{path(product_id)}/refresh", headers=tenant.headers),
    ):
        check(resp)
        if resp.status_code in (200, 202):  # a job only for an exact, ASCII id
            assert product_id.strip().isascii()
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT params->>'key' FROM jobs WHERE kind = 'product'"))
        for (key,) in keys:
            assert key.isascii() and "\n" not in key


@PROPS
@given(
    targets=st.one_of(
        values,
        st.lists(
            st.dictionaries(st.sampled_from(["url", "uuid", "catalog", "x"]), values, max_size=3),
            max_size=4,
        ),
    ),
    extra=st.dictionaries(st.sampled_from(["callbackUrl", "priority", "name"]), values, max_size=2),
)
def test_batch(client, tenant, targets, extra):
    resp = client.post(
        "/v1/products/refresh", json={"targets": targets, **extra}, headers=tenant.headers
    )
    check(resp)


@PROPS
@given(workflow_id=ids, limit=ids, cursor=ids)
def test_workflows(client, tenant, workflow_id, limit, cursor):
    q = {"limit": limit, "cursor": cursor}
    check(client.get(f"/v1/workflows/{path(workflow_id)}", query_string=q, headers=tenant.headers))
    check(client.post(f"/v1/workflows/{path(workflow_id)}/cancel", headers=tenant.headers))


@PROPS
@given(q=st.dictionaries(ids, ids, max_size=3))
def test_usage(client, tenant, q):
    check(client.get("/v1/usage", query_string=q, headers=tenant.headers))


@pytest.mark.parametrize(
    "body",
    [
        {"asin": "B08N5WRWNW\n"},
        {"asin": "B08N5WRWNW", "marketplace": "amazon.de\n"},
        {"asin": "B08N5WRWNß"},
    ],
)
def test_an_id_that_is_not_exact_is_400_and_no_job(client, engine, tenant, body):
    resp = client.post("/api/v1/reviews/refresh", json=body, headers=tenant.headers)
    assert resp.status_code == 400, resp.get_json()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0


@pytest.mark.parametrize(
    "product_id",
    [
        "\u00b2" * 12,
        "\u0661" * 13,
        "\uff11" * 14,
        "\u0661\u0662\u0663",
        "B08N5WRWNß",
        "19667262713\n",
        "0" * 5000,
    ],
)
def test_non_ascii_digits_in_a_product_id_are_400(client, engine, tenant, product_id):
    for fmt in (None, "upc", "ean", "gtin", "isbn", "item_id", "asin"):
        q = {"format": fmt} if fmt else {}
        resp = client.get(
            f"/v1/products/{path(product_id)}", query_string=q, headers=tenant.headers
        )
        assert resp.status_code in (400, 404), (fmt, resp.get_json())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
