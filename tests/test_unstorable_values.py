"""A job that meets a value the database cannot keep fails at once with its own reason
(issue 12, item 5), instead of staying `running` until its lease expires and being fetched
FRESHET_MAX_ATTEMPTS times."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from freshet import jobs
from freshet.settings import Settings
from tests.factories import make_catalog, make_tenant
from tests.fault.hostile_shop import HostileShop


@pytest.fixture
def shop() -> Iterator[HostileShop]:
    with HostileShop() as s:
        yield s


@pytest.fixture
def settings(settings: Settings, shop: HostileShop) -> Settings:
    return settings.with_overrides(
        allowed_private_hosts=(*settings.allowed_private_hosts, f"127.0.0.1:{shop.port}")
    )


def test_a_value_postgres_cannot_hold_fails_the_job_at_once(client, engine, rt, shop):
    make_catalog(engine, "priceless", "jsonld", [f"127.0.0.1:{shop.port}"])
    t = make_tenant(engine, catalogs=["priceless"])
    resp = client.post(
        "/v1/products/refresh",
        # a NUL character in the name: no text or jsonb value can hold it
        json={"targets": [{"catalog": "priceless", "url": f"{shop.url}/price"}]},
        headers=t.headers,
    )
    assert resp.status_code == 202, resp.get_json()
    workflow = uuid.UUID(resp.get_json()["workflowId"])
    with engine.connect() as conn:
        job_id = conn.execute(
            text("SELECT id FROM jobs WHERE workflow_id = :w"), {"w": workflow}
        ).scalar_one()
    assert jobs.run_job(rt, job_id, "batch_target") == "failed"
    with engine.connect() as conn:
        job = conn.execute(
            text("SELECT status, attempt, error, error_code FROM jobs WHERE id = :id"),
            {"id": job_id},
        ).one()
        stored = conn.execute(text("SELECT count(*) FROM price_observations")).scalar()
    assert (job.status, job.attempt, job.error_code) == ("failed", 1, "unstorable_value")
    assert "cannot be stored" in job.error and "unicode" in job.error.lower()
    assert stored == 0
