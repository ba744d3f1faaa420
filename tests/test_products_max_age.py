"""max_age below the cache's TTL is a force refresh (issue 12, item 12): it costs the force
refresh's +3 tokens and counts against the force-refresh cap, like Keepa's update=0."""

from __future__ import annotations

import pytest

from freshet.products import Target, store_record
from freshet.settings import Settings
from sources.record import ProductRecord
from tests.factories import make_tenant

ITEM = "19667262713"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(sync_wait_seconds=0.0)  # no worker: a fetch answers 202


def _cached(engine):
    record = ProductRecord(source="walmart", item_id=ITEM, title="A thing", current_price=9.99)
    with engine.begin() as conn:
        store_record(conn, Target("walmart", ITEM), record, None)


def test_max_age_below_the_ttl_is_charged_and_capped_as_a_force_refresh(client, engine):
    _cached(engine)
    t = make_tenant(engine, force_refresh_per_minute=1)
    cached = client.get(f"/v1/products/{ITEM}", headers=t.headers)
    assert cached.status_code == 200 and cached.get_json()["tokens_consumed"] == 1
    # max_age=0: an upstream fetch now, at the force refresh's price
    fetch = client.get(f"/v1/products/{ITEM}?max_age=0", headers=t.headers)
    assert fetch.status_code == 202, fetch.get_json()
    assert fetch.get_json()["tokens_reserved"] == 4
    # and under the force-refresh cap (1 a minute on this plan)
    capped = client.get(f"/v1/products/{ITEM}?max_age=60", headers=t.headers)
    assert capped.status_code == 429, capped.get_json()
    assert "Force refresh is capped" in capped.get_json()["message"]
    # a max_age at or above the TTL reads the cache as before, for 1 token
    relaxed = client.get(f"/v1/products/{ITEM}?max_age=7200", headers=t.headers)
    assert relaxed.status_code == 200 and relaxed.get_json()["tokens_consumed"] == 1
