"""The built-in sources by name, and parsing a saved page with one of them."""

from __future__ import annotations

from typing import Any

from sources import amazon_reviews, jsonld, shopify, walmart

SOURCE_NAMES = ("shopify", "jsonld", "walmart", "amazon_reviews")
PRODUCT_SOURCES = ("shopify", "jsonld", "walmart")


def parse_document(source: str, text: str, url: str | None = None) -> dict[str, Any]:
    """The normalized record (product, or page of reviews) `source` makes of `text`."""
    if source == "shopify":
        return shopify.parse(text, url=url).to_dict()
    if source == "jsonld":
        return jsonld.parse_page(text, url=url).to_dict()
    if source == "walmart":
        return walmart.parse_page(text, url=url).to_dict()
    if source == "amazon_reviews":
        return amazon_reviews.parse_page(text, url=url).to_dict()
    raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCE_NAMES)}")
