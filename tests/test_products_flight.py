"""Single flight settlement without a worker (leader rows written by hand), the sweeper's
follower pass, hot-product refresh, and a catalog URL end to end."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
from sqlalchemy import text

from freshet import products
from freshet.jobs import lifecycle as jobs
from freshet.jobs.sweeper import sweep
from freshet.products import flight as product_flight
from tests.factories import (
    age_jobs,
    ledger_kinds,
    make_catalog,
    make_job,
    make_tenant,
    set_job_status,
)


def new_job(engine, tenant, *, status="queued", leader=None, cost=1, result=None):
    return make_job(
        engine, tenant, "product", status=status, leader_job_id=leader, cost=cost, result=result
    )


def state(engine, job_id: int) -> tuple[str, list[str]]:
    with engine.connect() as conn:
        status = jobs.status_of(conn, job_id)
    return status, ledger_kinds(engine, job_id)


def test_a_follower_of_a_running_leader_is_attached_and_charged_with_it(engine, rt, published):
    t = make_tenant(engine)
    leader = new_job(engine, t, status="running")
    follower = new_job(engine, t)
    product_flight.attach(rt, follower, leader)
    assert state(engine, follower) == ("queued", ["reserve"]) and published.sent == []
    with engine.begin() as conn:
        product_flight.settle_completed(conn, leader, {"productTitle": "x"}, None)
    set_job_status(engine, leader, "completed", finished=True)
    assert state(engine, follower) == ("completed", ["reserve", "charge"])
    assert product_flight.settle_ended(rt, leader) == []  # nothing twice
    assert state(engine, follower) == ("completed", ["reserve", "charge"])


def test_a_follower_attaching_after_the_leader_finished_is_settled_at_once(engine, rt, published):
    t = make_tenant(engine)
    leader = new_job(engine, t, status="completed", result={"productTitle": "Kettle"})
    follower = new_job(engine, t, cost=6)
    product_flight.attach(rt, follower, leader)
    assert state(engine, follower) == ("completed", ["reserve", "charge"])
    with engine.connect() as conn:
        job = jobs.get(conn, follower)
    assert job["leader_job_id"] == leader and job["result"]["productTitle"] == "Kettle"
    assert published.sent == []
    assert products.sweep_followers(rt) == 0


def test_a_follower_of_a_failed_or_foreign_leader_fetches_alone(engine, rt, published):
    t = make_tenant(engine)
    failed = new_job(engine, t, status="failed")
    a, b = new_job(engine, t), new_job(engine, t)
    product_flight.attach(rt, a, failed)
    product_flight.attach(rt, b, -12345)  # a hot refresh holds the flight: no job to follow
    assert published.sent == [a, b]
    assert state(engine, a) == ("queued", ["reserve"])


def test_the_sweeper_settles_orphaned_followers_exactly_once(engine, rt, published):
    t = make_tenant(engine)
    ok = new_job(engine, t, status="running")
    bad = new_job(engine, t, status="running")
    f_ok, f_bad = new_job(engine, t), new_job(engine, t)
    product_flight.attach(rt, f_ok, ok)
    product_flight.attach(rt, f_bad, bad)
    gone = new_job(engine, t, leader=987654321)  # its leader's row never committed
    set_job_status(engine, ok, "completed")
    set_job_status(engine, bad, "failed", error="boom", error_code="not_found")
    age_jobs(engine, 60)  # the followers are past the sweeper's grace
    first = sweep(rt)
    assert first["sweep_followers"] == 3
    assert state(engine, f_ok) == ("completed", ["reserve", "charge"])
    assert state(engine, f_bad) == ("failed", ["reserve", "refund"])
    assert state(engine, gone) == ("queued", ["reserve"]) and gone in published.sent
    assert sweep(rt)["sweep_followers"] == 0
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT error_code FROM jobs WHERE id = :id"), {"id": f_bad}).scalar()
            == "not_found"
        )


def test_a_waiting_follower_heals_itself(engine, rt, published):
    t = make_tenant(engine)
    leader = new_job(engine, t, status="running")
    follower = new_job(engine, t)
    product_flight.attach(rt, follower, leader)
    assert not product_flight.heal(rt, follower)
    set_job_status(engine, leader, "cancelled")
    assert product_flight.heal(rt, follower)
    assert published.sent == [follower]  # the cancelled leader's follower now runs alone


def test_hot_products_are_refreshed_before_they_go_stale_at_no_cost(
    engine, rt, simulator, settings, worker
):
    from freshet.products import ids as product_ids
    from freshet.products import store as product_store
    from sources.record import ProductRecord

    target = product_ids.walmart_target(settings, "808080")
    with engine.begin() as conn:
        pid = product_store.store_record(
            conn, target, ProductRecord(source="walmart", current_price=1.0), None
        )
        cold = product_store.store_record(
            conn,
            product_ids.walmart_target(settings, "909090"),
            ProductRecord(source="walmart"),
            None,
        )
        conn.execute(
            text(
                "UPDATE products SET price_fetched_at = now() - interval '14 minutes',"
                " last_read_at = now(), reads = CASE WHEN id = :hot THEN :n ELSE 1 END"
            ),
            {"hot": pid, "n": settings.hot_reads_threshold},
        )
    assert products.refresh_hot(rt) == 1  # one ordinary product job, charged to nobody
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            job = conn.execute(
                text("SELECT status, org_id, tokens_reserved FROM jobs WHERE product_id = :p"),
                {"p": pid},
            ).one()
        if job.status == "completed":
            break
        time.sleep(0.1)
    assert (job.status, job.org_id, job.tokens_reserved) == ("completed", None, 0)
    stats = requests.request("GET", simulator.url + "/_sim/stats", timeout=5).json()["paths"]
    assert stats == {"/walmart/ip/808080": 1}
    with engine.connect() as conn:
        row = product_store.load(conn, pid)
        assert float(row.price_age) < 60 and row.data["title"]
        assert float(product_store.load(conn, cold).price_age) > 600
        assert conn.execute(text("SELECT count(*) FROM ledger")).scalar() == 0
        assert (
            conn.execute(
                text("SELECT count(*) FROM price_observations WHERE product_id = :p"), {"p": pid}
            ).scalar()
            == 2
        )
    assert products.refresh_hot(rt) == 0  # fresh now


@pytest.mark.e2e
def test_a_catalog_url_is_fetched_with_its_source(client, engine, worker, simulator):
    make_catalog(engine, "demo-shop", "shopify", [simulator.host + "/shops/demo"])
    t = make_tenant(engine, catalogs=["demo-shop"])
    url = simulator.url + "/shops/demo/products/copper-kettle"
    resp = client.get(f"/v1/products/{quote(url, safe='')}", headers=t.headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["title"] and body["current_price"] is not None
    assert body["walmart_url"] is None and body["source"] == "shopify"
    again = client.get(f"/v1/products/{body['product_id']}", headers=t.headers).get_json()
    assert again["cached"] is True and again["product_id"] == body["product_id"]
    other = make_tenant(engine)  # not granted: the product is not visible to it
    assert (
        client.get(f"/v1/products/{body['product_id']}", headers=other.headers).status_code == 404
    )
