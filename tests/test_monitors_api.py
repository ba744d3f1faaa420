"""The Monitors API without a worker: validation, batch-rule resolution with per-target codes,
tenant isolation, Idempotency-Key, pagination, events filters; the scheduling pass (jitter,
one catch-up after downtime, out of tokens pauses, each organization's take all or none,
concurrent passes never take one monitor twice nor spend past the plan), retention, and
/v1/usage's forecast."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from freshet import monitors
from tests.factories import make_catalog, make_tenant


@pytest.fixture
def shop(engine, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    return simulator.url + "/shops/demo/products/"


def create(client, t, shop, n=1, **extra):
    body = {
        "targets": [{"catalog": "shop", "url": f"{shop}p{i}"} for i in range(n)],
        "interval": 600,
    }
    resp = client.post("/v1/monitors", headers=t.headers, json=body | extra)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


@pytest.mark.parametrize(
    "body",
    [
        {"targets": [{"url": "http://x/y"}], "interval": 299},
        {"targets": [{"url": "http://x/y"}], "interval": 604_801},
        {"targets": [{"url": "http://x/y"}], "interval": "soon"},
        {"targets": [], "interval": 600},
        {"targets": [{"url": "http://x/y", "uuid": "u"}], "interval": 600},
        {"targets": [{"url": "http://x/y"}], "interval": 600, "events": ["price_rose"]},
        {"targets": [{"url": "http://x/y"}], "interval": 600, "events": ["price_below"]},
        {"interval": 600},
    ],
)
def test_a_body_that_breaks_the_rules_is_400_and_writes_nothing(client, engine, shop, body):
    t = make_tenant(engine, catalogs=["shop"])
    resp = client.post("/v1/monitors", headers=t.headers, json=body)
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_request"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM monitors")).scalar_one() == 0


def test_targets_resolve_with_the_batch_rules_partial_success(client, engine, shop, simulator):
    t = make_tenant(engine, catalogs=["shop"])
    body = create(
        client,
        t,
        shop,
        targets=[
            {"catalog": "shop", "url": shop + "a"},
            {"url": shop + "a"},
            {"url": "https://elsewhere.example/p/1"},
            {"id": "B000000000"},
        ],
        events=[{"type": "price_below", "threshold": 10}, "out_of_stock"],
    )
    assert body["accepted"] == [{"catalog": "shop", "url": shop + "a"}]
    assert [r["code"] for r in body["rejected"]] == [
        "duplicate_target",
        "product_not_found",
        "product_not_found",
    ]
    assert body["rejected"][2]["target"] == {"id": "B000000000"}
    assert body["events"] == ["price_below", "out_of_stock"] and body["threshold"] == 10
    assert body["interval"] == 600 and body["targetCount"] == 1
    assert body["lastRunAt"]  # the baseline started at once


def test_all_targets_rejected_is_400_in_the_batch_shape(client, engine, shop):
    t = make_tenant(engine, catalogs=["shop"])
    resp = client.post(
        "/v1/monitors",
        headers=t.headers,
        json={"targets": [{"url": "https://nowhere.example/x"}], "interval": 300},
    )
    assert resp.status_code == 400
    assert resp.get_json()["accepted"] == [] and resp.get_json()["rejected"][0]["code"]


def test_another_organizations_monitor_is_404_everywhere(client, engine, shop):
    owner, other = make_tenant(engine, catalogs=["shop"]), make_tenant(engine, catalogs=["shop"])
    mid = create(client, owner, shop)["id"]
    for method, path, kw in (
        ("get", f"/v1/monitors/{mid}", {}),
        ("patch", f"/v1/monitors/{mid}", {"json": {"paused": True}}),
        ("delete", f"/v1/monitors/{mid}", {}),
        ("post", f"/v1/monitors/{mid}/run", {}),
        ("get", "/v1/monitors/not-a-uuid", {}),
    ):
        resp = getattr(client, method)(path, headers=other.headers, **kw)
        assert resp.status_code == 404 and resp.get_json()["code"] == "monitor_not_found"
    assert client.get("/v1/monitors", headers=other.headers).get_json()["monitors"] == []
    assert client.get(f"/v1/events?monitor={mid}", headers=other.headers).get_json()["events"] == []
    assert client.get(f"/v1/monitors/{mid}", headers=owner.headers).status_code == 200


def test_idempotency_key_replays_the_created_monitor(client, engine, shop):
    t = make_tenant(engine, catalogs=["shop"])
    body = {"targets": [{"catalog": "shop", "url": shop + "x"}], "interval": 900}
    h = t.headers | {"Idempotency-Key": "k1"}
    one = client.post("/v1/monitors", headers=h, json=body)
    two = client.post("/v1/monitors", headers=h, json=body)
    assert one.status_code == two.status_code == 201
    assert one.get_json()["id"] == two.get_json()["id"]
    assert client.post("/v1/monitors", headers=h, json=body | {"interval": 901}).status_code == 422
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM monitors")).scalar_one() == 1


def test_list_pages_patch_and_delete(client, engine, shop):
    t = make_tenant(engine, catalogs=["shop"])
    ids = [create(client, t, shop, name=f"m{i}")["id"] for i in range(3)]
    first = client.get("/v1/monitors?limit=2", headers=t.headers).get_json()
    rest = client.get(
        f"/v1/monitors?limit=2&cursor={first['nextCursor']}", headers=t.headers
    ).get_json()
    assert [m["id"] for m in first["monitors"] + rest["monitors"]] == ids
    assert rest["nextCursor"] is None
    patched = client.patch(
        f"/v1/monitors/{ids[0]}",
        headers=t.headers,
        json={"interval": 3600, "name": "renamed", "events": ["rating_changed"]},
    ).get_json()
    assert (patched["interval"], patched["name"], patched["events"]) == (
        3600,
        "renamed",
        ["rating_changed"],
    )
    bad = client.patch(f"/v1/monitors/{ids[0]}", headers=t.headers, json={"interval": 10})
    assert bad.status_code == 400
    assert client.delete(f"/v1/monitors/{ids[1]}", headers=t.headers).status_code == 204
    assert client.get(f"/v1/monitors/{ids[1]}", headers=t.headers).status_code == 404


def test_a_pass_after_downtime_runs_each_monitor_once_and_spreads_the_next_runs(
    client, engine, shop, rt
):
    t = make_tenant(engine, catalogs=["shop"], monthly_tokens=100_000)
    for _ in range(40):
        create(client, t, shop)
    with engine.begin() as conn:  # ten intervals missed
        conn.execute(text("UPDATE monitors SET next_run_at = now() - interval '100 minutes'"))
        before = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one()
    out = monitors.schedule_due(rt)
    assert out["due"] == 40 and out["jobs"] == 40
    assert monitors.schedule_due(rt)["due"] == 0  # one catch-up, not one per missed interval
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == before + 40
        waits = (
            conn.execute(text("SELECT extract(epoch FROM next_run_at - now()) FROM monitors"))
            .scalars()
            .all()
        )
    assert all(600 * 0.94 < float(w) < 600 * 1.06 for w in waits)
    assert statistics.pstdev(float(w) for w in waits) > 1.0  # jittered, not one second


def test_out_of_tokens_pauses_with_a_monitor_paused_event_and_patch_resumes(
    client, engine, shop, rt
):
    t = make_tenant(engine, catalogs=["shop"], monthly_tokens=3)
    mid = create(client, t, shop, n=2)["id"]  # the baseline takes 2 of the 3 tokens
    with engine.begin() as conn:
        conn.execute(text("UPDATE monitors SET next_run_at = now()"))
    assert monitors.schedule_due(rt) | {"db_seconds": 0} == {
        "due": 1,
        "paused": 1,
        "jobs": 0,
        "db_seconds": 0,
    }
    shown = client.get(f"/v1/monitors/{mid}", headers=t.headers).get_json()
    assert shown["paused"] is True and "out of tokens" in shown["pausedReason"]
    [ev] = client.get("/v1/events?type=monitor_paused", headers=t.headers).get_json()["events"]
    assert ev["monitorId"] == mid and "out of tokens" in ev["current"]["reason"]
    assert client.post(f"/v1/monitors/{mid}/run", headers=t.headers).status_code == 402
    resumed = client.patch(f"/v1/monitors/{mid}", headers=t.headers, json={"paused": False})
    assert resumed.get_json()["paused"] is False and resumed.get_json()["pausedReason"] is None


def all_due(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE monitors SET next_run_at = now() - interval '1 minute'"))


def used_tokens(engine, org_id):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods WHERE org_id = :o"),
            {"o": org_id},
        ).scalar_one()


def test_each_organization_pays_for_its_due_monitors_all_or_none(client, engine, shop, rt):
    cost = rt.settings.batch_target_tokens
    rich = make_tenant(engine, catalogs=["shop"], monthly_tokens=8 * cost)
    poor = make_tenant(engine, catalogs=["shop"], monthly_tokens=3 * cost)
    ran = [create(client, rich, shop, n=2)["id"] for _ in range(2)]  # baselines: 4 of 8
    stopped = create(client, poor, shop, n=2)["id"]  # baseline: 2 of 3, a run needs 2 more
    all_due(engine)
    out = monitors.schedule_due(rt)
    assert out | {"db_seconds": 0} == {"due": 3, "paused": 1, "jobs": 4, "db_seconds": 0}
    assert used_tokens(engine, rich.org_id) == 8 * cost  # exactly the plan: it runs
    assert used_tokens(engine, poor.org_id) == 2 * cost  # nothing taken for what did not run
    with engine.connect() as conn:
        paused = dict(conn.execute(text("SELECT id::text, paused FROM monitors")).all())
        reserves = conn.execute(
            text(
                "SELECT j.org_id, count(*), sum(l.amount) FROM jobs j JOIN ledger l "
                "ON l.job_id = j.id AND l.kind = 'reserve' WHERE j.kind = 'monitor_target' "
                "GROUP BY j.org_id"
            )
        ).all()
    assert paused == {ran[0]: False, ran[1]: False, stopped: True}
    # every job (two baselines and two scheduled runs of two targets) has its reserve row
    assert {(o, n, int(a)) for o, n, a in reserves} == {
        (rich.org_id, 8, 8 * cost),
        (poor.org_id, 2, 2 * cost),
    }
    [ev] = client.get("/v1/events?type=monitor_paused", headers=poor.headers).get_json()["events"]
    assert ev["monitorId"] == stopped
    assert (
        client.get("/v1/events?type=monitor_paused", headers=rich.headers).get_json()["events"]
        == []
    )


def test_a_pass_skips_monitors_another_pass_holds_and_runs_each_once(client, engine, shop, rt):
    t = make_tenant(engine, catalogs=["shop"], monthly_tokens=100_000)
    ids = [create(client, t, shop)["id"] for _ in range(6)]
    all_due(engine)
    with ThreadPoolExecutor(1) as pool, engine.connect() as other:
        other.execute(  # another pass mid-transaction, holding two of them
            text("SELECT id FROM monitors WHERE id = ANY(CAST(:ids AS uuid[])) FOR UPDATE"),
            {"ids": ids[:2]},
        )
        out = pool.submit(monitors.schedule_due, rt).result(timeout=30)  # never waits on them
        assert (out["due"], out["jobs"]) == (4, 4)
        other.rollback()
    with ThreadPoolExecutor(4) as pool:  # and passes at once share what is left
        outs = list(pool.map(lambda _: monitors.schedule_due(rt), range(4)))
    assert sum(o["jobs"] for o in outs) == 2 and monitors.schedule_due(rt)["due"] == 0
    with engine.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT params->>'monitor_id', count(*) FROM jobs "
                "WHERE kind = 'monitor_target' GROUP BY 1"
            )
        ).all()
    assert sorted(runs) == sorted((i, 2) for i in ids)  # its baseline and one scheduled run
    assert used_tokens(engine, t.org_id) == 12 * rt.settings.batch_target_tokens


def test_a_pass_behind_a_concurrent_take_checks_what_that_take_left(client, engine, shop, rt):
    cost = rt.settings.batch_target_tokens
    t = make_tenant(engine, catalogs=["shop"], monthly_tokens=10 * cost)
    create(client, t, shop, n=2)  # baseline: 2 of 10; a run needs 2 more
    all_due(engine)
    with engine.connect() as other, ThreadPoolExecutor(1) as pool:
        other.execute(  # another take, not yet committed, leaves one token
            text("UPDATE usage_periods SET tokens_used = :u WHERE org_id = :o"),
            {"u": 9 * cost, "o": t.org_id},
        )
        running = pool.submit(monitors.schedule_due, rt)
        time.sleep(0.5)
        assert not running.done()  # waiting on the organization's usage row
        other.commit()
        out = running.result(timeout=30)
    assert out | {"db_seconds": 0} == {"due": 1, "paused": 1, "jobs": 0, "db_seconds": 0}
    assert used_tokens(engine, t.org_id) == 9 * cost


def test_usage_shows_what_monitors_will_spend_this_month(client, engine, shop):
    t = make_tenant(engine, catalogs=["shop"])
    create(client, t, shop, n=2, interval=3600)
    m = client.get("/v1/usage", headers=t.headers).get_json()["monitors"]
    assert m["active"] == 1 and m["tokensPerTargetRun"] == 1
    assert m["tokensUntilPeriodEnd"] == 2 * m["runsUntilPeriodEnd"]


def test_events_cursor_type_filter_and_retention(client, engine, shop, rt):
    t = make_tenant(engine, catalogs=["shop"])
    mid = create(client, t, shop)["id"]
    with engine.begin() as conn:
        for kind, age in (("price_changed", 40), ("price_dropped", 1), ("price_changed", 0)):
            conn.execute(
                text(
                    "INSERT INTO monitor_events (org_id, monitor_id, type, occurred_at) "
                    "VALUES (:o, :m, :k, now() - make_interval(days => :d))"
                ),
                {"o": t.org_id, "m": mid, "k": kind, "d": age},
            )
    page = client.get("/v1/events?limit=2", headers=t.headers).get_json()
    assert [e["type"] for e in page["events"]] == ["price_changed", "price_dropped"]
    rest = client.get(f"/v1/events?cursor={page['nextCursor']}", headers=t.headers).get_json()
    assert [e["type"] for e in rest["events"]] == ["price_changed"]
    again = client.get(f"/v1/events?cursor={rest['nextCursor']}", headers=t.headers).get_json()
    assert again["events"] == [] and again["nextCursor"] == rest["nextCursor"]
    assert (
        len(client.get("/v1/events?type=price_changed", headers=t.headers).get_json()["events"])
        == 2
    )
    assert client.get("/v1/events?cursor=zzz", headers=t.headers).status_code == 400
    assert client.get("/v1/events?type=nope", headers=t.headers).status_code == 400
    monitors.sweep_monitors(rt)  # retention: 30 days by default
    left = client.get("/v1/events", headers=t.headers).get_json()["events"]
    assert [e["type"] for e in left] == ["price_dropped", "price_changed"]


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ({"price": 10.0}, {"price": 8.0}, ["price_changed", "price_dropped", "price_below"]),
        ({"price": 8.0}, {"price": 10.0}, ["price_changed"]),
        ({"price": 8.0}, {"price": 7.0}, ["price_changed", "price_dropped"]),  # already below
        ({"inStock": True}, {"inStock": False}, ["out_of_stock"]),
        ({"inStock": False}, {"inStock": True}, ["back_in_stock"]),
        ({"inStock": None}, {"inStock": True}, []),
        ({"rating": 4.1}, {"rating": 4.2}, ["rating_changed"]),
        ({"price": 10.0, "rating": 4.0}, {"price": 10.0, "rating": 4.0}, []),
    ],
)
def test_change_detection_compares_with_the_previous_observation(prev, cur, expected):
    every = [
        "price_changed",
        "price_dropped",
        "price_below",
        "back_in_stock",
        "out_of_stock",
        "rating_changed",
    ]
    assert monitors.changes(prev, cur, every, 9.0) == expected


def test_metrics_show_monitors_due_late_and_events(client, engine, shop, rt):
    t = make_tenant(engine, catalogs=["shop"])
    create(client, t, shop)
    with engine.begin() as conn:
        conn.execute(text("UPDATE monitors SET next_run_at = now() - interval '5 minutes'"))
    body = client.get("/metrics").get_data(as_text=True)
    assert "freshet_monitors_due 1.0" in body and "freshet_monitors_late 1.0" in body
    monitors.schedule_due(rt)
    body = client.get("/metrics").get_data(as_text=True)
    assert "freshet_monitors_due 0.0" in body and "freshet_monitor_runs_total" in body
    assert "freshet_monitor_run_lateness_seconds_bucket" in body
