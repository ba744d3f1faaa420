"""Monitors end to end: a real worker, the scheduling pass called as beat calls it, the
simulator changing a product on purpose, and a local receiver verifying the signatures."""

# ruff: noqa: F811  (pytest fixtures imported from the modules that define them)
from __future__ import annotations

import json
import time

import pytest
import requests
from sqlalchemy import text

from freshet import accounts, monitors
from freshet.batch import webhooks
from tests.factories import make_catalog, make_tenant
from tests.test_webhooks import _fresh_receiver, receiver, settings  # noqa: F401

pytestmark = pytest.mark.e2e
SHOP = "/shops/demo/products/linen-shirt"


def override(simulator, path: str, **fields) -> None:
    resp = requests.put(simulator.url + "/_sim/overrides", json={path: fields}, timeout=5)
    assert resp.status_code == 200, resp.text


def setup_monitor(client, engine, simulator, receiver, path=SHOP, **extra):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    body = {
        "targets": [{"catalog": "shop", "url": simulator.url + path}],
        "interval": "300",
        "callbackUrl": receiver.url,
    } | extra
    resp = client.post("/v1/monitors", headers=t.headers, json=body)
    assert resp.status_code == 201, resp.get_json()
    return t, resp.get_json()["id"]


def wait_observations(engine, monitor_id: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            seen = conn.execute(
                text(
                    "SELECT count(*) FROM monitor_observations o JOIN monitor_targets t "
                    "ON t.id = o.target_id WHERE t.monitor_id = :m"
                ),
                {"m": monitor_id},
            ).scalar_one()
        if seen >= n:
            time.sleep(0.3)  # the completion's after() publishes the deliveries
            return
        time.sleep(0.1)
    raise AssertionError(f"{seen} observations, wanted {n}")


def due_now(engine, monitor_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE monitors SET next_run_at = now() - interval '1 second' WHERE id = :m"),
            {"m": monitor_id},
        )


def events(client, t, **query) -> list[dict]:
    resp = client.get("/v1/events", headers=t.headers, query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["events"]


def secret_of(engine, org_id: int) -> str:
    with engine.begin() as conn:
        return accounts.signing_secrets(conn, org_id, ())[0]


def test_a_price_drop_is_one_event_delivered_once_signed_and_listed(
    client, engine, worker, simulator, receiver, rt
):
    override(simulator, SHOP, price=50.0, in_stock=True)
    t, mid = setup_monitor(client, engine, simulator, receiver, events=["price_dropped"])
    wait_observations(engine, mid, 1)  # the baseline, at once
    assert events(client, t) == []
    override(simulator, SHOP, price=40.0)
    due_now(engine, mid)
    assert monitors.schedule_due(rt)["jobs"] == 1
    wait_observations(engine, mid, 2)
    [(headers, body)] = receiver.wait(1)
    assert webhooks.verify(secret_of(engine, t.org_id), headers["Freshet-Signature"], body)
    event = json.loads(body)
    assert (
        headers["Freshet-Event-Id"] == event["id"] and headers["Freshet-Event"] == "price_dropped"
    )
    assert event["previous"]["price"] == 50.0 and event["current"]["price"] == 40.0
    [listed] = events(client, t)
    assert listed == event and listed["monitorId"] == mid and listed["productId"]
    # a redelivered refresh (the same job's message again) and a retried store make nothing
    with engine.connect() as conn:
        job_id = conn.execute(
            text("SELECT max(id) FROM jobs WHERE kind = 'monitor_target'")
        ).scalar_one()
    rt.publisher.publish([rt.kinds.dispatch(job_id, monitors.KIND)])
    time.sleep(1.5)
    assert len(events(client, t)) == 1 and len(receiver.received) == 1
    shown = client.get(f"/v1/monitors/{mid}", headers=t.headers).get_json()
    assert shown["delivery"]["delivered"] == 1 and shown["delivery"]["pending"] == 0
    assert shown["targets"][0]["lastObservation"]["price"] == 40.0


def test_out_of_stock_then_back_in_stock(client, engine, worker, simulator, receiver, rt):
    override(simulator, SHOP, price=20.0, in_stock=True)
    t, mid = setup_monitor(client, engine, simulator, receiver)
    wait_observations(engine, mid, 1)
    override(simulator, SHOP, in_stock=False)
    due_now(engine, mid)
    monitors.schedule_due(rt)
    wait_observations(engine, mid, 2)
    override(simulator, SHOP, in_stock=True)
    resp = client.post(f"/v1/monitors/{mid}/run", headers=t.headers)
    assert resp.status_code == 202 and len(resp.get_json()["jobIds"]) == 1
    wait_observations(engine, mid, 3)
    assert [e["type"] for e in events(client, t)] == ["out_of_stock", "back_in_stock"]
    assert [e["type"] for e in events(client, t, type="back_in_stock")] == ["back_in_stock"]
    received = receiver.wait(2)
    assert sorted(h["Freshet-Event"] for h, _ in received) == ["back_in_stock", "out_of_stock"]


def test_a_retried_refresh_makes_no_second_event(client, engine, worker, simulator, receiver, rt):
    override(simulator, SHOP, price=30.0, in_stock=True)
    t, mid = setup_monitor(client, engine, simulator, receiver, events=["price_dropped"])
    wait_observations(engine, mid, 1)
    override(simulator, SHOP, price=25.0)
    # the first attempts meet 503s: the job is retried (same job id) until the shop answers
    requests.put(
        simulator.url + "/_sim/faults",
        json={"error_rate": 1.0, "path_prefix": "/shops/demo"},
        timeout=5,
    )
    due_now(engine, mid)
    monitors.schedule_due(rt)
    time.sleep(1.0)
    requests.put(simulator.url + "/_sim/faults", json={}, timeout=5)
    wait_observations(engine, mid, 2)
    with engine.connect() as conn:
        attempts = conn.execute(
            text("SELECT max(attempt) FROM jobs WHERE kind = 'monitor_target'")
        ).scalar_one()
    assert attempts >= 2
    receiver.wait(1)
    time.sleep(1.0)
    assert [e["type"] for e in events(client, t)] == ["price_dropped"]
    assert len(receiver.received) == 1


def test_a_paused_monitor_runs_nothing(client, engine, worker, simulator, receiver, rt):
    t, mid = setup_monitor(client, engine, simulator, receiver)
    wait_observations(engine, mid, 1)
    resp = client.patch(f"/v1/monitors/{mid}", headers=t.headers, json={"paused": True})
    assert resp.status_code == 200 and resp.get_json()["paused"] is True
    due_now(engine, mid)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one()
    assert monitors.schedule_due(rt) == {
        "due": 0,
        "paused": 0,
        "jobs": 0,
        "db_seconds": pytest.approx(0, abs=1),
    }
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == before
    resumed = client.patch(f"/v1/monitors/{mid}", headers=t.headers, json={"paused": False})
    assert resumed.get_json()["paused"] is False
    assert monitors.schedule_due(rt)["jobs"] == 1
