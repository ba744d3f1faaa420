from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.jsonld import parse_page
from sources.record import ParseError


def test_graph_wrapper_with_type_list(page: Callable[[str], str]) -> None:
    record = parse_page(
        page("jsonld_graph.html"), url="https://oakhaven.example/product/walnut-desk-lamp/"
    )
    assert record.title == "Oakhaven Walnut Desk Lamp"
    assert (record.current_price, record.currency, record.in_stock) == (89.0, "GBP", True)
    assert record.msrp == 120.0
    assert (record.brand, record.sku, record.mpn) == ("Oakhaven", "OAK-LMP-01", "WL-2024")
    assert (record.ean, record.gtin) == ("5012345678900", "05012345678900")
    assert record.image_url == "https://oakhaven.example/wp-content/uploads/2024/01/walnut-lamp.jpg"
    assert record.description == "Solid walnut base, linen shade & a warm 2700K LED."
    assert record.categories == ["Lighting", "Desk Lamps"]
    assert (record.average_rating, record.review_count) == (4.6, 38)
    assert record.weight_lbs == pytest.approx(3.968, abs=0.01)
    assert record.offers[0].shipping_price == 4.95 and record.seller_name == "Oakhaven Home"


def test_structured_data_beats_disagreeing_open_graph(page: Callable[[str], str]) -> None:
    record = parse_page(page("jsonld_woocommerce.html"))
    assert record.title == "Tom & Jerry's Mug"
    assert (record.current_price, record.in_stock) == (12.5, False)  # OG says 14.99, in stock
    assert record.brand is None
    assert record.image_url == "https://marlows.example/wp-content/uploads/tj-mug-1.jpg"
    assert record.description == "A 350 ml stoneware mug. Dishwasher safe."
    assert record.seller_name == "Marlow's Gifts"
    assert record.categories == ["Mugs"]
    assert [(r.rating, r.author, r.date) for r in record.top_reviews] == [
        (5.0, "Jo", "2024-02-11"),
        (4.0, "Pat", "2024-01-02"),
    ]
    assert record.top_reviews[0].text == "Lovely mug & fast delivery."


def test_aggregate_offer_in_list_block_among_other_blocks(page: Callable[[str], str]) -> None:
    record = parse_page(page("jsonld_aggregate.html"), url="https://granitepeak.example/bikes/crb")
    assert (record.title, record.brand) == ("Granite Peak Carbon Road Bike", "Granite Peak")
    assert (record.current_price, record.currency, record.in_stock) == (1299.0, "USD", True)
    assert (record.upc, record.gtin) == ("012345678905", "00012345678905")
    assert record.image_url == "https://cdn.granitepeak.example/bikes/carbon-road.jpg"
    assert record.categories == ["Bikes", "Road Bikes"]


def test_invalid_json_with_trailing_commas_and_raw_newlines(page: Callable[[str], str]) -> None:
    record = parse_page(page("jsonld_broken.html"))
    assert record.title == 'Kaffeemühle "Classic" \u2013 Edelstahl'
    assert (record.current_price, record.currency, record.in_stock) == (1299.0, "EUR", True)
    assert (record.brand, record.mpn, record.ean) == ("Brühwerk", "KM-200", "4006381333931")
    assert record.description == "Kegelmahlwerk aus Stahl. Stufenlos einstellbar."


def test_microdata_product(page: Callable[[str], str]) -> None:
    record = parse_page(page("jsonld_microdata.html"), url="https://zephyr.example/p/mat")
    assert (record.title, record.brand, record.sku) == (
        "Zephyr Pro Yoga Mat",
        "Zephyr",
        "ZP-MAT-6MM",
    )
    assert (record.current_price, record.currency, record.in_stock) == (
        24.95,
        "USD",
        True,
    )  # OG says 19.00
    assert (record.upc, record.gtin) == ("036000291452", "00036000291452")
    assert (record.average_rating, record.review_count) == (4.7, 1203)
    assert record.image_url == "https://zephyr.example/images/yoga-mat-pro.jpg"


def test_open_graph_fills_a_missing_price_only() -> None:
    html = (
        '<html><head><meta property="product:price:amount" content="19.00">'
        '<meta property="product:price:currency" content="USD">'
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product", '
        '"name": "Bare"}</script></head></html>'
    )
    record = parse_page(html)
    assert (record.title, record.current_price, record.currency) == ("Bare", 19.0, "USD")


def test_offer_list_takes_first_as_buybox_and_cheapest_other_as_secondary() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", "brand": ["Acme"], '
        '"offers": [{"@type": "Offer", "price": 10, "priceCurrency": "USD", '
        '"seller": {"name": "A"}},'
        '{"@type": "Offer", "price": "12.00", "seller": {"name": "B"}, "itemCondition": "https://schema.org/UsedCondition"},'
        '{"@type": "Offer", "price": "11.00", "seller": {"name": "C"}}]}</script>'
    )
    record = parse_page(html)
    assert (record.current_price, record.secondary_offer_price, record.brand) == (
        10.0,
        11.0,
        "Acme",
    )
    assert [o.seller_name for o in record.offers] == ["A", "B", "C"]
    assert record.offers[1].condition == "used"


@pytest.mark.parametrize("name", ["jsonld_no_product.html", "amazon_captcha.html"])
def test_page_without_product_is_a_parse_error(page: Callable[[str], str], name: str) -> None:
    with pytest.raises(ParseError):
        parse_page(page(name))


def test_empty_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_page("   ")
