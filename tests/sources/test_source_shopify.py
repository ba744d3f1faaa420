from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.record import ParseError, PermanentSourceError
from sources.shopify import js_url, json_url, parse


def test_json_url_keeps_prefix_and_strips_query_and_variant() -> None:
    assert json_url("https://fjord.example/products/merino-wool-beanie?variant=4201#x") == (
        "https://fjord.example/products/merino-wool-beanie.json"
    )
    assert json_url("http://127.0.0.1:8900/shops/demo/products/x") == (
        "http://127.0.0.1:8900/shops/demo/products/x.json"
    )
    assert json_url("https://fjord.example/collections/hats/products/beanie.js") == (
        "https://fjord.example/collections/hats/products/beanie.json"
    )
    assert (
        js_url("https://fjord.example/products/beanie/")
        == "https://fjord.example/products/beanie.js"
    )


def test_json_url_refuses_non_product_urls() -> None:
    with pytest.raises(PermanentSourceError):
        json_url("https://fjord.example/collections/hats")


def test_json_shape(page: Callable[[str], str]) -> None:
    record = parse(
        page("shopify_product.json"), url="https://fjord.example/products/merino-wool-beanie"
    )
    assert record.source == "shopify" and record.item_id == "7391842123845"
    assert (record.title, record.brand, record.categories) == (
        "Merino Wool Beanie",
        "Fjord Knitwear",
        ["Hats"],
    )
    # Charcoal (first) has no stock, so the orderable Navy variant is the product's price.
    assert (record.sku, record.current_price, record.in_stock, record.msrp) == (
        "FJ-BEAN-NAVY",
        36.0,
        True,
        None,
    )
    assert record.weight_lbs == pytest.approx(0.1875, abs=0.001)
    assert record.description.startswith("Soft, warm & itch-free. Knitted in Portugal")
    assert "<" not in record.description
    assert record.image_url.startswith("https://cdn.shopify.com/")


def test_json_shape_selected_variant_from_url(page: Callable[[str], str]) -> None:
    record = parse(
        page("shopify_product.json"),
        url="https://fjord.example/products/merino-wool-beanie?variant=42012345678901",
    )
    assert (record.sku, record.current_price, record.msrp, record.in_stock) == (
        "FJ-BEAN-CHAR",
        34.0,
        45.0,
        False,
    )
    assert (record.ean, record.gtin) == ("5901234123457", "05901234123457")


def test_js_shape_prices_are_cents(page: Callable[[str], str]) -> None:
    record = parse(page("shopify_product.js"))
    assert (record.current_price, record.sku, record.in_stock) == (36.0, "FJ-BEAN-NAVY", True)
    assert (
        record.image_url
        == "https://fjord-knit.myshopify.com/cdn/shop/products/beanie-charcoal.jpg?v=1694703751"
    )
    assert record.weight_lbs == pytest.approx(0.187, abs=0.001)
    assert record.categories == ["Hats"] and record.description == "Soft, warm & itch-free."


@pytest.mark.parametrize(
    "junk", ["", "<html></html>", '{"products": []}', '{"product": {"id": 1, "title": "Trunc']
)
def test_junk_is_a_parse_error(junk: str) -> None:
    with pytest.raises(ParseError):
        parse(junk)


def test_provenance_and_availability_name_the_shape(page: Callable[[str], str]) -> None:
    from_json = parse(page("shopify_product.json"))
    from_js = parse(page("shopify_product.js"))
    assert set(from_json.provenance.values()) == {"shopify_json"}
    assert set(from_js.provenance.values()) == {"shopify_js"}
    assert from_json.provenance["current_price"] == "shopify_json"
    assert from_json.availability == ("in_stock" if from_json.in_stock else "out_of_stock")
