"""A backing-service outage in each vendor's dialect (issue 12, item 13): the Descripio
endpoints (/api/v1/...) answer its `500 service_error` with Retry-After, as its error table
says; the other endpoints keep the shared `503 service_unavailable`."""

from __future__ import annotations

import pytest

from api.app import create_app
from tests.factories import make_tenant
from workers.publish import NullPublisher

DOWN = {
    "redis": {"redis_url": "redis://127.0.0.1:1/0"},
    "postgres": {"database_url": "postgresql://postgres@127.0.0.1:1/nowhere"},
}


@pytest.fixture(params=sorted(DOWN))
def outage(request, settings):
    app = create_app(settings.with_overrides(**DOWN[request.param]), publisher=NullPublisher())
    yield app.test_client()
    app.extensions["freshet"].close()


def test_descripio_endpoints_answer_500_service_error_with_retry_after(outage, engine):
    t = make_tenant(engine)
    for resp in (
        outage.post("/api/v1/reviews/refresh", json={"asin": "B08N5WRWNW"}, headers=t.headers),
        outage.get("/api/v1/jobs/1", headers=t.headers),
        outage.get("/api/v1/reviews?asin=B08N5WRWNW", headers=t.headers),
    ):
        assert resp.status_code == 500, resp.get_data(as_text=True)
        body = resp.get_json()
        assert (body["error"], body["code"]) == ("service_error", "service_error")
        assert body["message"] and int(resp.headers["Retry-After"]) >= 1
    other = outage.get("/v1/usage", headers=t.headers)
    assert other.status_code == 503 and other.get_json()["code"] == "service_unavailable"
    assert int(other.headers["Retry-After"]) >= 1


def test_a_pool_with_every_connection_busy_is_503_not_500(client, engine, rt, monkeypatch):
    """Every pooled connection checked out past the pool's timeout: an outage answer too."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from freshet.products import store as product_store

    t = make_tenant(engine)

    def exhausted(*_a: object, **_k: object) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 0 reached")

    monkeypatch.setattr(product_store, "cached_by_key", exhausted)
    resp = client.get("/v1/products/19667262713", headers=t.headers)
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.get_json()["code"] == "service_unavailable"
