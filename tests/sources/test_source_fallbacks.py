"""Prices and stock outside the structured offers: Open Graph, microdata beside JSON-LD,
embedded page state, sale prices; and where each value came from."""

from __future__ import annotations

import json
from collections.abc import Callable

from sources.jsonld import parse_page
from sources.registry import parse_document

Page = Callable[[str], str]


def test_open_graph_price_and_availability_fill_a_product_without_offers(page: Page) -> None:
    record = parse_page(page("og_only_price.html"))
    assert (record.current_price, record.currency) == (68.0, "USD")
    assert (record.in_stock, record.availability) == (True, "in_stock")
    # Open Graph is trusted before the dataLayer (56.20, a price net of tax).
    assert record.provenance["current_price"] == "opengraph"
    assert record.provenance["in_stock"] == "opengraph"
    assert record.provenance["title"] == "jsonld"
    assert record.brand == "Marlow's" and record.provenance["brand"] == "opengraph"


def test_product_availability_tag_is_read_too() -> None:
    html = (
        '<meta property="product:price:amount" content="40,99">'
        '<meta property="product:price:currency" content="EUR">'
        '<meta property="product:availability" content="out of stock">'
        '<script type="application/ld+json">{"@type": "Product", "name": "Bare"}</script>'
    )
    record = parse_page(html)
    assert (record.current_price, record.currency, record.availability) == (
        40.99,
        "EUR",
        "out_of_stock",
    )
    assert record.in_stock is False


def test_microdata_offer_beside_a_priceless_json_ld_product(page: Page) -> None:
    record = parse_page(page("microdata_beside_jsonld.html"))
    assert (record.title, record.brand) == ("Czajnik elektryczny Fjord 1,7 l", "Fjord")
    assert (record.current_price, record.currency, record.in_stock) == (129.99, "PLN", True)
    assert record.provenance["current_price"] == "microdata"
    assert record.provenance["brand"] == "jsonld"


def test_loose_itemprops_outside_any_itemscope() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "Kettle"}</script>'
        '<h1>Kettle</h1><span itemprop="price" content="19.90">19,90</span>'
        '<meta itemprop="priceCurrency" content="EUR">'
        '<link itemprop="availability" href="https://schema.org/LimitedAvailability">'
    )
    record = parse_page(html)
    assert (record.current_price, record.currency, record.availability) == (
        19.9,
        "EUR",
        "limited",
    )
    assert record.provenance["current_price"] == "microdata"


def test_data_layer_view_item_fills_the_price_never_the_recommendations(page: Page) -> None:
    record = parse_page(page("state_datalayer.html"))
    assert (record.current_price, record.currency, record.in_stock) == (399.0, "SEK", True)
    assert record.provenance["current_price"] == "datalayer"


def test_next_data_product_with_a_sale_price(page: Page) -> None:
    record = parse_page(page("state_next_data.html"))
    assert (record.current_price, record.msrp, record.currency) == (59.6, 74.5, "USD")
    assert record.sku == "CS-ACB-W"
    assert record.provenance["current_price"] == "next_data"
    assert (record.in_stock, record.provenance["in_stock"]) == (True, "jsonld")


def test_initial_state_with_a_turkish_price(page: Page) -> None:
    record = parse_page(page("state_initial_state.html"))
    assert (record.current_price, record.currency, record.in_stock) == (1299.9, "TRY", True)
    assert record.provenance["current_price"] == "initial_state"


def test_open_graph_sale_price_is_what_a_buyer_pays(page: Page) -> None:
    record = parse_page(page("og_sale_price.html"))
    assert (record.current_price, record.buybox_price, record.msrp) == (99.0, 99.0, 129.0)
    assert record.provenance["current_price"] == "opengraph"
    assert record.provenance["msrp"] == "jsonld"
    assert record.offers[0].price == 99.0


def test_an_ended_sale_is_ignored(page: Page) -> None:
    record = parse_page(page("og_sale_price_expired.html"))
    assert (record.current_price, record.msrp) == (129.0, None)


def test_strikethrough_price_specification_is_the_list_price(page: Page) -> None:
    record = parse_page(page("jsonld_strikethrough.html"))
    assert (record.current_price, record.msrp, record.currency) == (89.99, 119.99, "EUR")


def test_sale_price_specification_wins_over_price() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", "offers": '
        '{"price": "50.00", "priceCurrency": "EUR", "priceSpecification": '
        '{"@type": "UnitPriceSpecification", "priceType": "https://schema.org/SalePrice",'
        ' "price": "42.50"}}}</script>'
    )
    record = parse_page(html)
    assert (record.current_price, record.msrp) == (42.5, 50.0)


def test_parse_document_shows_provenance(page: Page) -> None:
    result = parse_document("jsonld", page("og_only_price.html"))
    assert result["provenance"]["current_price"] == "opengraph"
    assert result["availability"] == "in_stock"
    json.dumps(result)  # JSON-ready, as `freshet parse --json` prints it


def test_order_of_trust_microdata_then_open_graph_then_page_state() -> None:
    product = '<script type="application/ld+json">{"@type": "Product", "name": "Mug"}</script>'
    og = '<meta property="product:price:amount" content="12.00">'
    loose = '<span itemprop="price" content="11.00">11,00</span>'
    state = (
        '<script>dataLayer.push({"ecommerce": {"currency": "EUR", "items": '
        '[{"item_name": "Mug", "price": 10.0}]}});</script>'
    )
    assert parse_page(product + og + loose + state).provenance["current_price"] == "microdata"
    assert parse_page(product + og + state).current_price == 12.0
    assert parse_page(product + state).provenance["current_price"] == "datalayer"
