"""Batch workflows end to end: API → one launch message → fan-out → real worker → simulator,
with per-host politeness measured at the simulator, status, pagination and cancel."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from sqlalchemy import text

from freshet.batch import ending, workflows
from tests.factories import age_workflow, make_catalog, make_tenant
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
URL = "/v1/products/refresh"


def wait_workflow(
    client,
    tenant,
    workflow_id: str,
    timeout: float = 30.0,
    until: tuple[str, ...] = ("completed", "failed", "partially_failed", "cancelled"),
) -> dict:
    def brief() -> dict:
        return client.get(f"/v1/workflows/{workflow_id}?limit=1", headers=tenant.headers).get_json()

    wait_until(lambda: brief()["status"] in until, timeout, f"workflow to be {until}", every=0.2)
    return client.get(f"/v1/workflows/{workflow_id}", headers=tenant.headers).get_json()


def counts(client, tenant, workflow_id: str) -> dict:
    return client.get(f"/v1/workflows/{workflow_id}?limit=1", headers=tenant.headers).get_json()[
        "counts"
    ]


def sim_stats(simulator) -> dict:
    """GET /_sim/stats, in process (upstream HTTP outside sources.http is linted away)."""
    return simulator.app.test_client().get("/_sim/stats").get_json()


def submit(client, tenant, targets, **extra):
    resp = client.post(URL, json={"targets": targets, **extra}, headers=tenant.headers)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


def test_a_500_target_batch_is_accepted_and_completes(client, engine, worker, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"], politeness=400)
    make_catalog(engine, "site", "jsonld", [f"{simulator.host}/sites/demo"], politeness=400)
    t = make_tenant(engine, catalogs=["shop", "site"])
    shop, site = f"{simulator.url}/shops/demo/products/", f"{simulator.url}/sites/demo/p/"
    # mostly Shopify JSON; schema.org pages cost ~3x the parsing, a hundred are enough here
    targets = [{"catalog": "shop", "url": f"{shop}item-{i}"} for i in range(400)] + [
        {"url": f"{site}thing-{i}"} for i in range(100)
    ]
    started = time.monotonic()
    body = submit(client, t, targets)
    assert len(body["accepted"]) == 500 and body["rejected"] == []
    done = wait_workflow(client, t, body["workflowId"], timeout=60)
    elapsed = time.monotonic() - started
    assert done["status"] == "completed", done["counts"]
    assert done["counts"] == {
        "queued": 0,
        "processing": 0,
        "completed": 500,
        "failed": 0,
        "cancelled": 0,
        "total": 500,
    }
    assert done["workflowStatus"] == "launched" and done["finishedAt"]
    stats = sim_stats(simulator)
    # One fetch per target (.json for the shop, the page for the site), at most 400/s per host.
    assert stats["total"] == 500
    assert stats["max_per_second"][simulator.host] <= 400
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM products")).scalar() == 500
        assert conn.execute(text("SELECT count(*) FROM price_observations")).scalar() == 500
        charged = conn.execute(text("SELECT count(*) FROM ledger WHERE kind = 'charge'")).scalar()
        assert charged == 500
        assert conn.execute(text("SELECT tokens_used FROM usage_periods")).scalar() == 500
    # every target paged through once, each with its product
    seen, cursor = [], None
    while True:
        q = f"/v1/workflows/{body['workflowId']}?limit=200" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = client.get(q, headers=t.headers).get_json()
        seen += page["targets"]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert [s["index"] for s in seen] == list(range(500))
    assert all(s["status"] == "completed" and s["productId"] and s["error"] is None for s in seen)
    print(f"\n500-target batch completed end to end in {elapsed:.1f}s")


def test_per_host_politeness_is_never_exceeded(client, engine, worker, simulator):
    make_catalog(engine, "slow", "jsonld", [f"{simulator.host}/sites/slow"], politeness=5)
    t = make_tenant(engine, catalogs=["slow"])
    targets = [{"url": f"{simulator.url}/sites/slow/p/p{i}"} for i in range(16)]
    started = time.monotonic()
    body = submit(client, t, targets)
    done = wait_workflow(client, t, body["workflowId"], timeout=30)
    assert done["status"] == "completed", done["counts"]
    stats = sim_stats(simulator)
    assert stats["total"] == 16
    assert stats["max_per_second"][simulator.host] <= 5
    # 16 requests at (at most) 5/s cannot take less than 3 s: nothing was dropped to go faster
    assert time.monotonic() - started >= 3.0


def test_failed_targets_report_their_reasons_and_are_refunded(client, engine, worker, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    requests.put(simulator.url + "/_sim/faults", json={"malformed_rate": 1.0}, timeout=5)
    body = submit(
        client,
        t,
        [
            {"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/bad-{i}"}
            for i in range(3)
        ],
    )
    done = wait_workflow(client, t, body["workflowId"])
    assert done["status"] == "failed"
    assert done["counts"]["failed"] == 3
    assert all(x["error"] and x["errorCode"] for x in done["targets"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT tokens_used FROM usage_periods")).scalar() == 0


def test_a_workflow_is_private_to_its_organization(client, engine, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    owner, other = make_tenant(engine, catalogs=["shop"]), make_tenant(engine, catalogs=["shop"])
    body = submit(
        client, owner, [{"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/a"}]
    )
    wid = body["workflowId"]
    assert client.get(f"/v1/workflows/{wid}", headers=owner.headers).status_code == 200
    for path in (
        f"/v1/workflows/{wid}",
        f"/v1/workflows/{uuid.uuid4()}",
        "/v1/workflows/not-a-uuid",
    ):
        resp = client.get(path, headers=other.headers)
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "workflow_not_found"
    assert client.post(f"/v1/workflows/{wid}/cancel", headers=other.headers).status_code == 404
    bad = client.get(f"/v1/workflows/{wid}?cursor=%%%", headers=owner.headers)
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_cursor"


def test_cancel_stops_every_open_target_durably_and_refunds(client, engine, worker, simulator):
    make_catalog(engine, "crawl", "jsonld", [f"{simulator.host}/sites/crawl"], politeness=1)
    t = make_tenant(engine, catalogs=["crawl"])
    body = submit(client, t, [{"url": f"{simulator.url}/sites/crawl/p/p{i}"} for i in range(20)])
    wid = body["workflowId"]
    # a target done at 1/s, the rest waiting their turn
    wait_until(lambda: counts(client, t, wid)["completed"] >= 1, 20, "a first target")
    resp = client.post(f"/v1/workflows/{wid}/cancel", headers=t.headers)
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["status"] == "cancelled" and out["cancelledAt"]
    assert out["counts"]["cancelled"] >= 15
    assert out["counts"]["queued"] == out["counts"]["processing"] == 0
    again = client.post(f"/v1/workflows/{wid}/cancel", headers=t.headers)
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"
    time.sleep(2.0)  # messages of cancelled targets arrive and change nothing
    after = client.get(f"/v1/workflows/{wid}", headers=t.headers).get_json()
    assert after["counts"] == out["counts"]
    with engine.connect() as conn:
        used = conn.execute(text("SELECT tokens_used FROM usage_periods")).scalar()
    assert used == out["counts"]["completed"]
    assert sim_stats(simulator)["total"] == out["counts"]["completed"]


def test_a_launch_that_could_not_be_published_is_redriven_by_the_sweeper(
    client, engine, worker, simulator, rt, monkeypatch
):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    real = rt.publisher

    class Down:
        def publish(self, dispatches):
            raise ConnectionError("broker down")

    monkeypatch.setattr(rt, "publisher", Down())
    body = submit(
        client, t, [{"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/late"}]
    )
    assert body["workflowStatus"] == "retry_pending" and body["workflowError"]
    monkeypatch.setattr(rt, "publisher", real)
    assert workflows.redrive_launches(rt) == 0  # its backoff has not passed yet
    age_workflow(engine, body["workflowId"], updated_at=3600)  # its backoff has passed
    assert ending.sweep_workflows(rt) == 1
    done = wait_workflow(client, t, body["workflowId"])
    assert done["status"] == "completed"
    assert done["workflowStatus"] == "launched" and done["workflowAttempts"] == 2
    assert done["workflowError"] is None
