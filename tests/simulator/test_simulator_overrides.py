"""PUT /_sim/overrides: a product's price, stock and rating changed on purpose, keyed by its
page path, in every format served for it, merged with earlier overrides, `{}` clears."""

from __future__ import annotations

from werkzeug.test import TestResponse

from simulator.server import SimulatorHandle
from sources import jsonld, shopify, walmart
from sources.http import HttpClient


def _put(sim: SimulatorHandle, body: object) -> TestResponse:
    return sim.app.test_client().put("/_sim/overrides", json=body)


def test_an_override_shows_in_every_format_and_merges(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    shop = "/shops/demo/products/linen-shirt"
    assert _put(sim, {shop: {"price": 12.5, "in_stock": False}}).status_code == 200
    for url in (sim.url + shop, sim.url + shop + ".json", sim.url + shop + ".js"):
        rec = shopify.fetch_product(client, url)
        assert (rec.current_price, rec.in_stock) == (12.5, False), url
    # merged: the stock comes back, the price override stays
    assert _put(sim, {shop: {"in_stock": True}}).json["overrides"] == {
        shop: {"price": 12.5, "in_stock": True}
    }
    assert shopify.fetch_product(client, sim.url + shop).in_stock is True

    item = "/walmart/ip/19667262713"
    _put(sim, {item: {"price": 7.25, "in_stock": False, "rating": 4.1}})
    rec = walmart.fetch_product(client, base_url=sim.url + "/walmart", item_id="19667262713")
    assert (rec.current_price, rec.in_stock, rec.average_rating) == (7.25, False, 4.1)

    site = "/sites/demo/p/plain-kettle"
    _put(sim, {site: {"rating": 3.3, "in_stock": False}})
    rec = jsonld.fetch_product(client, sim.url + site)
    assert (rec.in_stock, rec.average_rating) == (False, 3.3)
    assert set(sim.app.test_client().get("/_sim/overrides").json["overrides"]) == {
        shop,
        item,
        site,
    }

    assert _put(sim, {}).json == {"overrides": {}}
    assert shopify.fetch_product(client, sim.url + shop).current_price != 12.5


def test_a_bad_override_is_400_and_changes_nothing(sim: SimulatorHandle) -> None:
    for bad in (
        [],
        {"shops/x": {"price": 1}},
        {"/a": {"price": -1}},
        {"/a": {"in_stock": "no"}},
        {"/a": {"rating": 9}},
        {"/a": {"colour": "red"}},
    ):
        assert _put(sim, bad).status_code == 400, bad
    assert sim.app.test_client().get("/_sim/overrides").json == {"overrides": {}}
