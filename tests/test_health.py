"""Liveness and readiness probes."""

from __future__ import annotations

from api.app import create_app
from workers.publish import NullPublisher


def test_healthz_answers_ok_without_auth(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert resp.headers["X-Request-Id"]


def test_readyz_is_200_with_postgres_redis_and_migrations_at_head(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


def test_readyz_is_503_with_retry_after_when_redis_is_unreachable(settings):
    app = create_app(
        settings.with_overrides(redis_url="redis://127.0.0.1:1/0"), publisher=NullPublisher()
    )
    try:
        resp = app.test_client().get("/readyz")
    finally:
        app.extensions["freshet"].close()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")


def test_readyz_is_503_when_postgres_is_unreachable(settings):
    app = create_app(
        settings.with_overrides(database_url="postgresql://postgres@127.0.0.1:1/nowhere"),
        publisher=NullPublisher(),
    )
    try:
        resp = app.test_client().get("/readyz")
    finally:
        app.extensions["freshet"].close()
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["postgres"].startswith("unavailable")
