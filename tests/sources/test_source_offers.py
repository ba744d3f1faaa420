"""Several offers, stock states one level down, identifiers per offer, hostile prices."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.jsonld import parse_page
from sources.record import ProductRecord

Page = Callable[[str], str]


def test_buyer_gets_the_cheapest_new_offer_in_stock(page: Page) -> None:
    record = parse_page(page("jsonld_several_offers.html"))
    # Used 149.00, new-but-sold-out 179.00 and refurbished 189.90 are cheaper; 199.99 is
    # the cheapest new offer a buyer can order.
    assert (record.current_price, record.currency, record.seller_name) == (
        199.99,
        "EUR",
        "technikhalle",
    )
    assert (record.in_stock, record.availability) == (True, "in_stock")
    assert [o.seller_name for o in record.offers] == [
        "Zweite Runde Elektronik",
        "Klangwerk24",
        "ReNew Tech",
        "Hifi Kontor",
        "technikhalle",
    ]
    assert [o.is_buybox for o in record.offers] == [False, False, False, False, True]
    assert [o.condition for o in record.offers] == ["used", "new", "refurbished", "new", "new"]
    assert record.secondary_offer_price == 149.0
    assert record.offers[-1].shipping_price == 0.0


def test_when_nothing_is_in_stock_new_and_cheapest_still_wins() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", "offers": ['
        '{"price": 5, "priceCurrency": "EUR", "itemCondition": "UsedCondition",'
        ' "availability": "OutOfStock"},'
        '{"price": 9, "priceCurrency": "EUR", "availability": "SoldOut"},'
        '{"price": 7, "priceCurrency": "EUR", "availability": "OutOfStock"}]}</script>'
    )
    record = parse_page(html)
    assert (record.current_price, record.in_stock, record.availability) == (
        7.0,
        False,
        "out_of_stock",
    )


def test_aggregate_offer_without_availability_takes_its_nested_offers(page: Page) -> None:
    record = parse_page(page("jsonld_aggregate_nested.html"))
    assert (record.current_price, record.currency) == (24.95, "EUR")
    assert (record.in_stock, record.availability) == (True, "in_stock")
    assert record.seller_name == "Flessenhuis"
    assert len(record.offers) == 3 and all(o.currency == "EUR" for o in record.offers)


def test_aggregate_offer_alone_reads_stock_from_nested_offers_without_prices() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", "offers": '
        '{"@type": "AggregateOffer", "lowPrice": "10.00", "priceCurrency": "USD", "offers": ['
        '{"@type": "Offer", "availability": "https://schema.org/InStock"},'
        '{"@type": "Offer", "availability": "https://schema.org/InStock"}]}}</script>'
    )
    record = parse_page(html)
    assert (record.current_price, record.in_stock, record.availability) == (
        10.0,
        True,
        "in_stock",
    )


def test_microdata_offers_inside_an_aggregate_offer(page: Page) -> None:
    record = parse_page(page("microdata_aggregate_offers.html"), url="https://pricetrail.example/")
    # Summit Supply's 64.99 is sold out; Base Camp Co's 71.50 is what a buyer gets.
    assert (record.current_price, record.currency, record.seller_name) == (
        71.5,
        "USD",
        "Base Camp Co",
    )
    assert (record.in_stock, record.availability) == (True, "in_stock")
    assert [o.availability for o in record.offers] == ["in_stock", "out_of_stock", "in_stock"]
    assert record.provenance["current_price"] == "microdata"


def test_discontinued_offer_with_empty_price_keeps_its_availability(page: Page) -> None:
    record = parse_page(page("jsonld_discontinued.html"))
    assert record.current_price is None
    assert (record.in_stock, record.availability) == (False, "discontinued")
    assert record.provenance["availability"] == "jsonld"


def test_protocol_relative_preorder_is_not_in_stock(page: Page) -> None:
    record = parse_page(page("jsonld_preorder.html"))
    assert (record.current_price, record.currency) == (1199.0, "USD")
    assert (record.in_stock, record.availability) == (False, "preorder")
    assert record.offers[0].availability == "preorder"


def test_identifiers_given_per_offer_fill_the_product(page: Page) -> None:
    record = parse_page(page("jsonld_offer_identifiers.html"))
    assert (record.sku, record.mpn, record.ean) == ("CF-ACME-BV15-R", "BV15-R", "8412345678905")
    assert record.gtin == "08412345678905"
    assert [(o.sku, o.gtin) for o in record.offers] == [
        ("CF-ACME-BV15-R", "8412345678905"),
        ("CF-ACME-BV15-N", "96385074"),
    ]


def test_nan_infinite_negative_and_absurd_prices_are_no_prices(page: Page) -> None:
    record = parse_page(page("jsonld_hostile_values.html"))
    # NaN, "Infinity", -5, "1e15" and 10**12 offers are dropped; Open Graph's -5.00 too.
    assert (record.current_price, record.in_stock) == (24.99, False)
    assert [o.price for o in record.offers] == [24.99]


@pytest.mark.parametrize("bad", ["NaN", "-1", "1e12", '"-3,50"', '"Infinity"'])
def test_a_page_with_only_unusable_prices_has_no_price(bad: str) -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", '
        f'"offers": {{"price": {bad}, "priceCurrency": "USD"}}}}</script>'
    )
    record = parse_page(html)
    assert record.current_price is None and record.offers == []


def test_giant_title_and_description_are_capped() -> None:
    title, body = "Mega " * 50_000, "word " * 400_000
    html = (
        f'<script type="application/ld+json">{{"@type": "Product", "name": "{title}", '
        f'"description": "{body}", "offers": {{"price": "1.00"}}}}</script>'
    )
    record = parse_page(html)
    assert record.title is not None and len(record.title) <= 1_000
    assert record.description is not None and len(record.description) <= 10_000
    assert record.title.endswith("\u2026")


def test_record_dict_carries_the_new_fields() -> None:
    data = ProductRecord(source="t").to_dict()
    assert data["availability"] is None and data["provenance"] == {}
    assert data["rating_scale"] is None


def test_deeply_nested_markup_and_page_state_do_not_break_the_parser() -> None:
    deep = "[" * 900 + "]" * 900
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", '
        f'"isRelatedTo": {deep}, "offers": {{"price": "2.00"}}}}</script>'
        f"<script>window.__INITIAL_STATE__ = {deep};</script>"
        f'<script id="__NEXT_DATA__" type="application/json">{deep}</script>'
    )
    record = parse_page(html)
    assert (record.title, record.current_price) == ("X", 2.0)
