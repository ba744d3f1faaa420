"""Finding the page's own Product: loose type spellings, nesting, related products."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.jsonld import parse_page

Page = Callable[[str], str]


@pytest.mark.parametrize(
    "types",
    [
        '["Product", "Thing"]',
        '"schema:Product"',
        '"http://schema.org/Product"',
        '"https://schema.org/Product"',
        '"product"',
    ],
)
def test_product_type_spellings(types: str) -> None:
    html = (
        f'<script type="application/ld+json">{{"@type": {types}, "name": "Lamp", '
        '"offers": {"@type": "http://schema.org/Offer", "price": "5.00", "priceCurrency": "EUR",'
        ' "availability": "http://schema.org/InStock"}}</script>'
    )
    record = parse_page(html)
    assert (record.title, record.current_price, record.in_stock) == ("Lamp", 5.0, True)


def test_lower_camel_aggregate_offer_and_prefixed_types(page: Page) -> None:
    record = parse_page(page("jsonld_loose_types.html"))
    assert (record.title, record.brand, record.sku) == (
        "Moka Classica 6 tazze, alluminio",
        "Casa Caffè",
        "CC-MOKA6",
    )
    assert (record.current_price, record.currency, record.availability) == (32.9, "EUR", "in_stock")


def test_product_as_webpage_main_entity_after_review_and_breadcrumbs(page: Page) -> None:
    record = parse_page(page("jsonld_webpage_mainentity.html"))
    # A bundle Product block and a Review about a stub come first; the WebPage names its
    # mainEntity, and that is the product.
    assert (record.title, record.sku, record.brand) == (
        "Lampe de bureau Lumen & Co LX-40",
        "ML-LX40",
        "Lumen & Co",
    )
    assert (record.current_price, record.currency, record.in_stock) == (89.9, "EUR", True)
    assert (record.average_rating, record.review_count) == (4.5, 12)
    assert record.categories == ["Luminaires", "Lampes de bureau"]


def test_product_under_an_offers_item_offered(page: Page) -> None:
    record = parse_page(page("jsonld_offer_itemoffered.html"))
    assert (record.title, record.sku, record.upc) == (
        "Granite Peak Carbon Trekking Poles (pair)",
        "GP-TP-C2",
        "036000291452",
    )
    assert (record.current_price, record.currency, record.seller_name) == (
        59.95,
        "USD",
        "OutfitterHQ",
    )
    assert (record.in_stock, record.availability) == (True, "limited")


def test_related_products_and_carousels_never_win(page: Page) -> None:
    url = "https://brewdepot.example/espresso/northwind-em-5?utm_source=mail"
    record = parse_page(page("jsonld_related_products.html"), url=url)
    # A carousel ItemList comes first, a descaler it "isRelatedTo" and a tamper that is
    # its accessory sit beside it in the graph, a similar machine is nested; all in stock
    # and cheaper. The page's own machine is sold out.
    assert (record.title, record.sku) == ("Northwind Espresso Machine EM-5", "NW-EM5")
    assert (record.current_price, record.in_stock, record.availability) == (
        449.0,
        False,
        "out_of_stock",
    )
    assert len(record.offers) == 1


def test_related_products_lose_without_the_page_url_too(page: Page) -> None:
    record = parse_page(page("jsonld_related_products.html"))  # canonical and h1 decide
    assert record.title == "Northwind Espresso Machine EM-5"


def test_h1_picks_between_two_top_level_products() -> None:
    block = (
        '<script type="application/ld+json">{{"@type": "Product", "name": "{name}", '
        '"offers": {{"price": "{price}", "priceCurrency": "EUR"}}}}</script>'
    )
    html = (
        block.format(name="Sponsored Kettle", price="9.00")
        + block.format(name="Fjord Toaster", price="29.00")
        + "<h1>Fjord Toaster</h1>"
    )
    assert parse_page(html).current_price == 29.0


def test_graph_references_by_id_are_followed() -> None:
    html = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": ['
        '{"@type": "WebPage", "mainEntity": {"@id": "#p"}},'
        '{"@type": "Product", "@id": "#other", "name": "Other", "offers": {"price": 1}},'
        '{"@type": "Product", "@id": "#p", "name": "Mine", "offers": {"@id": "#o"}},'
        '{"@type": "Offer", "@id": "#o", "price": "12.00", "priceCurrency": "GBP"}]}</script>'
    )
    record = parse_page(html)
    assert (record.title, record.current_price, record.currency) == ("Mine", 12.0, "GBP")
