from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.registry import PRODUCT_SOURCES, SOURCE_NAMES, parse_document


def test_names() -> None:
    assert SOURCE_NAMES == ("shopify", "jsonld", "walmart", "amazon_reviews")
    assert set(PRODUCT_SOURCES) < set(SOURCE_NAMES)


@pytest.mark.parametrize(
    ("source", "name", "key", "value"),
    [
        ("shopify", "shopify_product.json", "current_price", 36.0),
        ("jsonld", "jsonld_graph.html", "currency", "GBP"),
        ("walmart", "walmart_item.html", "item_id", "19667262713"),
        ("amazon_reviews", "amazon_de_reviews.html", "asin", "B07XJ8C8F5"),
    ],
)
def test_parse_document_returns_json_ready_dicts(
    page: Callable[[str], str], source: str, name: str, key: str, value: object
) -> None:
    result = parse_document(source, page(name), url=None)
    assert isinstance(result, dict) and result[key] == value


def test_unknown_source_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        parse_document("ebay", "<html></html>")
