"""Determinism, drift, pinned prices, faults and stats of the simulator."""

from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.test import TestResponse

from simulator.app import create_app
from simulator.data import drifted_price, make_item
from simulator.server import SimulatorHandle
from sources import amazon_reviews, jsonld, shopify, walmart
from sources.http import HttpClient
from sources.record import ParseError, TransientSourceError


def _put(sim: SimulatorHandle, path: str, body: object) -> TestResponse:
    # The admin API through the app's test client: same state as the served app.
    return sim.app.test_client().put(path, json=body)


def test_same_id_same_page_and_seed_changes_it() -> None:
    one, two, other = (
        create_app(drift_seconds=0),
        create_app(drift_seconds=0),
        create_app(seed=1, drift_seconds=0),
    )
    path = "/walmart/ip/123456"
    page = one.test_client().get(path).data
    assert page == two.test_client().get(path).data
    assert page != other.test_client().get(path).data
    assert one.test_client().get("/walmart/ip/654321").data != page


def test_prices_drift_per_period_only() -> None:
    item = make_item(0, "walmart", "42")
    assert drifted_price(item, 3600, now=7200.0) == drifted_price(item, 3600, now=10799.0)
    prices = {drifted_price(item, 3600, now=3600.0 * k) for k in range(10)}
    assert len(prices) > 1 and all(abs(p / item.base_price - 1) <= 0.151 for p in prices)


def test_pinned_prices_show_in_every_format(sim: SimulatorHandle, client: HttpClient) -> None:
    body = {
        "prices": {
            "/walmart/ip/555": 12.5,
            "/shops/demo/products/mug": 9.99,
            "/sites/acme/p/graph-x": 1234.56,
        }
    }
    assert _put(sim, "/_sim/prices", body).json["prices"] == body["prices"]
    assert (
        walmart.fetch_product(client, base_url=sim.url + "/walmart", item_id="555").current_price
        == 12.5
    )
    assert shopify.fetch_product(client, f"{sim.url}/shops/demo/products/mug").current_price == 9.99
    assert jsonld.fetch_product(client, f"{sim.url}/sites/acme/p/graph-x").current_price == 1234.56
    assert _put(sim, "/_sim/prices", {"path": "/walmart/ip/555", "price": None}).json["prices"] == {
        "/shops/demo/products/mug": 9.99,
        "/sites/acme/p/graph-x": 1234.56,
    }
    assert _put(sim, "/_sim/prices", {}).json == {"prices": {}}
    assert _put(sim, "/_sim/prices", {"path": "walmart", "price": "1"}).status_code == 400


def test_error_rate_gives_transient_errors_with_status(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    assert _put(sim, "/_sim/faults", {"error_rate": 1.0, "error_status": 502}).status_code == 200
    with pytest.raises(TransientSourceError) as error:
        walmart.fetch_product(client, base_url=sim.url + "/walmart", item_id="1")
    assert error.value.status == 502
    assert _put(sim, "/_sim/faults", {}).json["error_rate"] == 0
    assert walmart.fetch_product(client, base_url=sim.url + "/walmart", item_id="1").item_id == "1"


def test_throttle_gives_retry_after(sim: SimulatorHandle, client: HttpClient) -> None:
    _put(sim, "/_sim/faults", {"throttle_rate": 1.0})
    with pytest.raises(TransientSourceError) as error:
        shopify.fetch_product(client, f"{sim.url}/shops/demo/products/mug")
    assert (error.value.status, error.value.retry_after) == (429, 1.0)


@pytest.mark.parametrize(
    "fetch",
    [
        lambda c, url: amazon_reviews.fetch_reviews(
            c, "B000000042", "amazon.de", base_url=url + "/amazon/{marketplace}"
        ),
        lambda c, url: walmart.fetch_product(c, base_url=url + "/walmart", item_id="77"),
        lambda c, url: shopify.fetch_product(c, url + "/shops/demo/products/mug"),
        lambda c, url: jsonld.fetch_product(c, url + "/sites/acme/p/plain-mug"),
    ],
)
def test_malformed_pages_are_parse_errors(sim: SimulatorHandle, client: HttpClient, fetch) -> None:
    _put(sim, "/_sim/faults", {"malformed_rate": 1.0})
    with pytest.raises(ParseError):
        fetch(client, sim.url)


def test_faults_can_be_scoped_to_a_path_prefix(sim: SimulatorHandle, client: HttpClient) -> None:
    _put(sim, "/_sim/faults", {"error_rate": 1.0, "path_prefix": "/walmart"})
    with pytest.raises(TransientSourceError):
        client.get(f"{sim.url}/walmart/ip/1")
    assert client.get(f"{sim.url}/shops/demo/products/mug.json").status == 200


def test_latency_is_applied_and_times_out_a_short_client(sim: SimulatorHandle) -> None:
    _put(sim, "/_sim/faults", {"latency_ms": 400})
    with pytest.raises(TransientSourceError, match="timeout"):
        HttpClient(timeout=0.1, allowed_private_hosts=[sim.host]).get(f"{sim.url}/walmart/ip/1")


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": "1"},
        {"error_rate": 2},
        {"latency_ms": -1},
        {"error_status": 200},
        {"error_status": True},
        {"throttle_rate": None},
        {"bogus": 1},
        [1, 2],
        {"path_prefix": "walmart"},
    ],
)
def test_bad_fault_bodies_are_400(sim: SimulatorHandle, body: object) -> None:
    assert _put(sim, "/_sim/faults", body).status_code == 400


def test_faults_roundtrip_and_reset(sim: SimulatorHandle) -> None:
    _put(sim, "/_sim/faults", {"latency_ms": 5, "throttle_rate": 0.5})
    current = sim.app.test_client().get("/_sim/faults").json
    assert (
        current["latency_ms"] == 5
        and current["throttle_rate"] == 0.5
        and current["error_status"] == 503
    )
    assert _put(sim, "/_sim/faults", {}).json["latency_ms"] == 0


def test_stats_count_requests_per_path_host_and_site(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    for _ in range(3):
        client.get(f"{sim.url}/walmart/ip/1")
    client.get(f"{sim.url}/shops/demo/products/mug.json")
    client.get(f"{sim.url}/sites/acme/p/plain-mug")
    admin = sim.app.test_client()
    admin.get("/_sim/faults")  # admin calls are not counted
    stats = admin.get("/_sim/stats").json
    assert stats["total"] == 5
    assert stats["paths"] == {
        "/walmart/ip/1": 3,
        "/shops/demo/products/mug.json": 1,
        "/sites/acme/p/plain-mug": 1,
    }
    assert stats["hosts"] == {sim.host: 5}
    assert stats["sites"] == {"/walmart": 3, "/shops/demo": 1, "/sites/acme": 1}
    assert stats["max_per_second"]["/walmart"] == 3 and stats["max_per_second"][sim.host] == 5
    assert admin.delete("/_sim/stats").json["total"] == 0


def test_stats_are_exact_under_concurrency(sim: SimulatorHandle) -> None:
    def hammer() -> None:
        with requests.Session() as session:
            for _ in range(25):
                session.get(f"{sim.url}/shops/demo/products/mug.js", timeout=5)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = sim.app.extensions["simulator"].stats.snapshot()
    assert stats["total"] == 200 and stats["paths"]["/shops/demo/products/mug.js"] == 200
    assert 0 < stats["max_per_second"]["/shops/demo"] <= 200
