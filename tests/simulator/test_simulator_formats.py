"""Every simulated format parses with its source through a real HttpClient."""

from __future__ import annotations

import pytest

from simulator.amazon import review_total
from simulator.server import SimulatorHandle
from simulator.sites import STYLES, product_facts
from sources import amazon_reviews, jsonld, shopify, walmart
from sources.http import HttpClient
from sources.record import PermanentSourceError


def _asin_with_reviews(minimum: int, maximum: int = 80) -> str:
    return next(
        a for a in (f"B0{n:08d}" for n in range(1000)) if minimum <= review_total(0, a) <= maximum
    )


def test_amazon_pagination_is_followed_to_the_end(sim: SimulatorHandle, client: HttpClient) -> None:
    asin = _asin_with_reviews(41, 80)
    total = review_total(0, asin)
    pages = amazon_reviews.fetch_reviews(
        client, asin, "amazon.de", base_url=sim.url + "/amazon/{marketplace}"
    )
    assert len(pages) == -(-total // 10)
    reviews = [r for p in pages for r in p.reviews]
    assert len(reviews) == total == pages[0].total_reviews
    assert len({r.amazon_review_id for r in reviews}) == total
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].next_page_url is None
    assert all(r.is_top_review for r in pages[0].reviews) and not any(
        r.is_top_review for r in pages[1].reviews
    )
    first = reviews[0]
    assert first.country == "Germany" and first.date and 1 <= first.rating <= 5
    assert sum(pages[0].histogram.values()) in range(98, 103)


def test_amazon_max_pages_caps_the_walk(sim: SimulatorHandle, client: HttpClient) -> None:
    asin = _asin_with_reviews(31)
    pages = amazon_reviews.fetch_reviews(
        client, asin, "amazon.com", base_url=sim.url + "/amazon/{marketplace}", max_pages=2
    )
    assert len(pages) == 2 and pages[1].next_page_url is not None
    assert pages[0].reviews[0].country == "United States"


@pytest.mark.parametrize(
    ("marketplace", "country"),
    [
        ("amazon.fr", "France"),
        ("amazon.it", "Italy"),
        ("amazon.es", "Spain"),
        ("amazon.co.uk", "United Kingdom"),
        ("amazon.nl", "Netherlands"),
        ("amazon.pl", "Poland"),
        ("amazon.se", "Sweden"),
        ("amazon.com.tr", "Turkey"),
        ("amazon.co.jp", "Japan"),
    ],
)
def test_amazon_marketplaces_speak_their_language(
    sim: SimulatorHandle, client: HttpClient, marketplace: str, country: str
) -> None:
    asin = _asin_with_reviews(5)
    page = amazon_reviews.fetch_reviews(
        client, asin, marketplace, base_url=sim.url + "/amazon/{marketplace}", max_pages=1
    )[0]
    assert {r.country for r in page.reviews} == {country}
    assert all(r.date and r.rating for r in page.reviews)
    assert page.average_rating is not None and page.total_reviews == review_total(0, asin)


def test_amazon_asin_without_reviews_gives_one_empty_page(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    asin = _asin_with_reviews(0, 0)
    pages = amazon_reviews.fetch_reviews(
        client, asin, "amazon.de", base_url=sim.url + "/amazon/{marketplace}"
    )
    assert len(pages) == 1 and pages[0].reviews == [] and pages[0].total_reviews == 0
    assert pages[0].product_title


def test_amazon_invalid_asin_is_404(sim: SimulatorHandle, client: HttpClient) -> None:
    with pytest.raises(PermanentSourceError, match="404"):
        client.get(f"{sim.url}/amazon/amazon.de/product-reviews/B0SHORT/")


def test_walmart_item_parses_and_ignores_sponsored_items(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    record = walmart.fetch_product(client, base_url=sim.url + "/walmart", item_id="19667262713")
    assert record.item_id == "19667262713" and record.title and record.current_price
    assert record.upc and record.gtin == record.upc.zfill(14)
    assert record.weight_lbs and record.dimensions.height_in and record.categories
    raw = client.get(f"{sim.url}/walmart/ip/19667262713").text
    sponsored = str(19667262713 + 7919)
    assert raw.index(f'"usItemId": "{sponsored}"') < raw.index(
        '"usItemId": "19667262713"'
    )  # sponsored first


def test_shopify_json_js_and_html_agree(sim: SimulatorHandle, client: HttpClient) -> None:
    url = f"{sim.url}/shops/demo/products/blue-lamp"
    from_json = shopify.fetch_product(client, url, allowed_domains=[f"{sim.host}/shops/demo"])
    from_js = shopify.parse(client.get(shopify.js_url(url)).text, url=url)
    from_html = jsonld.fetch_product(client, url)
    assert from_json.current_price == from_js.current_price == from_html.current_price
    assert from_json.title == from_js.title == from_html.title
    assert from_json.sku == from_js.sku and from_json.in_stock is True


def test_shopify_falls_back_to_js_when_json_is_404(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    record = shopify.fetch_product(client, f"{sim.url}/shops/nojson-shop/products/mug")
    assert record.current_price and record.title
    paths = sim.app.extensions["simulator"].stats.snapshot()["paths"]
    assert paths == {
        "/shops/nojson-shop/products/mug.json": 1,
        "/shops/nojson-shop/products/mug.js": 1,
    }


@pytest.mark.parametrize("style", STYLES)
def test_every_schema_org_style_parses_to_the_pages_facts(
    sim: SimulatorHandle, client: HttpClient, style: str
) -> None:
    handle = f"{style}-widget"
    facts = product_facts(0, "acme", handle, 0, None)
    record = jsonld.fetch_product(
        client, f"{sim.url}/sites/acme/p/{handle}", allowed_domains=[f"{sim.host}/sites/acme"]
    )
    assert record.title == facts["title"]
    assert record.current_price == facts["price"]
    assert record.currency == facts["currency"]
    assert record.brand == facts["item"].brand
    if style != "aggregate":
        assert record.in_stock is facts["in_stock"]


def test_handles_without_a_style_prefix_get_varied_styles(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    from simulator.sites import style_for

    assert len({style_for(f"product-{n}") for n in range(60)}) == len(STYLES)
    for n in range(12):
        assert jsonld.fetch_product(client, f"{sim.url}/sites/shop{n}/p/product-{n}").current_price


def test_simulated_shop_variants_serve_the_shapes_they_stand_for(
    sim: SimulatorHandle, client: HttpClient
) -> None:
    base = f"{sim.url}/sites/acme/p/"
    several = jsonld.fetch_product(client, base + "multioffer-headphones")
    assert len(several.offers) >= 3 and not several.offers[0].is_buybox
    nested = jsonld.fetch_product(client, base + "nested-kettle")
    facts = product_facts(0, "acme", "nested-kettle", 0, None)
    assert nested.title == facts["title"] and len(nested.offers) == 1
    og_only = jsonld.fetch_product(client, base + "ogonly-throw")
    assert og_only.provenance["current_price"] == "opengraph"
    assert og_only.provenance["title"] == "jsonld"


@pytest.mark.parametrize("style", ["offerlist", "multioffer", "nested", "ogonly"])
def test_variants_agree_with_the_facts_out_of_stock_too(
    sim: SimulatorHandle, client: HttpClient, style: str
) -> None:
    handle = next(
        f"{style}-{n}"
        for n in range(200)
        if not product_facts(0, "acme", f"{style}-{n}", 0, None)["in_stock"]
    )
    facts = product_facts(0, "acme", handle, 0, None)
    record = jsonld.fetch_product(client, f"{sim.url}/sites/acme/p/{handle}")
    assert (record.current_price, record.in_stock) == (facts["price"], False)
